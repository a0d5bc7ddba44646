"""Choice between the pure-PyTorch SSD scan and mamba-ssm's Triton kernel.

mamba-ssm is imported lazily, the first time a scan on CUDA tensors asks for it, never at
package import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from ..validation import check_option

BACKENDS = ("auto", "torch", "mamba_ssm")

_INSTALL_HINT = (
    "Install the GPU extra with `pip install 'eegm2_sklearn[cuda]'` (it needs an NVIDIA GPU, "
    "Triton and a CUDA build of torch), or use backend='auto' or backend='torch'."
)


@functools.lru_cache(maxsize=1)
def _load_mamba_ssm() -> tuple[Callable | None, str | None]:
    """Return ``(mamba_chunk_scan_combined, None)`` or ``(None, reason)``."""
    try:
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except Exception as err:  # ImportError, or a broken CUDA/Triton install
        return None, f"{type(err).__name__}: {err}"
    return mamba_chunk_scan_combined, None


def mamba_ssm_available() -> bool:
    """Whether mamba-ssm's Triton SSD kernel can be imported here.

    Returns
    -------
    available : bool

    Examples
    --------
    >>> from eegm2_sklearn.ops import mamba_ssm_available
    >>> isinstance(mamba_ssm_available(), bool)
    True
    """
    return _load_mamba_ssm()[0] is not None


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """Decide which implementation runs a scan on ``device``.

    Parameters
    ----------
    backend : {"auto", "torch", "mamba_ssm"}
        ``"auto"`` picks ``"mamba_ssm"`` for CUDA tensors when mamba-ssm imports, else
        ``"torch"``.
    device : torch.device or str
        Device of the tensors.

    Returns
    -------
    backend : {"torch", "mamba_ssm"}

    Raises
    ------
    ValueError
        If ``backend`` is not one of the allowed names, or ``"mamba_ssm"`` cannot run here.

    Examples
    --------
    >>> from eegm2_sklearn.ops import resolve_backend
    >>> resolve_backend("auto", "cpu")
    'torch'
    """
    check_option("backend", backend, BACKENDS)
    device = torch.device(device)
    if backend == "torch":
        return "torch"
    if backend == "auto":
        return "mamba_ssm" if device.type == "cuda" and mamba_ssm_available() else "torch"
    fn, reason = _load_mamba_ssm()
    if fn is None:
        raise ValueError(
            f"backend='mamba_ssm' was requested but mamba-ssm cannot be imported ({reason}). "
            + _INSTALL_HINT
        )
    if device.type != "cuda":
        raise ValueError(
            f"backend='mamba_ssm' runs only on CUDA tensors; these are on {device}. Move the "
            "model and data to a GPU (device='cuda') or use backend='auto' or 'torch'."
        )
    return "mamba_ssm"


@functools.lru_cache(maxsize=1)
def fused_gated_rmsnorm() -> Callable | None:
    """mamba-ssm's Triton gated RMSNorm (``rmsnorm_fn``), or ``None`` where it cannot load.

    Same maths as :class:`eegm2_sklearn.models.mamba2.GatedRMSNorm`, in one fused kernel
    for the forward and one for the backward pass (CUDA tensors only). mamba-ssm's own
    ``Mamba2`` normalises with it.
    """
    try:
        from mamba_ssm.ops.triton.layernorm_gated import rmsnorm_fn
    except Exception:  # ImportError, or a broken CUDA/Triton install
        return None
    return rmsnorm_fn


def mamba_chunk_scan() -> Callable:
    """The imported ``mamba_chunk_scan_combined`` (call :func:`resolve_backend` first)."""
    fn, reason = _load_mamba_ssm()
    if fn is None:
        raise ValueError(f"mamba-ssm cannot be imported ({reason}). " + _INSTALL_HINT)
    return fn
