"""The temporal-spectral reconstruction loss of EEGM2."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TemporalSpectralLoss(nn.Module):
    r"""EEGM2's reconstruction loss (paper, Eq. 1).

    .. math::

        L = \alpha \, \operatorname{mean} |\hat{x} - x|
            + \beta \, \operatorname{mean} |\mathcal{F}(\hat{x}) - \mathcal{F}(x)|^2

    where :math:`\mathcal{F}` is the real FFT over time (``torch.fft.rfft``, unnormalised).
    The spectral term compares complex coefficients, so phase errors count, and it is the
    squared modulus of their difference averaged over batch, channels and the
    ``n_times // 2 + 1`` frequencies. It is computed in float32 (or float64) even under
    mixed precision.

    Parameters
    ----------
    alpha : float
        Weight of the temporal L1 term (paper code: 1.0).
    beta : float
        Weight of the spectral squared-error term (paper code: 1.0).

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.losses import TemporalSpectralLoss
    >>> x = torch.randn(2, 3, 64)
    >>> float(TemporalSpectralLoss()(x, x))
    0.0
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.beta = float(beta)

    def forward(self, x_hat: Tensor, x: Tensor) -> Tensor:
        """Loss of ``x_hat`` against ``x``, both of shape (batch, n_chans, n_times)."""
        if x_hat.shape != x.shape:
            raise ValueError(
                f"x_hat and x must have the same shape; got {tuple(x_hat.shape)} and "
                f"{tuple(x.shape)}."
            )
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        x_hat, x = x_hat.to(dtype), x.to(dtype)
        loss = x_hat.new_zeros(())
        if self.alpha:
            loss = loss + self.alpha * (x_hat - x).abs().mean()
        if self.beta:
            diff = torch.fft.rfft(x_hat, dim=-1) - torch.fft.rfft(x, dim=-1)
            loss = loss + self.beta * (diff.real.square() + diff.imag.square()).mean()
        return loss
