"""EEGM2's U-Net with multi-head self-attention in place of Mamba-2 (paper ablation S5).

The layout is that of :class:`~eegm2_sklearn.models.EEGM2`; each Mamba block
``LayerNorm(Mamba2(x)) + x`` becomes ``LayerNorm(MHSA(x)) + x``. Attention runs through
:func:`torch.nn.functional.scaled_dot_product_attention`, so PyTorch picks its fastest kernel
(flash attention for bfloat16/float16 on recent NVIDIA GPUs, the memory-efficient kernel for
float32): memory grows linearly with the window length, time quadratically. This is the
fair baseline for the scaling benchmark, unlike attention with the fast kernels turned off.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import CheckpointedBlock
from .eegm2 import EEGM2


class AttentionBlock(CheckpointedBlock):
    """``LayerNorm(MHSA(x)) + x`` on ``(batch, length, d_model)``.

    Parameters
    ----------
    d_model : int
        Feature width; must be divisible by ``n_heads``.
    n_heads : int
        Attention heads (the head width is ``d_model // n_heads``).
    causal : bool
        Mask future positions (Mamba-2 is causal; the ablation's default is not).

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.models import AttentionBlock
    >>> AttentionBlock(64)(torch.randn(2, 100, 64)).shape
    torch.Size([2, 100, 64])
    """

    def __init__(self, d_model: int, n_heads: int = 4, causal: bool = False) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(
                f"d_model ({d_model}) must be divisible by n_heads ({n_heads}); choose "
                "n_heads among the divisors of the stage widths (base_width, 2x, 4x)."
            )
        self.n_heads = n_heads
        self.causal = causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)

    def _block(self, x: Tensor) -> Tensor:
        b, length, d = x.shape
        # (3, b, heads, length, head_dim) views; the last dimension stays contiguous
        q, k, v = (
            self.qkv(x).view(b, length, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        y = y.transpose(1, 2).reshape(b, length, d)
        return self.norm(self.out_proj(y)) + x


class _ChannelAttention(AttentionBlock):
    """:class:`AttentionBlock` applied to ``(batch, channels, T)``."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class EEGM2Attention(EEGM2):
    """The EEGM2 U-Net with 4-head self-attention blocks instead of Mamba-2.

    Same embedding, convolutions, poolings, skips and heads as :class:`EEGM2`; only the four
    sequence-mixing blocks differ. Useful as the attention baseline of the paper's ablation
    and of ``benchmarks/bench_scaling.py``.

    Parameters
    ----------
    n_chans : int
    n_times : int, optional
    sfreq : float, optional
    chs_info : list of dict, optional
    base_width : int
    n_heads : int
        Heads of every attention block (paper ablation: 4).
    causal : bool
    checkpointing : bool
        Recompute the attention blocks in the backward pass (training with gradients only).

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.models import EEGM2Attention
    >>> model = EEGM2Attention(n_chans=4, base_width=8)
    >>> model(torch.randn(2, 4, 64)).shape
    torch.Size([2, 4, 64])
    """

    def __init__(
        self,
        n_chans: int | None = None,
        n_times: int | None = None,
        sfreq: float | None = None,
        chs_info: Sequence[dict] | None = None,
        *,
        base_width: int = 64,
        n_heads: int = 4,
        causal: bool = False,
        checkpointing: bool = False,
    ) -> None:
        # Plain attributes may precede nn.Module.__init__; EEGM2's constructor reads them
        # through _mixing_block_factory while it builds the U-Net.
        self.n_heads = n_heads
        self.causal = causal
        super().__init__(
            n_chans, n_times, sfreq, chs_info, base_width=base_width, checkpointing=checkpointing
        )

    def _mixing_block_factory(self):
        return lambda d_model: _ChannelAttention(d_model, self.n_heads, self.causal)
