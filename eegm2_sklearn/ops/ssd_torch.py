"""Chunked state space duality (SSD) scan of Mamba-2 in plain PyTorch.

This is the exact, device-agnostic twin of mamba-ssm's Triton kernel
``mamba_chunk_scan_combined``. It computes, for every head ``h`` with state
``S`` of shape ``(headdim, d_state)``::

    dt_t = softplus(dt_raw_t + dt_bias)            (optional, then clamped to dt_limit)
    S_t  = exp(dt_t * A) * S_{t-1} + dt_t * x_t B_t^T
    y_t  = S_t C_t + D * x_t                       (then y_t * silu(z_t) if z is given)

Instead of a sequential loop it follows the four steps of the SSD algorithm
(Dao and Gu, 2024, section 6) on chunks of ``chunk_size`` steps:

1. intra-chunk outputs: a masked, decayed ``C B^T`` matrix per chunk (quadratic in the chunk);
2. the state each chunk produces on its own;
3. inter-chunk recurrence that carries the states across chunks;
4. the contribution of the carried state to every output of the next chunk.

Two exact ways to do step 1 (``method``):

``"factored"`` (the fast default)
    Inside a chunk the log-decays ``cs_t`` (cumulative sums of ``dt * A``) fall
    monotonically, and the decay between positions ``s <= l`` factorises,
    ``exp(cs_l - cs_s) = exp(cs_l - m) * exp(m - cs_s)``, with ``m`` the middle of the
    chunk's range. The per-head ``(L, L)`` decay matrix then never exists: the input is
    scaled by ``exp(m - cs_s)``, multiplied by the masked ``C B^T`` that all heads of a
    group share (one large batched product per chunk), and the result is scaled by
    ``exp(cs_l - m)``. Both factors lie in ``[exp(-R/2), exp(R/2)]`` with ``R`` the
    chunk's total log-decay, so this is used only while ``R`` stays far from the
    overflow of the compute dtype (:data:`FACTORED_MAX_LOG_RANGE`); otherwise the chunk
    is halved, down to :data:`FACTORED_MIN_CHUNK`, before giving up on it.
``"quadratic"``
    The textbook form: the ``(L, L)`` decay matrix ``exp(segsum(dt * A))`` of every head,
    times ``C B^T``. Always safe, more memory and time. ``"auto"`` falls back to it when
    the factored form cannot be used, and uses it while ``torch.compile`` traces the scan
    or a CUDA graph records it: the factored form's range check reads a value back to the
    host, which neither allows (:func:`host_sync_allowed`).

Step 3 runs as a product with the segment-sum decay matrix of the chunks for up to
:data:`STATE_BLOCK` chunks, and blockwise (recursively) for more, so its cost stays
linear in the number of chunks.

The sequence is zero-padded on the right to a multiple of the chunk size. That is exact: the
scan is causal, and padded steps have ``dt = 0``, so they neither decay nor feed the state
(the final state is unchanged by them).

Precision: float64 inputs compute in float64; float32 and float16 in float32. bfloat16
inputs (as under CUDA autocast) run the large batched products in bfloat16 (the kernels
accumulate in float32) and everything else -- step sizes, log-decays, the exponentials,
``C B^T`` and the state recurrence -- in float32.

Shapes (``b`` batch, ``l`` length, ``h`` heads, ``p`` headdim, ``g`` groups, ``n`` d_state,
``c`` chunks, ``L``/``s`` positions inside a chunk, ``r`` heads per group)::

    x (b, l, h, p)   dt (b, l, h)   A (h,)   B, C (b, l, g, n)   D (h,) or (h, p)
    z (b, l, h, p)   initial_states / final_states (b, h, p, n)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..validation import check_option
from .state_passing import STATE_BLOCK, pass_states

__all__ = [
    "FACTORED_MAX_LOG_RANGE",
    "FACTORED_MIN_CHUNK",
    "METHODS",
    "STATE_BLOCK",
    "ssd_chunked_torch",
]

#: Ways to compute the intra-chunk term (see the module docstring).
METHODS = ("auto", "factored", "quadratic")

#: Largest total log-decay ``R`` of a chunk for which the factored form is used, per compute
#: dtype: its factors reach ``exp(R / 2)`` (float32: ``exp(60) ~ 1e26``, far below the
#: overflow at ``3e38`` even after multiplication by the inputs and summation).
FACTORED_MAX_LOG_RANGE = {torch.float32: 120.0, torch.float64: 1200.0}

#: The factored form halves its chunk while a chunk's log-decay is too large, down to this.
FACTORED_MIN_CHUNK = 8


def discretise_dt(
    dt: Tensor,
    dt_bias: Tensor | None,
    dt_softplus: bool,
    dt_limit: tuple[float, float],
) -> Tensor:
    if dt_bias is not None:
        dt = dt + dt_bias.to(dt.dtype)
    if dt_softplus:
        dt = F.softplus(dt)
    if dt_limit != (0.0, math.inf):
        dt = dt.clamp(min=dt_limit[0], max=dt_limit[1])
    return dt


def host_sync_allowed(x: Tensor) -> bool:
    """False while ``torch.compile`` traces or a CUDA graph records on ``x``'s device.

    Either cannot read a value back to the host, which the factored form's range check
    does, so ``method="auto"`` then uses the quadratic form (exact, more memory and time).
    """
    if torch.compiler.is_compiling():
        return False
    return not (x.is_cuda and torch.cuda.is_current_stream_capturing())


def _factored_chunk(dA: Tensor, chunk: int, dtype: torch.dtype) -> int | None:
    """Largest chunk ``<= chunk`` (halving) for which the factored form is safe, or ``None``."""
    limit = FACTORED_MAX_LOG_RANGE[dtype]
    batch, length, nheads = dA.shape
    while True:
        pad = (-length) % chunk
        per_chunk = F.pad(dA, (0, 0, 0, pad)).view(batch, -1, chunk, nheads).sum(2)
        if -float(per_chunk.min()) <= limit:
            return chunk
        if chunk <= FACTORED_MIN_CHUNK:
            return None
        chunk = max(chunk // 2, FACTORED_MIN_CHUNK)


def _ssd_factored(x, dt_c, dA, B_c, C_c, init, chunk, mm_dtype, cdt):
    """Intra-chunk term, chunk states and state passing with the factored decay.

    x (b, l, h, p), dt_c / dA (b, l, h), B_c / C_c (b, l, g, n), init (b, g, n, r, p) or None.
    Returns ``Y`` (b, l, h, p) *without* the ``exp(cs_l - m)`` output factor applied, that
    factor ``a`` (b, l, h), and the final state (b, g, n, r, p).
    """
    batch, length, nheads, headdim = x.shape
    ngroups, d_state = B_c.shape[-2:]
    r = nheads // ngroups
    pad = (-length) % chunk
    if pad:
        dt_c = F.pad(dt_c, (0, 0, 0, pad))
        dA = F.pad(dA, (0, 0, 0, pad))
        B_c = F.pad(B_c, (0, 0, 0, 0, 0, pad))
        C_c = F.pad(C_c, (0, 0, 0, 0, 0, pad))
    nc = (length + pad) // chunk
    cs = torch.cumsum(dA.view(batch, nc, chunk, nheads), dim=2)  # (b, c, L, h)
    half = 0.5 * cs[:, :, -1]  # m: middle of each chunk's log-decay range, (b, c, h)
    a = torch.exp(cs - half[:, :, None])  # exp(cs_l - m) in [e^{-R/2}, e^{R/2}]
    scale_in = dt_c.view(batch, nc, chunk, nheads) * torch.exp(half[:, :, None] - cs)
    scale_in = scale_in.reshape(batch, nc * chunk, nheads)[:, :length]
    # u_s = dt_s exp(m - cs_s) x_s: the only full-size tensor built before the products
    u = x.to(mm_dtype) * scale_in.to(mm_dtype)[..., None]
    if pad:
        u = F.pad(u, (0, 0, 0, 0, 0, pad))
    # (b, c, g, L, r p): heads of a group side by side, so one product serves them all
    u = u.view(batch, nc, chunk, ngroups, r * headdim).transpose(2, 3)
    Bt = B_c.view(batch, nc, chunk, ngroups, d_state).transpose(2, 3)  # (b, c, g, L, n)
    Ct = C_c.view(batch, nc, chunk, ngroups, d_state).transpose(2, 3)
    CB = torch.tril(Ct @ Bt.transpose(-1, -2))  # (b, c, g, L, L), causal
    Y = CB.to(mm_dtype) @ u  # (b, c, g, L, r p)

    # chunk states S_c = exp(m) * B^T u  (b, c, g, n, r, p), in the compute dtype
    e_half = torch.exp(half).view(batch, nc, ngroups, 1, r, 1)
    S = (Bt.transpose(-1, -2).to(mm_dtype) @ u).to(cdt).view(batch, nc, ngroups, d_state, r, -1)
    S = S * e_half
    # inter-chunk recurrence over c, in the layout (b, g, r, c, n p)
    S = S.permute(0, 2, 4, 1, 3, 5).reshape(batch, ngroups, r, nc, d_state * headdim)
    log_decay = (2.0 * half).view(batch, nc, ngroups, r).permute(0, 2, 3, 1)  # (b, g, r, c)
    if init is None:
        init = S.new_zeros(batch, ngroups, r, d_state * headdim)
    else:
        init = init.permute(0, 1, 3, 2, 4).reshape(batch, ngroups, r, d_state * headdim)
    H = pass_states(S, log_decay, init)  # (b, g, r, c+1, n p)
    final = H[..., -1, :].view(batch, ngroups, r, d_state, headdim)
    # entering states, scaled by exp(m), back to (b, c, g, n, r p)
    H = H[..., :-1, :].view(batch, ngroups, r, nc, d_state, headdim)
    H = H.permute(0, 3, 1, 4, 2, 5) * e_half
    H = H.reshape(batch, nc, ngroups, d_state, r * headdim).to(mm_dtype)
    # Y += C H: what the entering state adds to every output of its chunk
    Y = torch.baddbmm(
        Y.reshape(-1, chunk, r * headdim),
        Ct.to(mm_dtype).reshape(-1, chunk, d_state),
        H.reshape(-1, d_state, r * headdim),
    )
    Y = Y.view(batch, nc, ngroups, chunk, r, headdim).transpose(2, 3)
    Y = Y.reshape(batch, nc * chunk, nheads, headdim)[:, :length]
    a = a.reshape(batch, nc * chunk, nheads)[:, :length]
    return Y, a, final


def _ssd_quadratic(x, dt_c, dA, B_c, C_c, init, chunk, cdt):
    """Textbook SSD with the per-head ``(L, L)`` decay matrices (always safe)."""
    batch, length, nheads, headdim = x.shape
    ngroups, d_state = B_c.shape[-2:]
    r = nheads // ngroups
    x_c = x.to(cdt)
    pad = (-length) % chunk
    if pad:
        x_c = F.pad(x_c, (0, 0, 0, 0, 0, pad))
        B_c = F.pad(B_c, (0, 0, 0, 0, 0, pad))
        C_c = F.pad(C_c, (0, 0, 0, 0, 0, pad))
        dt_c = F.pad(dt_c, (0, 0, 0, pad))  # dt = 0: no decay, no input
        dA = F.pad(dA, (0, 0, 0, pad))
    nc = (length + pad) // chunk
    cs = chunk

    xdt = (x_c * dt_c[..., None]).view(batch, nc, cs, ngroups, r, headdim)
    B_c = B_c.view(batch, nc, cs, ngroups, d_state)
    C_c = C_c.view(batch, nc, cs, ngroups, d_state)
    dA = dA.view(batch, nc, cs, ngroups, r).permute(0, 1, 3, 4, 2)  # (b, c, g, r, L)
    dA_cs = torch.cumsum(dA, dim=-1)

    CB = torch.einsum("bclgn,bcsgn->bcgls", C_c, B_c)  # (b, c, g, L, L)
    causal = torch.tril(torch.ones(cs, cs, dtype=torch.bool, device=x.device))
    seg = dA_cs[..., :, None] - dA_cs[..., None, :]  # (b, c, g, r, L, L)
    decay = torch.exp(seg.masked_fill(~causal, -math.inf))
    M = CB[:, :, :, None] * decay
    y = torch.einsum("bcgrls,bcsgrp->bclgrp", M, xdt)  # (b, c, L, g, r, p)

    decay_to_end = torch.exp(dA_cs[..., -1:] - dA_cs)  # (b, c, g, r, L)
    states = torch.einsum("bcsgn,bcgrs,bcsgrp->bgrcnp", B_c, decay_to_end, xdt)
    states = states.reshape(batch, ngroups, r, nc, d_state * headdim)
    if init is None:
        init = states.new_zeros(batch, ngroups, r, d_state * headdim)
    else:
        init = init.permute(0, 1, 3, 2, 4).reshape(batch, ngroups, r, d_state * headdim)
    H = pass_states(states, dA_cs[..., -1].permute(0, 2, 3, 1), init)  # (b, g, r, c+1, n p)
    final = H[..., -1, :].view(batch, ngroups, r, d_state, headdim)
    H = H[..., :-1, :].view(batch, ngroups, r, nc, d_state, headdim)
    y = y + torch.einsum("bclgn,bgrcnp,bcgrl->bclgrp", C_c, H, torch.exp(dA_cs))
    y = y.reshape(batch, nc * cs, nheads, headdim)[:, :length]
    return y, final


def ssd_chunked_torch(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = (0.0, math.inf),
    initial_states: Tensor | None = None,
    return_final_states: bool = False,
    *,
    method: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """Run the Mamba-2 selective scan with the chunked SSD algorithm.

    Same arguments and results as mamba-ssm's ``mamba_chunk_scan_combined``.

    Parameters
    ----------
    x : Tensor, shape (batch, length, nheads, headdim)
        Inputs of the scan.
    dt : Tensor, shape (batch, length, nheads)
        Step sizes before ``dt_bias``/softplus.
    A : Tensor, shape (nheads,)
        Negative continuous-time decay rates.
    B, C : Tensor, shape (batch, length, ngroups, d_state)
        Input and output projections; ``nheads`` must be a multiple of ``ngroups``.
    chunk_size : int
        Positions per chunk. Any value gives the same result up to rounding; it trades the
        ``chunk_size ** 2`` intra-chunk matrix against the number of chunks.
    D : Tensor, shape (nheads,) or (nheads, headdim), optional
        Skip connection.
    z : Tensor, shape (batch, length, nheads, headdim), optional
        Gate: the output is multiplied by ``silu(z)``.
    dt_bias : Tensor, shape (nheads,), optional
    dt_softplus : bool
    dt_limit : tuple of float
    initial_states : Tensor, shape (batch, nheads, headdim, d_state), optional
    return_final_states : bool
    method : {"auto", "factored", "quadratic"}
        Form of the intra-chunk term (module docstring). ``"auto"`` uses the factored form
        (with a smaller chunk if needed) and falls back to the quadratic one for extreme
        decays, and under ``torch.compile`` or CUDA-graph recording; ``"factored"`` raises
        a ``ValueError`` where it cannot be used.

    Returns
    -------
    y : Tensor, shape (batch, length, nheads, headdim)
        In the dtype of ``x``. float64 inputs compute in float64, every other dtype
        (float32, bfloat16, float16) accumulates in float32.
    final_states : Tensor, shape (batch, nheads, headdim, d_state)
        Only with ``return_final_states=True``; in the compute dtype.

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.ops import ssd_chunked_torch
    >>> b, l, h, p, n = 2, 100, 4, 8, 16
    >>> y = ssd_chunked_torch(torch.randn(b, l, h, p), torch.rand(b, l, h), -torch.rand(h),
    ...                       torch.randn(b, l, 1, n), torch.randn(b, l, 1, n), 32)
    >>> tuple(y.shape)
    (2, 100, 4, 8)
    """
    check_option("method", method, METHODS)
    batch, length, nheads, headdim = x.shape
    ngroups, d_state = B.shape[-2:]
    if nheads % ngroups:
        raise ValueError(f"nheads ({nheads}) must be a multiple of ngroups ({ngroups}).")
    r = nheads // ngroups
    out_dtype = x.dtype
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    mm_dtype = torch.bfloat16 if x.dtype == torch.bfloat16 else cdt

    with torch.autocast(device_type=x.device.type, enabled=False):
        dt_c = discretise_dt(dt.to(cdt), dt_bias, dt_softplus, dt_limit)  # (b, l, h)
        dA = dt_c * A.to(cdt)
        B_c, C_c = B.to(cdt), C.to(cdt)
        init = None
        if initial_states is not None:  # (b, h, p, n) -> (b, g, n, r, p)
            init = initial_states.to(cdt).view(batch, ngroups, r, headdim, d_state)
            init = init.permute(0, 1, 4, 2, 3)

        chunk = None
        quad_chunk = chunk_size
        capped = min(chunk_size, max(length, 1))  # no chunk longer than the sequence
        if method != "quadratic" and not host_sync_allowed(x):
            # 0. the factored form's range check reads a value back to the host, which a
            #    CUDA graph being recorded or a graph torch.compile traces cannot do
            if method == "factored":
                raise ValueError(
                    "method='factored' checks its chunks' decay on the host, which cannot "
                    "happen while a CUDA graph is recorded or torch.compile traces the scan. "
                    "Use method='auto' (the quadratic form there)."
                )
            quad_chunk = capped
        elif method != "quadratic":
            chunk = _factored_chunk(dA.detach(), capped, cdt)
            if chunk is None and method == "factored":
                raise ValueError(
                    "method='factored' cannot be used: some chunk of "
                    f"{FACTORED_MIN_CHUNK} steps decays by more than "
                    f"exp(-{FACTORED_MAX_LOG_RANGE[cdt]:g}). Use method='auto'."
                )
        if chunk is not None:
            Y, a, final = _ssd_factored(
                x, dt_c, dA, B_c, C_c, init, chunk, mm_dtype, cdt
            )  # final (b, g, r, n, p)
            y = Y.to(cdt) * a[..., None] if Y.dtype != cdt else Y * a[..., None]
        else:
            y, final = _ssd_quadratic(x, dt_c, dA, B_c, C_c, init, quad_chunk, cdt)
        if D is not None:
            D_c = D.to(cdt)
            y = torch.addcmul(y, x.to(cdt), D_c[:, None] if D_c.dim() == 1 else D_c)
        if z is not None:
            y = y * F.silu(z.to(cdt))
    y = y.to(out_dtype)
    if return_final_states:  # (b, g, r, n, p) -> (b, h, p, n)
        return y, final.transpose(-1, -2).reshape(batch, nheads, headdim, d_state)
    return y
