"""Entry point of the SSD scan: one signature, two implementations."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .backend import mamba_chunk_scan, resolve_backend
from .ssd_torch import ssd_chunked_torch

# Chunk size of the pure-PyTorch path. With the factored intra-chunk form (ssd_torch.py) the
# work per time step is about (chunk + 2 * d_state) multiply-adds per head channel, and
# longer chunks mean fewer, larger batched products and fewer chunk states to pass on:
# - CPU: 64. 32, 64 and 128 train about equally fast (docs/performance.md); 64 halves to
#   32 on its own where decays are strong.
# - CUDA: 128, so that the batched products fill the GPU.
# The factored form halves the chunk where a chunk's total decay is too large (see
# FACTORED_MAX_LOG_RANGE), so the chunk actually used can be smaller.
TORCH_CHUNK_SIZE = {"cpu": 64, "cuda": 128}


def torch_chunk_size(device: torch.device | str, requested: int | None = None) -> int:
    """Chunk size the pure-PyTorch scan uses on ``device`` (``requested`` wins if given)."""
    if requested is not None:
        return int(requested)
    return TORCH_CHUNK_SIZE.get(torch.device(device).type, 64)


@torch.compiler.disable
def _mamba_scan(*args, **kwargs):
    # opaque to torch.compile, which compiles the layers around it: Dynamo does not follow
    # mamba-ssm's Triton launchers
    return mamba_chunk_scan()(*args, **kwargs)


def ssd_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int = 256,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = (0.0, math.inf),
    initial_states: Tensor | None = None,
    return_final_states: bool = False,
    backend: str = "auto",
    torch_chunk: int | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Mamba-2 SSD scan on any device.

    Parameters
    ----------
    x : Tensor, shape (batch, length, nheads, headdim)
    dt : Tensor, shape (batch, length, nheads)
    A : Tensor, shape (nheads,)
    B, C : Tensor, shape (batch, length, ngroups, d_state)
    chunk_size : int
        Chunk size of the mamba-ssm kernel (256 as in ``mamba_ssm.Mamba2``).
    D : Tensor, shape (nheads,) or (nheads, headdim), optional
    z : Tensor, shape (batch, length, nheads, headdim), optional
    dt_bias : Tensor, shape (nheads,), optional
    dt_softplus : bool
    dt_limit : tuple of float
    initial_states : Tensor, shape (batch, nheads, headdim, d_state), optional
    return_final_states : bool
    backend : {"auto", "torch", "mamba_ssm"}
        See :func:`eegm2_sklearn.ops.resolve_backend`.
    torch_chunk : int, optional
        Chunk size of the PyTorch path; by default chosen per device
        (:data:`TORCH_CHUNK_SIZE`). Results do not depend on it beyond rounding.

    Returns
    -------
    y : Tensor, shape (batch, length, nheads, headdim)
    final_states : Tensor, shape (batch, nheads, headdim, d_state)
        Only with ``return_final_states=True``.

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.ops import ssd_scan
    >>> b, l, h, p, n = 2, 100, 4, 8, 16
    >>> y = ssd_scan(torch.randn(b, l, h, p), torch.rand(b, l, h), -torch.rand(h),
    ...              torch.randn(b, l, 1, n), torch.randn(b, l, 1, n))
    >>> tuple(y.shape)
    (2, 100, 4, 8)
    """
    kwargs = dict(
        D=D,
        z=z,
        dt_bias=dt_bias,
        dt_softplus=dt_softplus,
        dt_limit=dt_limit,
        initial_states=initial_states,
        return_final_states=return_final_states,
    )
    if resolve_backend(backend, x.device) == "mamba_ssm":
        return _mamba_scan(x, dt, A, B, C, chunk_size, **kwargs)
    return ssd_chunked_torch(x, dt, A, B, C, torch_chunk_size(x.device, torch_chunk), **kwargs)
