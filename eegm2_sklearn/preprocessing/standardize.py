"""Standardisation of each recording or window: braindecode's exponential moving
standardisation and scikit-learn's robust scaling."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.preprocessing import robust_scale

from ..environment import import_braindecode
from .base import EEGTransformer, check_positive


class ExponentialMovingStandardize(EEGTransformer):
    """Standardise each recording or window with braindecode's exponential moving average.

    Calls :func:`braindecode.preprocessing.exponential_moving_standardize` on every
    continuous Raw and on every single epoch (each window is standardised on its own, so
    the start of every window uses the plain mean and standard deviation of its first
    ``init_block_size`` samples). All channels of MNE objects are standardised; pick the
    channels you want first. The output is unitless.

    Parameters
    ----------
    factor_new : float
        Weight of the newest sample in the moving mean and variance, in (0, 1].
    init_block_size : int | None
        Number of first samples standardised with their plain mean and standard
        deviation; ``None`` disables it.
    eps : float
        Lower bound of the standard deviation, in the units after ``scale``.
    scale : "auto" | float
        Factor applied before standardising, which makes ``eps`` meaningful:
        ``"auto"`` multiplies MNE data (volts) by 1e6 to get microvolts, braindecode's
        convention, and leaves arrays as given.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(5.0, 3.0, size=(2, 3, 2000))
    >>> Xt = ExponentialMovingStandardize(init_block_size=500).fit_transform(X)
    >>> bool(abs(Xt[:, :, 1000:].mean()) < 0.2 and abs(Xt[:, :, 1000:].std() - 1) < 0.2)
    True
    """

    def __init__(self, factor_new=1e-3, init_block_size=1000, eps=1e-4, scale="auto"):
        self.factor_new = factor_new
        self.init_block_size = init_block_size
        self.eps = eps
        self.scale = scale

    def _check_params(self) -> None:
        f = self.factor_new
        if not isinstance(f, numbers.Real) or isinstance(f, bool) or not 0 < f <= 1:
            raise ValueError(f"factor_new must lie in (0, 1]; got {f!r}.")
        b = self.init_block_size
        if b is not None and (not isinstance(b, numbers.Integral) or isinstance(b, bool) or b < 1):
            raise ValueError(f"init_block_size must be a positive int or None; got {b!r}.")
        check_positive("eps", self.eps)
        if not (isinstance(self.scale, str) and self.scale == "auto"):
            if isinstance(self.scale, str):
                raise ValueError(f"scale must be 'auto' or a positive number; got {self.scale!r}.")
            check_positive("scale", self.scale)

    def _standardize(self, data: np.ndarray, scale: float) -> np.ndarray:
        ems = _braindecode_ems()
        kwargs = dict(
            factor_new=self.factor_new, init_block_size=self.init_block_size, eps=self.eps
        )
        if data.ndim == 2:
            return ems(data * scale, **kwargs)
        return np.stack([ems(window * scale, **kwargs) for window in data])

    def _transform_inst(self, inst):
        scale = 1e6 if self.scale == "auto" else float(self.scale)
        return inst.apply_function(self._standardize, picks="all", channel_wise=False, scale=scale)

    def _transform_array(self, X, sfreq):
        scale = 1.0 if self.scale == "auto" else float(self.scale)
        return self._standardize(X, scale)


def _braindecode_ems():
    return import_braindecode("braindecode.preprocessing").exponential_moving_standardize


class RobustScale(EEGTransformer):
    """Scale each channel of each window by its median and interquartile range.

    Per window and per channel (per recording and channel for Raw),
    ``x -> (x - median(x)) / (q75(x) - q25(x))`` over time, computed by
    :func:`sklearn.preprocessing.robust_scale` (a zero range leaves the scale at 1).
    This makes inputs of any unit (volts, microvolts, arbitrary) comparable and is robust
    to a few large artefacts. All channels of MNE objects are scaled; the output is
    unitless. The estimators' own ``scaling="robust"``
    (:func:`eegm2_sklearn.data.scale_windows`) applies the same formula inside the model,
    in float32, with flat channels set to zero and its inverse kept for
    ``reconstruct``; use this transformer for a separate pipeline step with other
    quantiles.

    Parameters
    ----------
    quantile_range : tuple of float
        Quantiles in percent bounding the range, default ``(25.0, 75.0)``.
    with_centering : bool
        Subtract the median.
    with_scaling : bool
        Divide by the quantile range.
    unit_variance : bool
        Also rescale so a normal signal gets unit variance (see scikit-learn).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(0.0, 20e-6, size=(4, 3, 256))
    >>> Xt = RobustScale().fit_transform(X)
    >>> np.allclose(np.median(Xt, axis=-1), 0.0)
    True
    """

    def __init__(
        self,
        quantile_range=(25.0, 75.0),
        with_centering=True,
        with_scaling=True,
        unit_variance=False,
    ):
        self.quantile_range = quantile_range
        self.with_centering = with_centering
        self.with_scaling = with_scaling
        self.unit_variance = unit_variance

    def _check_params(self) -> None:
        q = self.quantile_range
        if (
            not isinstance(q, (tuple, list))
            or len(q) != 2
            or not all(isinstance(v, numbers.Real) for v in q)
            or not 0 <= q[0] < q[1] <= 100
        ):
            raise ValueError(
                f"quantile_range must be (q_min, q_max) with 0 <= q_min < q_max <= 100; got {q!r}."
            )

    def _scale(self, data: np.ndarray) -> np.ndarray:
        flat = data.reshape(-1, data.shape[-1])
        out = robust_scale(
            flat,
            axis=1,
            with_centering=self.with_centering,
            with_scaling=self.with_scaling,
            quantile_range=tuple(self.quantile_range),
            unit_variance=self.unit_variance,
        )
        return out.reshape(data.shape)

    def _transform_inst(self, inst):
        return inst.apply_function(self._scale, picks="all", channel_wise=False)

    def _transform_array(self, X, sfreq):
        return self._scale(X)
