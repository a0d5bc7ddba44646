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

The sequence is zero-padded on the right to a multiple of the chunk size. That is exact: the
scan is causal, and padded steps have ``dt = 0``, so they neither decay nor feed the state
(the final state is unchanged by them).

Shapes (``b`` batch, ``l`` length, ``h`` heads, ``p`` headdim, ``g`` groups, ``n`` d_state,
``c`` chunks, ``L``/``s`` positions inside a chunk)::

    x (b, l, h, p)   dt (b, l, h)   A (h,)   B, C (b, l, g, n)   D (h,) or (h, p)
    z (b, l, h, p)   initial_states / final_states (b, h, p, n)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ssd_chunked_torch", "ssd_sequential_reference"]


def _discretise_dt(
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


def _stable_segsum(a: Tensor) -> Tensor:
    """Segment sums ``out[..., i, j] = sum(a[..., j+1 : i+1])`` for ``i >= j``, else ``-inf``.

    Built from a masked cumulative sum rather than a difference of cumulative sums, so that
    long sequences of large negative log-decays keep full precision.
    a : (..., T)  ->  (..., T, T)
    """
    T = a.shape[-1]
    a = a[..., None].expand(*a.shape, T)  # (..., T_i, T_j): a[..., i, j] = a_i
    strictly_lower = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), -1)
    seg = torch.cumsum(a.masked_fill(~strictly_lower, 0.0), dim=-2)
    lower = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), 0)
    return seg.masked_fill(~lower, -math.inf)


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

    Returns
    -------
    y : Tensor, shape (batch, length, nheads, headdim)
        In the dtype of ``x``. float64 inputs compute in float64, every other dtype
        (float32, bfloat16, float16) computes and accumulates in float32.
    final_states : Tensor, shape (batch, nheads, headdim, d_state)
        Only with ``return_final_states=True``; in the compute dtype.
    """
    batch, length, nheads, headdim = x.shape
    ngroups, d_state = B.shape[-2:]
    if nheads % ngroups:
        raise ValueError(f"nheads ({nheads}) must be a multiple of ngroups ({ngroups}).")
    heads_per_group = nheads // ngroups
    out_dtype = x.dtype
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32

    with torch.autocast(device_type=x.device.type, enabled=False):
        # Step 0: discretisation; compute dtype; right zero-padding to whole chunks.
        x_c, B_c, C_c = x.to(cdt), B.to(cdt), C.to(cdt)
        dt_c = _discretise_dt(dt.to(cdt), dt_bias, dt_softplus, dt_limit)
        A_c = A.to(cdt)
        pad = (-length) % chunk_size
        if pad:
            x_c = F.pad(x_c, (0, 0, 0, 0, 0, pad))
            B_c = F.pad(B_c, (0, 0, 0, 0, 0, pad))
            C_c = F.pad(C_c, (0, 0, 0, 0, 0, pad))
            dt_c = F.pad(dt_c, (0, 0, 0, pad))  # dt = 0: no decay, no input
        n_chunks = (length + pad) // chunk_size
        cs = chunk_size

        # (b, c, L, g, r, p): heads split into (group, head-in-group) so B/C are shared
        xdt = (x_c * dt_c[..., None]).view(batch, n_chunks, cs, ngroups, heads_per_group, headdim)
        B_c = B_c.view(batch, n_chunks, cs, ngroups, d_state)
        C_c = C_c.view(batch, n_chunks, cs, ngroups, d_state)
        # log-decays dA = dt * A and their cumulative sums inside each chunk
        dA = (dt_c * A_c).view(batch, n_chunks, cs, ngroups, heads_per_group)
        dA = dA.permute(0, 1, 3, 4, 2)  # (b, c, g, r, L)
        dA_cs = torch.cumsum(dA, dim=-1)  # (b, c, g, r, L)

        # Step 1: intra-chunk (diagonal blocks):
        # Y_diag[l] = sum_{s <= l} (C_l . B_s) exp(dA_cs[l] - dA_cs[s]) xdt[s]
        CB = torch.einsum("bclgn,bcsgn->bcgls", C_c, B_c)  # (b, c, g, L, L)
        causal = torch.tril(torch.ones(cs, cs, dtype=torch.bool, device=x.device))
        seg = dA_cs[..., :, None] - dA_cs[..., None, :]  # (b, c, g, r, L, L)
        decay = torch.exp(seg.masked_fill(~causal, -math.inf))
        M = CB[:, :, :, None] * decay  # (b, c, g, r, L, L)
        y = torch.einsum("bcgrls,bcsgrp->bclgrp", M, xdt)  # (b, c, L, g, r, p)

        # Step 2: the state each chunk builds from its own inputs (zero initial state):
        # S_c = sum_s exp(dA_cs[-1] - dA_cs[s]) xdt[s] B_s^T
        decay_to_end = torch.exp(dA_cs[..., -1:] - dA_cs)  # (b, c, g, r, L)
        states = torch.einsum("bcsgn,bcgrs,bcsgrp->bcgrpn", B_c, decay_to_end, xdt)

        # Step 3: inter-chunk recurrence S_c <- exp(sum dA of chunk c) S_{c-1} + S_c, as one
        # matrix product with the segment sums of the chunk totals (stable segsum).
        if initial_states is None:
            init = states.new_zeros(batch, 1, ngroups, heads_per_group, headdim, d_state)
        else:
            init = initial_states.to(cdt).view(batch, 1, ngroups, heads_per_group, headdim, d_state)
        states = torch.cat([init, states], dim=1)  # (b, c+1, g, r, p, n)
        chunk_totals = F.pad(dA_cs[..., -1], (0, 0, 0, 0, 1, 0))  # (b, c+1, g, r)
        decay_chunk = torch.exp(_stable_segsum(chunk_totals.permute(0, 2, 3, 1)))  # (b,g,r,z,c)
        states = torch.einsum("bgrzc,bcgrpn->bzgrpn", decay_chunk, states)
        final_states = states[:, -1]  # (b, g, r, p, n)
        states = states[:, :-1]  # state entering each chunk

        # Step 4: what the entering state adds to each output of its chunk:
        # Y_off[l] = exp(dA_cs[l]) S_in C_l
        y = y + torch.einsum("bclgn,bcgrpn,bcgrl->bclgrp", C_c, states, torch.exp(dA_cs))

        y = y.reshape(batch, n_chunks * cs, nheads, headdim)[:, :length]
        if D is not None:
            D_c = D.to(cdt)
            y = y + x.to(cdt) * (D_c[:, None] if D_c.dim() == 1 else D_c)
        if z is not None:
            y = y * F.silu(z.to(cdt))
    y = y.to(out_dtype)
    if return_final_states:
        return y, final_states.reshape(batch, nheads, headdim, d_state)
    return y


def ssd_sequential_reference(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    initial_states: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Step-by-step recurrence of the same scan (slow; for tests and documentation).

    Returns ``(y, final_states)`` with the shapes of :func:`ssd_chunked_torch`.
    """
    batch, length, nheads, headdim = x.shape
    ngroups, d_state = B.shape[-2:]
    rep = nheads // ngroups
    dt = _discretise_dt(dt, dt_bias, dt_softplus, (0.0, math.inf))
    Bh = B.repeat_interleave(rep, dim=2)  # (b, l, h, n)
    Ch = C.repeat_interleave(rep, dim=2)
    S = (
        initial_states.clone()
        if initial_states is not None
        else x.new_zeros(batch, nheads, headdim, d_state)
    )
    ys = []
    for t in range(length):
        decay = torch.exp(dt[:, t] * A)  # (b, h)
        S = (
            decay[..., None, None] * S
            + (dt[:, t, :, None] * x[:, t])[..., None] * Bh[:, t, :, None, :]
        )
        y_t = torch.einsum("bhpn,bhn->bhp", S, Ch[:, t])
        if D is not None:
            y_t = y_t + x[:, t] * (D[:, None] if D.dim() == 1 else D)
        ys.append(y_t)
    y = torch.stack(ys, dim=1)
    if z is not None:
        y = y * F.silu(z)
    return y, S
