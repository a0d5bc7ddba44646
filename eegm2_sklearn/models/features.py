"""Time-pooled features of the EEGM2 bottleneck (the paper's linear-probe statistics)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: Order of the statistics in :func:`bottleneck_statistics`.
STATISTICS = ("min", "max", "mean", "std", "q05", "q25", "q50", "q75", "q95")
_QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)


def bottleneck_statistics(z: Tensor) -> Tensor:
    """Nine statistics of every bottleneck channel over time.

    min, max, mean, standard deviation (population) and the 5, 25, 50, 75 and 95 %
    quantiles (linear interpolation), as the paper's EEGM2 (Linear) and (Light) heads use.

    Parameters
    ----------
    z : Tensor, shape (batch, n_features, n_steps)

    Returns
    -------
    stats : Tensor, shape (batch, 9 * n_features)
        Statistic-major: the first ``n_features`` columns are the minima, then the maxima, ...
        (see :data:`STATISTICS`).

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.models import bottleneck_statistics
    >>> bottleneck_statistics(torch.randn(2, 256, 160)).shape
    torch.Size([2, 2304])
    """
    z = z.float()
    ordered = z.sort(dim=-1).values  # (B, F, T)
    stats = [
        ordered[..., 0],
        ordered[..., -1],
        z.mean(dim=-1),
        z.std(dim=-1, correction=0),
        *(_quantile(ordered, q) for q in _QUANTILES),
    ]
    return torch.cat(stats, dim=-1)


def _quantile(ordered: Tensor, q: float) -> Tensor:
    """Quantile ``q`` of values sorted along the last axis, interpolated linearly (as
    ``torch.quantile``). The position is worked out on the host: a tensor of quantiles would
    have to be copied to the device, which a CUDA graph being recorded cannot do."""
    n = ordered.shape[-1]
    pos = q * (n - 1)
    below = math.floor(pos)
    above = min(below + 1, n - 1)
    return torch.lerp(ordered[..., below], ordered[..., above], pos - below)


def bottleneck_mean(z: Tensor) -> Tensor:
    """Mean of every bottleneck channel over time: ``(batch, F, n_steps) -> (batch, F)``."""
    return z.float().mean(dim=-1)
