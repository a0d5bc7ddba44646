"""Masked-span reconstruction: hide spans of time, reconstruct the whole window.

The paper pretrains by plain reconstruction, and EEGM2's full-resolution skip connection
can carry the input to the output, so the encoder need not model the signal to score well.
Hiding random spans of time (on every channel at once) and asking for the whole window back
makes the network infer the hidden EEG from its context, as BENDR, LaBraM and CBraMod do
with masked spans or patches.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Where the masked objective's loss is computed: the whole window, or the hidden spans.
MASK_LOSS_ON = ("all", "masked")


def span_mask(
    n_windows: int,
    n_times: int,
    mask_ratio: float,
    span: int,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random spans of time to hide, ``round(mask_ratio * n_spans)`` per window.

    Each window's time axis is cut into ``ceil(n_times / span)`` consecutive spans; a random
    subset of them (drawn independently per window) is hidden.

    Parameters
    ----------
    n_windows, n_times : int
        Shape of the batch (channels share the mask).
    mask_ratio : float
        Fraction of spans hidden, in (0, 1). At least one span is hidden and one kept.
    span : int
        Span length in samples (>= 1).
    device : torch.device, str or None
    generator : torch.Generator or None
        Source of randomness (default: torch's global generator).

    Returns
    -------
    mask : Tensor of float32, shape (n_windows, 1, n_times)
        1 where the input is hidden, 0 where it is kept.

    Examples
    --------
    >>> m = span_mask(4, 100, 0.5, 10, generator=torch.Generator().manual_seed(0))
    >>> m.shape, float(m.mean())
    (torch.Size([4, 1, 100]), 0.5)
    """
    n_spans = -(-n_times // span)  # ceil
    n_hidden = min(max(1, round(mask_ratio * n_spans)), max(1, n_spans - 1))
    scores = torch.rand(n_windows, n_spans, device=device, generator=generator)
    hidden = scores.argsort(dim=1)[:, :n_hidden]
    spans = torch.zeros(n_windows, n_spans, device=device)
    spans.scatter_(1, hidden, 1.0)
    # (n, n_spans) -> (n, n_spans * span) -> (n, 1, n_times)
    return spans.repeat_interleave(span, dim=1)[:, None, :n_times]


def masked_loss(loss: nn.Module, x_hat: Tensor, x: Tensor, mask: Tensor, on: str = "all") -> Tensor:
    """The reconstruction loss of a masked input, on the whole window or its hidden spans.

    Parameters
    ----------
    loss : nn.Module
        The reconstruction loss, ``loss(x_hat, x)`` (e.g. the temporal-spectral loss).
    x_hat, x : Tensor, shape (batch, n_chans, n_times)
        The network's output for the masked input, and the unmasked input.
    mask : Tensor, shape (batch, 1, n_times)
        :func:`span_mask`'s mask (1 = hidden).
    on : {"all", "masked"}
        ``"all"``: ``loss(x_hat, x)`` over the whole window (the kept parts are cheap to
        copy, the hidden ones must be inferred). ``"masked"``: ``loss(x_hat * m, x * m)``:
        the hidden spans only, the kept parts set to zero on both sides.

    Returns
    -------
    loss : Tensor (scalar)

    Examples
    --------
    >>> from eegm2_sklearn.models import TemporalSpectralLoss
    >>> x = torch.randn(2, 3, 64)
    >>> mask = span_mask(2, 64, 0.5, 8, generator=torch.Generator().manual_seed(0))
    >>> x_hat = x * (1 - mask)  # perfect where kept, zero where hidden
    >>> loss = TemporalSpectralLoss()
    >>> float(masked_loss(loss, x, x, mask, "masked")), float(masked_loss(loss, x_hat, x, mask)) > 0
    (0.0, True)
    """
    if on not in MASK_LOSS_ON:
        raise ValueError(f"on must be one of {MASK_LOSS_ON}; got {on!r}.")
    if on == "masked":
        mask = mask.to(x_hat.dtype)
        return loss(x_hat * mask, x * mask.to(x.dtype))
    return loss(x_hat, x)
