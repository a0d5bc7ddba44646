"""The EEGM2 U-Net (Hong, Mackellar and Ghane, 2025) and its Light variant.

Layout, with the paper's base width ``w = 64`` (``T`` the window length)::

    input (B, n_chans, T)
    1. embedding     Conv1d k=1 | k=3 | k=7 (n_chans -> w each), concat (3w), Conv1d 1x1 -> w
    2. encoder1      Linear(w, w) over channels, Mamba block (d=w) on length T    -> skip1 (w, T)
                     MaxPool1d(2)                                                    (w, T/2)
    3. encoder2      Conv1d(w -> 2w, k=3)                                         -> skip2 (2w, T/2)
                     MaxPool1d(2)                                                    (2w, T/4)
       encoder3      Conv1d(2w -> 4w, k=3)                                        -> skip3 (4w, T/4)
                     MaxPool1d(2)                                                    (4w, T/8)
    4. mediator      Linear(4w, 4w), Mamba block (d=4w), Linear(4w, 4w)  = bottleneck (4w, T/8)
    5. decoder3      interpolate to T/4, concat skip3 (8w), Conv1d(8w -> 4w, k=3), Mamba block
       decoder2      interpolate to T/2, concat skip2 (6w), Conv1d(6w -> 2w, k=3), Mamba block
       decoder1      interpolate to T,   concat skip1 (3w), Conv1d(3w -> w, k=3)
    6. output        Conv1d 1x1 (w -> n_chans)

Mamba block: ``y = LayerNorm(Mamba2(x)) + x``. No activations between the convolutions.
Interpolation targets the skip's length, so any ``T >= 8`` works (odd lengths included).

With ``checkpointing=True`` each Mamba block keeps only its input for the backward pass and
recomputes its inner activations (``expand * d_model`` wide, the bulk of the memory) there
(:func:`torch.utils.checkpoint.checkpoint`, non-reentrant), one slice of the batch at a
time (:data:`CHECKPOINT_POSITIONS`); it acts only in training mode with gradients enabled, so
evaluation and inference are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..validation import check_option
from .blocks import CheckpointedBlock, MambaBlock
from .mamba2 import Mamba2

#: The smallest window: three max-poolings of 2 need at least 8 samples.
MIN_N_TIMES = 8

#: Values of ``checkpointing``: none, whole Mamba blocks, or the cheap parts around the scan.
CHECKPOINTING = (False, True, "light")


def _resolve_n_chans(n_chans: int | None, chs_info: Sequence[dict] | None) -> int:
    if n_chans is None and chs_info is not None:
        n_chans = len(chs_info)
    if n_chans is None:
        raise ValueError("Give n_chans (number of EEG channels) or chs_info to build EEGM2.")
    if chs_info is not None and len(chs_info) != n_chans:
        raise ValueError(f"n_chans={n_chans} but chs_info describes {len(chs_info)} channels.")
    if int(n_chans) < 1:
        raise ValueError(f"n_chans must be a positive integer; got {n_chans}.")
    return int(n_chans)


def check_n_times(n_times: int, min_n_times: int = MIN_N_TIMES) -> None:
    """Raise a ``ValueError`` if windows of ``n_times`` samples are too short for EEGM2.

    Examples
    --------
    >>> check_n_times(512)
    """
    if n_times < min_n_times:
        raise ValueError(
            f"Windows have {n_times} samples; EEGM2 needs at least {min_n_times} (its three "
            f"MaxPool1d(2) layers divide the length by 8). Use longer windows (more seconds "
            "or a higher sampling rate)."
        )


class MultiBranchEmbedding(nn.Module):
    """Three parallel convolutions (kernels 1, 3, 7, "same" padding) fused by a 1x1 conv.

    ``(batch, n_chans, T) -> (batch, width, T)``.
    """

    def __init__(self, n_chans: int, width: int, kernel_sizes: Sequence[int] = (1, 3, 7)):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv1d(n_chans, width, k, padding=k // 2) for k in kernel_sizes
        )
        self.fuse = nn.Conv1d(width * len(kernel_sizes), width, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))


class _ChannelLinear(nn.Linear):
    """``nn.Linear`` over the channel axis of ``(batch, channels, T)``."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class _ChannelMamba(MambaBlock):
    """:class:`MambaBlock` applied to ``(batch, channels, T)``."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def _mamba_block_factory(mamba_kwargs: dict) -> Callable[[int], nn.Module]:
    return lambda d_model: _ChannelMamba(d_model, **mamba_kwargs)


class _Encoder(nn.Module):
    """Embedding and the three encoder stages; returns the pooled output and the skips.

    ``make_block(d_model)`` builds the sequence-mixing block on ``(batch, d_model, T)``.
    """

    def __init__(self, n_chans: int, width: int, make_block: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.embedding = MultiBranchEmbedding(n_chans, width)
        self.encoder1 = nn.Sequential(_ChannelLinear(width, width), make_block(width))
        self.encoder2 = nn.Conv1d(width, 2 * width, 3, padding=1)
        self.encoder3 = nn.Conv1d(2 * width, 4 * width, 3, padding=1)
        self.pool = nn.MaxPool1d(2)

    def encode_with_skips(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        skip1 = self.encoder1(self.embedding(x))  # (B, w, T)
        skip2 = self.encoder2(self.pool(skip1))  # (B, 2w, T/2)
        skip3 = self.encoder3(self.pool(skip2))  # (B, 4w, T/4)
        return self.pool(skip3), [skip1, skip2, skip3]  # (B, 4w, T/8)


class _Backbone(nn.Module):
    """Shared constructor arguments and backend switch of EEGM2 and EEGM2Light."""

    def _init_signal(self, n_chans, n_times, sfreq, chs_info, base_width, mamba_kwargs):
        self.n_chans = _resolve_n_chans(n_chans, chs_info)
        if n_times is not None:
            check_n_times(int(n_times))
        self.n_times = n_times
        self.sfreq = sfreq
        self.chs_info = chs_info
        self.base_width = base_width
        self.n_features = 4 * base_width  # bottleneck channels
        self.mamba_kwargs = dict(mamba_kwargs)

    @property
    def backend(self) -> str:
        """Scan backend of every Mamba-2 layer; settable (``"auto"``, ``"torch"``, ...)."""
        return self.mamba_kwargs["backend"]

    @backend.setter
    def backend(self, value: str) -> None:
        self.mamba_kwargs["backend"] = value
        for module in self.modules():
            if isinstance(module, Mamba2):
                module.backend = value

    @property
    def checkpointing(self) -> bool | str:
        """Activation checkpointing of the sequence-mixing blocks (``False``, ``True`` or
        ``"light"``); settable."""
        return self._checkpointing

    @checkpointing.setter
    def checkpointing(self, value: bool | str) -> None:
        check_option("checkpointing", value, CHECKPOINTING)
        self._checkpointing = value if value == "light" else bool(value)
        for module in self.modules():
            if isinstance(module, CheckpointedBlock):
                module.checkpointing = self._checkpointing is True
            if isinstance(module, Mamba2):
                module.recompute_cheap = self._checkpointing == "light"

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != self.n_chans:
            raise ValueError(
                f"Expected input of shape (batch, {self.n_chans}, n_times); got {tuple(x.shape)}."
            )
        check_n_times(x.shape[-1])


def _mamba_kwargs(d_state, d_conv, expand, headdim, ngroups, chunk_size, backend, torch_chunk):
    return dict(
        d_state=d_state,
        d_conv=d_conv,
        expand=expand,
        headdim=headdim,
        ngroups=ngroups,
        chunk_size=chunk_size,
        backend=backend,
        torch_chunk=torch_chunk,
    )


class EEGM2(_Backbone):
    """EEGM2 self-supervised reconstruction network (Mamba-2 U-Net).

    Parameters
    ----------
    n_chans : int
        Number of EEG channels (inferred from ``chs_info`` if omitted).
    n_times : int, optional
        Window length in samples. Only checked; the network takes any length ``>= 8``.
    sfreq : float, optional
        Sampling frequency (kept for reference, as in braindecode models).
    chs_info : list of dict, optional
        MNE channel descriptions (``epochs.info["chs"]``).
    base_width : int
        Width ``w`` of the first stage; the stages have ``w``, ``2w``, ``4w`` channels.
    d_state, d_conv, expand, headdim, ngroups, chunk_size :
        Mamba-2 settings (paper: 16, 2, 8, 64, 1, 256).
    backend : {"auto", "torch", "mamba_ssm"}
        Scan implementation; ``"auto"`` uses mamba-ssm's kernel on CUDA when installed.
    torch_chunk : int, optional
        Chunk size of the PyTorch scan (default chosen per device).
    checkpointing : bool or "light"
        Activation checkpointing of the Mamba blocks: with ``True`` their inner activations
        are recomputed in the backward pass instead of stored (less memory, about one more
        forward pass of the blocks); with ``"light"`` only the cheap parts around the scan
        are (see :attr:`Mamba2.recompute_cheap`), and the scan runs once. Only in training
        mode with gradients enabled. Settable later as the attribute of the same name.

    Attributes
    ----------
    n_features : int
        Channels of the bottleneck (``4 * base_width``).

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.models import EEGM2
    >>> model = EEGM2(n_chans=16, n_times=1280)
    >>> sum(p.numel() for p in model.parameters())
    4565144
    >>> small = EEGM2(n_chans=4, base_width=8, expand=2, headdim=8)
    >>> x = torch.randn(2, 4, 100)
    >>> small(x).shape, small.encode(x).shape
    (torch.Size([2, 4, 100]), torch.Size([2, 32, 12]))
    """

    def __init__(
        self,
        n_chans: int | None = None,
        n_times: int | None = None,
        sfreq: float | None = None,
        chs_info: Sequence[dict] | None = None,
        *,
        base_width: int = 64,
        d_state: int = 16,
        d_conv: int = 2,
        expand: int = 8,
        headdim: int = 64,
        ngroups: int = 1,
        chunk_size: int = 256,
        backend: str = "auto",
        torch_chunk: int | None = None,
        checkpointing: bool | str = False,
    ) -> None:
        super().__init__()
        mk = _mamba_kwargs(
            d_state, d_conv, expand, headdim, ngroups, chunk_size, backend, torch_chunk
        )
        self._init_signal(n_chans, n_times, sfreq, chs_info, base_width, mk)
        self._build(self._mixing_block_factory())
        self.checkpointing = checkpointing

    def _mixing_block_factory(self) -> Callable[[int], nn.Module]:
        """``make_block(d)``: the sequence-mixing block of width ``d`` (subclasses swap it)."""
        return _mamba_block_factory(self.mamba_kwargs)

    def _build(self, make_block: Callable[[int], nn.Module]) -> None:
        """Create the U-Net's layers; ``make_block(d)`` builds a mixing block of width d."""
        w = self.base_width
        self.encoder = _Encoder(self.n_chans, w, make_block)
        self.mediator = nn.Sequential(
            _ChannelLinear(4 * w, 4 * w), make_block(4 * w), _ChannelLinear(4 * w, 4 * w)
        )
        self.decoder3 = nn.Sequential(nn.Conv1d(8 * w, 4 * w, 3, padding=1), make_block(4 * w))
        self.decoder2 = nn.Sequential(nn.Conv1d(6 * w, 2 * w, 3, padding=1), make_block(2 * w))
        self.decoder1 = nn.Conv1d(3 * w, w, 3, padding=1)
        self.output = nn.Conv1d(w, self.n_chans, 1)

    def _bottleneck_and_skips(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        self._check_input(x)
        pooled, skips = self.encoder.encode_with_skips(x)
        return self.mediator(pooled), skips

    def encode(self, x: Tensor) -> Tensor:
        """Bottleneck (mediator output).

        Parameters
        ----------
        x : Tensor, shape (batch, n_chans, n_times)

        Returns
        -------
        z : Tensor, shape (batch, 4 * base_width, n_times // 8)
        """
        return self._bottleneck_and_skips(x)[0]

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct the input.

        Parameters
        ----------
        x : Tensor, shape (batch, n_chans, n_times)

        Returns
        -------
        x_hat : Tensor, shape (batch, n_chans, n_times)
        """
        h, (skip1, skip2, skip3) = self._bottleneck_and_skips(x)
        for decoder, skip in (
            (self.decoder3, skip3),
            (self.decoder2, skip2),
            (self.decoder1, skip1),
        ):
            h = F.interpolate(h, size=skip.shape[-1], mode="linear", align_corners=False)
            h = decoder(torch.cat([h, skip], dim=1))
        return self.output(h)


class EEGM2Light(EEGM2):
    """EEGM2 (Light): the embedding and the three encoder stages, up to the third pooling.

    Same parameters (and constructor) as :class:`EEGM2`. Its :meth:`forward` and
    :meth:`encode` both return the pooled encoder output; its parameters have the same
    names as the matching ones of :class:`EEGM2`, so a pretrained EEGM2 state dict loads
    into it (:func:`eegm2_sklearn.models.load_backbone_weights`).

    Examples
    --------
    >>> from eegm2_sklearn.models import EEGM2Light
    >>> sum(p.numel() for p in EEGM2Light(n_chans=16).parameters())
    254392
    """

    def _build(self, make_block: Callable[[int], nn.Module]) -> None:
        """Only the embedding and the encoders: EEGM2's constructor, fewer layers."""
        self.encoder = _Encoder(self.n_chans, self.base_width, make_block)

    def encode(self, x: Tensor) -> Tensor:
        """The pooled output of the third encoder stage, ``(batch, 4 * base_width,
        n_times // 8)`` for ``x`` of ``(batch, n_chans, n_times)``."""
        self._check_input(x)
        return self.encoder.encode_with_skips(x)[0]

    forward = encode
