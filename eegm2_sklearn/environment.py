"""What this installation runs on: :func:`sys_info`, and braindecode imported with a clear error.

braindecode imports torchaudio at import time, and a torchaudio binary loads only beside
the torch release it was built for. Everything of this package that works on arrays and MNE
objects therefore imports braindecode lazily, through :func:`import_braindecode`, which
turns a failed load into an :class:`ImportError` naming the installed versions and the
command that fixes them.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import warnings
from importlib import metadata

#: The command that installs a torch/torchaudio pair known to load together.
FIX_COMMAND = 'pip install "torch==2.14.1" "torchaudio==2.11.0"'

#: Distributions that :func:`sys_info` reports, in its order.
REPORTED = (
    "torch",
    "torchaudio",
    "braindecode",
    "mne",
    "skorch",
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "safetensors",
    "pyriemann",
    "mamba-ssm",
    "triton",
)


def installed_version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None when it is not installed.

    Examples
    --------
    >>> installed_version("numpy") is not None
    True
    >>> installed_version("no-such-distribution") is None
    True
    """
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def torchaudio_problem() -> str | None:
    """Why torchaudio cannot be used beside this torch, or None when it loads.

    Imports torchaudio (and its compiled library); the answer is cached by Python's
    import system, so a second call costs nothing.

    Examples
    --------
    >>> torchaudio_problem() is None or isinstance(torchaudio_problem(), str)
    True
    """
    try:
        importlib.import_module("torchaudio")
        importlib.import_module("torchaudio.functional")
    except Exception as err:  # OSError (undefined symbol), ImportError, RuntimeError
        return f"{type(err).__name__}: {_first_line(err)}"
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def import_braindecode(module: str = "braindecode"):
    """Import ``module`` of braindecode, or raise an ImportError that says how to fix it.

    MNE's log and a deprecation notice that braindecode's import triggers are silenced.

    Parameters
    ----------
    module : str
        A braindecode module, e.g. ``"braindecode.preprocessing"``.

    Returns
    -------
    module : module

    Raises
    ------
    ImportError
        When braindecode is not installed, or when it (through torchaudio) cannot load
        beside the installed torch; the message names the installed torch, torchaudio and
        braindecode versions and the command that installs a matching pair.

    Examples
    --------
    >>> preprocessing = import_braindecode("braindecode.preprocessing")
    >>> hasattr(preprocessing, "create_fixed_length_windows")
    True
    """
    import mne

    try:
        with warnings.catch_warnings(), mne.utils.use_log_level("error"):
            warnings.filterwarnings("ignore", message="Montage name", category=FutureWarning)
            return importlib.import_module(module)
    except Exception as err:
        raise ImportError(braindecode_failure_message(err)) from err


def braindecode_failure_message(err: BaseException) -> str:
    """The message of :func:`import_braindecode`'s ImportError for the error ``err``."""
    versions = ", ".join(
        f"{d} {installed_version(d) or 'not installed'}"
        for d in ("torch", "torchaudio", "braindecode")
    )
    if installed_version("braindecode") is None:
        return (
            "This needs braindecode, which is not installed. Install it with "
            '`pip install "braindecode>=1.8,<1.9"`, or pass arrays or mne.Epochs instead.'
        )
    problem = torchaudio_problem()
    if problem is not None:
        return (
            f"braindecode could not be imported because torchaudio does not load beside the "
            f"installed torch ({versions}; torchaudio says {problem}). A torchaudio binary "
            f"loads only beside the torch release it was built for: install a matching pair "
            f"with `{FIX_COMMAND}`. Arrays and mne.Epochs work without braindecode."
        )
    return (
        f"braindecode could not be imported ({versions}): {type(err).__name__}: "
        f"{_first_line(err)}. Reinstall it with `pip install --force-reinstall "
        f'"braindecode>=1.8,<1.9"`, or pass arrays or mne.Epochs instead.'
    )


def _cpu_threads() -> str:
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return f"{usable} usable, torch uses {torch.get_num_threads()}"


def _torch_line() -> str:
    import torch

    cuda = torch.version.cuda
    built = f"CUDA {cuda}" if cuda else "CPU build"
    return f"{torch.__version__} ({built}, CUDA available: {torch.cuda.is_available()})"


def _gpus() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        out.append(f"cuda:{i} {props.name}, {props.total_memory / 2**30:.0f} GiB")
    return out


def _mamba_line() -> str:
    from .ops import mamba_ssm_available

    version = installed_version("mamba-ssm") or installed_version("mamba_ssm")
    if version is None:
        return "not installed (optional: pip install 'eegm2_sklearn[cuda]')"
    kernels = "kernels import" if mamba_ssm_available() else "kernels do not import"
    return f"{version} ({kernels})"


def sys_info_lines() -> list[tuple[str, str]]:
    """The rows of :func:`sys_info` as ``(name, value)`` pairs.

    Examples
    --------
    >>> dict(sys_info_lines())["numpy"] != ""
    True
    """
    from . import __version__
    from .ops import resolve_backend

    rows = [
        ("eegm2_sklearn", __version__),
        ("Python", sys.version.split()[0] + f" ({sys.executable})"),
        ("Platform", platform.platform()),
        ("CPU threads", _cpu_threads()),
        ("torch", _torch_line()),
    ]
    audio = installed_version("torchaudio")
    if audio is None:
        rows.append(("torchaudio", "not installed"))
    else:
        problem = torchaudio_problem()
        rows.append(("torchaudio", audio + (" (loads)" if problem is None else f" ({problem})")))
    for dist in REPORTED[2:]:
        if dist == "mamba-ssm":
            rows.append(("mamba-ssm", _mamba_line()))
        else:
            rows.append((dist, installed_version(dist) or "not installed"))
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows.append(("backend='auto'", f"{resolve_backend('auto', device)} (on {device})"))
    gpus = _gpus()
    rows.append(("GPUs", "; ".join(gpus) if gpus else "none visible"))
    return rows


def sys_info(fid=None) -> None:
    """Print the versions and hardware this installation runs on, like ``mne.sys_info()``.

    Lists Python, the platform, CPU threads, torch (and its CUDA), torchaudio (and whether
    it loads beside this torch), braindecode, MNE, skorch, scikit-learn, NumPy and the other
    dependencies, mamba-ssm (and whether its kernels import), the scan backend that
    ``backend="auto"`` picks here, and the visible GPUs. Include it in bug reports.

    Parameters
    ----------
    fid : file-like or None
        Where to write (default: standard output).

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> sys_info(buf)
    >>> "torchaudio" in buf.getvalue()
    True
    """
    fid = sys.stdout if fid is None else fid
    rows = sys_info_lines()
    width = max(len(name) for name, _ in rows) + 1
    for name, value in rows:
        print(f"{name + ':':<{width}} {value}", file=fid)
