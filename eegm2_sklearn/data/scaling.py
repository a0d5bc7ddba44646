"""Per-window, per-channel scaling of EEG windows, and its exact inverse.

Each window (epoch) and each of its channels is scaled with statistics computed over time
in that window alone, so the model never sees the user's unit (volts from MNE, microvolts
from many braindecode pipelines, anything for arrays):

- ``"robust"``: ``(x - median_t(x)) / IQR_t(x)``, with ``IQR = P75 - P25``; the same as
  :func:`sklearn.preprocessing.robust_scale` applied to every (window, channel) row.
- ``"percentile95"``: ``x / P95_t(|x|)``, the scaling the EEGM2 paper applies to TUAB.
- ``None``: identity (only cast to float32).

Flat channels: a channel whose spread (IQR for ``"robust"``, P95 of ``|x|`` for
``"percentile95"``) is at most ``eps`` is set to zeros instead of being divided by (almost)
zero; its stored scale is 1, so the inverse gives back its centre (the constant value
itself for a constant channel under ``"robust"``). ``"percentile95"`` removes no offset, as
in the paper, so there only an all-zero channel is flat; a constant non-zero channel
becomes ones.

The statistics are returned with the scaled data, so :func:`inverse_scale_windows` maps
the model's output (e.g. a reconstruction) back to the user's units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import check_option

#: Allowed values of ``scaling``.
SCALING_METHODS = ("robust", "percentile95", None)

#: Default floor on the spread below which a channel counts as flat. Small enough for data
#: in volts (EEG spreads are about 1e-6 to 1e-4 V).
DEFAULT_EPS = 1e-12


@dataclass(frozen=True, eq=False)
class ScalingStats:
    """Per-window, per-channel statistics of a scaling, enough to invert it.

    Attributes
    ----------
    method : {"robust", "percentile95", None}
        The scaling that produced these statistics.
    center : ndarray, shape (n_epochs, n_channels, 1), float32
        Subtracted before dividing (median for ``"robust"``, 0 otherwise).
    scale : ndarray, shape (n_epochs, n_channels, 1), float32
        Divisor (1 for flat channels and for ``None``).
    flat : ndarray of bool, shape (n_epochs, n_channels, 1)
        Channels whose spread was at most ``eps`` and were set to zeros.
    """

    method: str | None
    center: np.ndarray
    scale: np.ndarray
    flat: np.ndarray


def scale_windows(
    X: np.ndarray, method: str | None = "robust", *, eps: float = DEFAULT_EPS
) -> tuple[np.ndarray, ScalingStats]:
    """Scale every channel of every window by statistics of that window.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        EEG windows, any unit.
    method : {"robust", "percentile95", None}
        ``"robust"``: ``(x - median) / IQR``; ``"percentile95"``: ``x / P95(|x|)``;
        ``None``: no scaling.
    eps : float
        Channels whose spread is at most ``eps`` are flat and become zeros.

    Returns
    -------
    X_scaled : ndarray, shape (n_epochs, n_channels, n_times), float32
        The scaled windows (a new array unless ``method`` is None and ``X`` is float32).
    stats : ScalingStats
        The per-window statistics for :func:`inverse_scale_windows`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(2, 3, 64)) * 1e-5
    >>> Z, stats = scale_windows(X, "robust")
    >>> Z.dtype, stats.scale.shape
    (dtype('float32'), (2, 3, 1))
    >>> np.allclose(inverse_scale_windows(Z, stats), X, rtol=1e-5, atol=1e-12)
    True
    """
    check_option("scaling", method, SCALING_METHODS)
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(
            f"scale_windows expects X of shape (n_epochs, n_channels, n_times); got {X.shape}."
        )
    X = X.astype(np.float32, copy=False)
    shape = X.shape[:2] + (1,)
    if method is None:
        ones = np.ones(shape, np.float32)
        stats = ScalingStats(None, np.zeros(shape, np.float32), ones, np.zeros(shape, bool))
        return X, stats
    if method == "robust":
        q25, center, q75 = np.percentile(X, [25, 50, 75], axis=-1, keepdims=True)
        spread = q75 - q25
    else:
        center = np.zeros(shape)
        spread = np.percentile(np.abs(X), 95, axis=-1, keepdims=True)
    flat = spread <= eps
    scale = np.where(flat, 1.0, spread).astype(np.float32)
    center = center.astype(np.float32)
    Z = (X - center) / scale
    Z *= ~flat  # flat channels -> exact zeros
    return Z, ScalingStats(method, center, scale, flat)


def inverse_scale_windows(Z: np.ndarray, stats: ScalingStats) -> np.ndarray:
    """Map scaled windows (or a model's output on them) back to the original units.

    Parameters
    ----------
    Z : ndarray, shape (n_epochs, n_channels, n_times)
        Scaled data; ``n_times`` may differ from the scaled input's.
    stats : ScalingStats
        Returned by :func:`scale_windows` for the same windows.

    Returns
    -------
    X : ndarray, shape (n_epochs, n_channels, n_times), float32
        ``Z * scale + center``; flat channels come back as their centre.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(24, dtype=np.float32).reshape(1, 2, 12)
    >>> Z, stats = scale_windows(X, "percentile95")
    >>> np.allclose(inverse_scale_windows(Z, stats), X)
    True
    """
    Z = np.asarray(Z, dtype=np.float32)
    if Z.shape[:2] != stats.scale.shape[:2]:
        raise ValueError(
            f"Z has {Z.shape[:2]} (epochs, channels) but the statistics are for "
            f"{stats.scale.shape[:2]}; pass the statistics of the same windows."
        )
    return Z * stats.scale + stats.center
