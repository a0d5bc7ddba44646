"""Inter-chunk state passing of the chunked SSD scan (step 3 of ``ops/ssd_torch.py``).

The recurrence ``H_{k+1} = exp(log_decay_k) H_k + states_k`` over the chunks, as a product
with the lower-triangular matrix of segment-sum decays for up to :data:`STATE_BLOCK`
chunks, and blockwise (recursively) beyond, so its cost stays linear in the number of
chunks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["STATE_BLOCK", "pass_states", "pass_states_direct", "stable_segsum"]

#: Chunks handled by one segment-sum product in the inter-chunk recurrence; more chunks are
#: processed blockwise.
STATE_BLOCK = 64


def stable_segsum(a: Tensor) -> Tensor:
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


def pass_states_direct(states: Tensor, log_decay: Tensor, init: Tensor) -> Tensor:
    """Inter-chunk recurrence ``H_{k+1} = exp(log_decay_k) H_k + states_k`` by one product.

    states : (..., K, F)   log_decay : (..., K)   init : (..., F)
    returns (..., K + 1, F): ``H_0 = init`` (state entering chunk 0) ... ``H_K`` (final).
    """
    vals = torch.cat([init.unsqueeze(-2), states], dim=-2)  # (..., K+1, F)
    totals = F.pad(log_decay, (1, 0))  # (..., K+1)
    decay = torch.exp(stable_segsum(totals))  # (..., K+1, K+1), lower triangular
    return decay @ vals


def pass_states(states: Tensor, log_decay: Tensor, init: Tensor, block: int = STATE_BLOCK):
    """Same as :func:`pass_states_direct`, blockwise when there are more than ``block`` chunks.

    Chunks are grouped in blocks of ``block``; each block runs the direct product from a zero
    state, the blocks' own final states are carried across blocks by the same function
    (recursively), and each block's entering state is then decayed into its chunks. Work is
    linear in the number of chunks.
    """
    K = states.shape[-2]
    if K <= block:
        return pass_states_direct(states, log_decay, init)
    pad = (-K) % block
    if pad:  # appended chunks with no input and no decay change nothing before them
        states = F.pad(states, (0, 0, 0, pad))
        log_decay = F.pad(log_decay, (0, pad))
    nb = (K + pad) // block
    lead = states.shape[:-2]
    st = states.reshape(*lead, nb, block, states.shape[-1])
    ld = log_decay.reshape(*lead, nb, block)
    local = pass_states_direct(st, ld, torch.zeros_like(st[..., 0, :]))  # (..., nb, blk+1, F)
    block_out = pass_states(local[..., -1, :], ld.sum(-1), init, block)  # (..., nb+1, F)
    # state entering chunk j of block i: local part + decay since the block start * entering
    since_start = torch.cumsum(F.pad(ld[..., :-1], (1, 0)), dim=-1)  # (..., nb, blk)
    entering = local[..., :-1, :] + torch.exp(since_start)[..., None] * block_out[..., :-1, None, :]
    entering = entering.reshape(*lead, nb * block, states.shape[-1])[..., :K, :]
    return torch.cat([entering, block_out[..., -1:, :]], dim=-2)
