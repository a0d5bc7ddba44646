"""Keep freed CPU memory inside the process, so that large tensors do not page-fault.

glibc's ``malloc`` serves every request above a threshold (at most 32 MiB, often far less)
with a fresh ``mmap`` and gives it back with ``munmap`` on free. A training step of EEGM2
allocates and frees hundreds of such buffers (a ``(32, 512, 1064)`` float32 tensor is
70 MB), so the kernel zero-fills and maps new pages on every step, a large share of a
CPU training step (see the performance page of the documentation). Serving large
blocks from the heap and never trimming it removes that cost; the price is that the
process keeps its peak memory until it ends, which is what GPU caching allocators do too.

Nothing here runs at import: call :func:`tune_cpu_allocator` once, early, in programs
that train on the CPU (the same effect as starting Python with the environment variables
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

__all__ = ["tune_cpu_allocator"]

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
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
    libc = _libc()
    if libc is None:
        return False
    ok_trim = libc.mallopt(_M_TRIM_THRESHOLD, _INT_MAX)
    ok_mmap = libc.mallopt(_M_MMAP_MAX, 0)
    return bool(ok_trim and ok_mmap)
