"""Keep freed CPU memory inside the process, so that large tensors do not page-fault.

glibc's ``malloc`` serves every request above a threshold (at most 32 MiB, often far less)
with a fresh ``mmap`` and gives it back with ``munmap`` on free. A training step of EEGM2
allocates and frees hundreds of such buffers (a ``(32, 512, 1064)`` float32 tensor is
70 MB), so the kernel zero-fills and maps new pages on every step, a large share of a
CPU training step (see the performance page of the documentation). Serving large
blocks from the heap and never trimming it removes that cost; the price is that the
process keeps its peak memory until it ends, which is what GPU caching allocators do too.

Nothing here runs at import. The estimators train on the CPU inside
:func:`cpu_training_allocator`, which applies the setting for the duration of ``fit`` and
then gives the kept memory back (``malloc_trim``); set the environment variable
``EEGM2_CPU_ALLOCATOR=default`` to train with glibc's settings untouched. For a whole
program, call :func:`tune_cpu_allocator` once, early (the same effect as starting Python
with ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import platform
import threading
from collections.abc import Iterator

__all__ = ["ALLOCATOR_ENV", "cpu_training_allocator", "tune_cpu_allocator"]

# mallopt parameter numbers from glibc's <malloc.h>, and glibc's static defaults
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
# the settings a user may have made with glibc's own variables; then we leave them alone
_GLIBC_ENV = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
              "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")  # fmt: skip

#: Environment variable: ``"default"`` keeps glibc's settings during the estimators' fit.
ALLOCATOR_ENV = "EEGM2_CPU_ALLOCATOR"

_state = {"process_tuned": False, "depth": 0}
_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def tune_cpu_allocator() -> bool:
    """Serve large CPU tensors from the heap and keep freed memory for reuse.

    Process-wide and irreversible for the life of the process; only glibc (Linux) is
    affected, elsewhere it does nothing.

    Returns
    -------
    applied : bool
        ``True`` if glibc accepted both settings.

    Examples
    --------
    >>> from eegm2_sklearn.training import tune_cpu_allocator
    >>> isinstance(tune_cpu_allocator(), bool)
    True
    """
    applied = _apply()
    _state["process_tuned"] = _state["process_tuned"] or applied
    return applied


def _apply() -> bool:
    libc = _libc()
    if libc is None:
        return False
    ok_trim = libc.mallopt(_M_TRIM_THRESHOLD, _INT_MAX)
    ok_mmap = libc.mallopt(_M_MMAP_MAX, 0)
    return bool(ok_trim and ok_mmap)


def _restore() -> None:
    libc = _libc()
    libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
    libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
    libc.malloc_trim(0)  # give the memory kept during training back to the system


@contextlib.contextmanager
def cpu_training_allocator(enabled: bool = True) -> Iterator[bool]:
    """Apply :func:`tune_cpu_allocator`'s setting inside the block, then undo it.

    On leaving the outermost such block glibc's static defaults come back and the memory
    kept meanwhile is returned (``malloc_trim``). Nothing changes where it does not apply:
    ``enabled=False``, not glibc, :func:`tune_cpu_allocator` already called (the process
    keeps its setting), glibc's own ``MALLOC_*`` variables or ``GLIBC_TUNABLES`` set, or
    ``EEGM2_CPU_ALLOCATOR=default``. Blocks nest (a classifier's ``fit`` that pretrains).
    One side effect outlasts the block: glibc stops adapting its ``mmap`` threshold to the
    program once any of these settings has been made, and keeps the static 128 KiB.

    Parameters
    ----------
    enabled : bool
        ``False`` makes the block a no-op (the estimators pass whether they train on the CPU).

    Yields
    ------
    applied : bool
        Whether the setting is in force inside the block.

    Examples
    --------
    >>> from eegm2_sklearn.training import cpu_training_allocator
    >>> with cpu_training_allocator() as applied:
    ...     isinstance(applied, bool)
    True
    """
    wanted = (
        enabled
        and not _state["process_tuned"]
        and os.environ.get(ALLOCATOR_ENV, "").strip().lower() != "default"
        and not any(os.environ.get(name) for name in _GLIBC_ENV)
    )
    with _lock:
        applied = wanted and (_state["depth"] > 0 or _apply())
        if applied:
            _state["depth"] += 1
    try:
        yield applied
    finally:
        if applied:
            with _lock:
                _state["depth"] -= 1
                if _state["depth"] == 0 and not _state["process_tuned"]:
                    _restore()
