"""Time-pooled features of the EEGM2 bottleneck (the paper's linear-probe statistics)."""

from __future__ import annotations

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
    q = torch.quantile(z, torch.tensor(_QUANTILES, device=z.device), dim=-1)  # (5, B, F)
    stats = [
        z.amin(dim=-1),
        z.amax(dim=-1),
        z.mean(dim=-1),
        z.std(dim=-1, correction=0),
        *q.unbind(0),
    ]
    return torch.cat(stats, dim=-1)


def bottleneck_mean(z: Tensor) -> Tensor:
    """Mean of every bottleneck channel over time: ``(batch, F, n_steps) -> (batch, F)``."""
    return z.float().mean(dim=-1)
