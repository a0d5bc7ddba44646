"""The SSD scan as its step-by-step recurrence: slow, for tests and documentation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .ssd_torch import discretise_dt


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
    dt = discretise_dt(dt, dt_bias, dt_softplus, (0.0, math.inf))
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
