"""Residual sequence-mixing blocks: ``LayerNorm(mixer(x)) + x`` with optional activation
checkpointing."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .mamba2 import Mamba2

#: With checkpointing, a block recomputes at most this many (window x time step) positions at
#: once: the batch is cut into slices of whole windows, each checkpointed on its own, so the
#: activations that live during one slice's backward pass stay bounded (about 2 GiB for
#: EEGM2's widest block in float32) whatever the batch size.
CHECKPOINT_POSITIONS = 2**16


class CheckpointedBlock(nn.Module):
    """A residual block whose ``_block`` can be recomputed in the backward pass.

    ``checkpointing`` (attribute, default ``False``) turns activation checkpointing on; it
    acts only in training mode with gradients enabled. The batch is then processed in
    slices of at most :data:`CHECKPOINT_POSITIONS` positions (at least one window each).
    """

    checkpointing: bool = False

    def _block(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if not (self.checkpointing and self.training and torch.is_grad_enabled()):
            return self._block(x)
        batch, length = x.shape[:2]
        n_slices = min(batch, -(-batch * length // CHECKPOINT_POSITIONS))
        # the blocks draw no random numbers, so no generator state is saved for the
        # recomputation (reading the CUDA generator is not allowed while a graph records)
        if n_slices <= 1:
            return checkpoint(self._block, x, use_reentrant=False, preserve_rng_state=False)
        parts = x.tensor_split(n_slices)
        return torch.cat([
            checkpoint(self._block, p, use_reentrant=False, preserve_rng_state=False)
            for p in parts
        ])  # fmt: skip


class MambaBlock(CheckpointedBlock):
    """``LayerNorm(Mamba2(x)) + x`` on ``(batch, length, d_model)``.

    Parameters
    ----------
    d_model : int
    **mamba_kwargs
        Passed to :class:`Mamba2`.

    Attributes
    ----------
    checkpointing : bool
        Recompute the block in the backward pass instead of storing its activations
        (training with gradients only).
    """

    def __init__(self, d_model: int, **mamba_kwargs) -> None:
        super().__init__()
        self.mamba = Mamba2(d_model, **mamba_kwargs)
        self.norm = nn.LayerNorm(d_model)

    def _block(self, x: Tensor) -> Tensor:
        return self.norm(self.mamba(x)) + x
