"""scikit-learn transformers over MNE and braindecode preprocessing.

Every transformer here accepts the package's EEG inputs and returns the same kind:

=============================  ==============================================
input                          output
=============================  ==============================================
``mne.Epochs``                 a new ``mne.Epochs`` (the input is not changed)
list of ``mne.Epochs``         one ``mne.Epochs`` joining them, in list order
``mne.io.Raw``                 a new ``mne.io.Raw``
list of ``mne.io.Raw``         a list of new ``mne.io.Raw``
ndarray (n, C, T)              ndarray
=============================  ==============================================

A list of Epochs is what scikit-learn's cross-validation hands a step when it splits an
Epochs object, so inside a :class:`~sklearn.pipeline.Pipeline` the step after one of these
transformers receives one Epochs object that still knows its sampling rate and channel
names. The work is done by MNE (:meth:`mne.Epochs.filter`, :meth:`mne.Epochs.resample`,
:func:`mne.filter.filter_data`, :func:`mne.filter.resample`), braindecode
(:func:`braindecode.preprocessing.exponential_moving_standardize`) and scikit-learn
(:func:`sklearn.preprocessing.robust_scale`).

Units: MNE objects hold volts; arrays are taken as given. Arrays carry no sampling rate,
so steps that need one take it from ``input_sfreq``. The transformers learn nothing:
``fit`` checks the parameters and the input and returns ``self``, and ``transform`` works
without ``fit``.
"""

from __future__ import annotations

import numbers

import mne
import numpy as np
from mne import BaseEpochs
from mne.io import BaseRaw
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import robust_scale

from .data.mne_inputs import as_mne_or_array
from .environment import import_braindecode
from .validation import check_option

__all__ = [
    "BandpassFilter",
    "EEGPreprocessor",
    "ExponentialMovingStandardize",
    "PickChannels",
    "Resample",
    "RobustScale",
]


def _check_positive(name: str, value, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value <= 0:
        expected = "a positive number or None" if allow_none else "a positive number"
        raise ValueError(f"{name} must be {expected}; got {value!r}.")


def _first_mne(X):
    """The MNE object whose info describes ``X``, or None for array input."""
    if isinstance(X, (BaseEpochs, BaseRaw)):
        return X
    if isinstance(X, (list, tuple)) and X and isinstance(X[0], (BaseEpochs, BaseRaw)):
        return X[0]
    return None


def _loaded(inst):
    if not inst.preload:
        inst.load_data()
    return inst


class _EEGTransformer(TransformerMixin, BaseEstimator):
    """Shared input handling: subclasses define ``_transform_inst`` and ``_transform_array``."""

    def _check_params(self) -> None:
        """Raise ValueError for invalid parameter values."""

    def _needs_sfreq(self) -> bool:
        """Whether array input needs ``input_sfreq``."""
        return False

    def _array_sfreq(self) -> float | None:
        sfreq = getattr(self, "input_sfreq", None)
        if sfreq is None and self._needs_sfreq():
            raise ValueError(
                f"{type(self).__name__} needs the sampling rate of array input: pass "
                f"{type(self).__name__}(..., input_sfreq=<Hz>), or give mne.Epochs / "
                "mne.io.Raw, which carry their own."
            )
        if sfreq is not None:
            _check_positive("input_sfreq", sfreq)
        return sfreq

    def _check_input(self, X) -> None:
        inst = _first_mne(X)
        if inst is None:
            as_mne_or_array(X)
            self._array_sfreq()
            return
        given = getattr(self, "input_sfreq", None)
        if given is not None and given != inst.info["sfreq"]:
            raise ValueError(
                f"input_sfreq={given} but the MNE input is sampled at "
                f"{inst.info['sfreq']} Hz. input_sfreq describes arrays only; leave it "
                "None for MNE input."
            )

    def fit(self, X, y=None):
        """Check the parameters and the input; nothing is learned.

        Parameters
        ----------
        X : mne.Epochs | list of mne.Epochs | mne.io.Raw | list of mne.io.Raw | ndarray, \
shape (n_epochs, n_channels, n_times)
            EEG input.
        y : None
            Ignored.

        Returns
        -------
        self : object
            This transformer.
        """
        self._check_params()
        self._check_input(X)
        return self

    def transform(self, X):
        """Apply the step to a copy of ``X``.

        Parameters
        ----------
        X : mne.Epochs | list of mne.Epochs | mne.io.Raw | list of mne.io.Raw | ndarray, \
shape (n_epochs, n_channels, n_times)
            EEG input.

        Returns
        -------
        Xt : mne.Epochs | mne.io.Raw | list of mne.io.Raw | ndarray
            Same kind as ``X``; a list of Epochs comes back as one Epochs.
        """
        self._check_params()
        self._check_input(X)
        data = as_mne_or_array(X)
        if isinstance(data, np.ndarray):
            return self._transform_array(data, self._array_sfreq())
        if isinstance(data, BaseEpochs):
            inst = data.copy() if data is X else data
            return self._transform_inst(_loaded(inst))
        raws = [self._transform_inst(_loaded(raw.copy())) for raw in data]
        return raws[0] if isinstance(X, BaseRaw) else raws

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class BandpassFilter(_EEGTransformer):
    """Band-pass, high-pass or low-pass filter EEG with MNE.

    MNE objects are filtered with :meth:`mne.Epochs.filter` / :meth:`mne.io.Raw.filter`
    (MNE's default picks: data channels such as EEG, not ``misc`` or ``ecg``); arrays
    with :func:`mne.filter.filter_data` on every channel. Both get the same filter
    options, so an array and an Epochs holding the same EEG come out equal. Epochs are
    filtered window by window: a high-pass much below ``1 / window length`` is better
    applied to the continuous Raw.

    Parameters
    ----------
    l_freq : float | None
        Lower pass-band edge in Hz; ``None`` for a low-pass filter.
    h_freq : float | None
        Upper pass-band edge in Hz; ``None`` for a high-pass filter.
    input_sfreq : float | None
        Sampling rate of array input in Hz (required for arrays, unused for MNE input).
    method : {"fir", "iir"}
        Filter family, as in :func:`mne.filter.filter_data`.
    iir_params : dict | None
        IIR design, see :func:`mne.filter.construct_iir_filter`.
    phase : str
        Filter phase, e.g. ``"zero"`` (default) or ``"minimum"``.
    fir_window : str
        FIR window, default ``"hamming"``.
    fir_design : str
        FIR design, default ``"firwin"``.
    pad : str
        Edge padding, default ``"reflect_limited"``.
    n_jobs : int | None
        Parallel jobs passed to MNE.
    verbose : bool | str | int | None
        MNE logging level; ``False`` (default) shows warnings only.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((8, 4, 512))
    >>> Xf = BandpassFilter(l_freq=8.0, h_freq=30.0, input_sfreq=128.0).fit_transform(X)
    >>> Xf.shape
    (8, 4, 512)
    """

    def __init__(
        self,
        l_freq,
        h_freq,
        *,
        input_sfreq=None,
        method="fir",
        iir_params=None,
        phase="zero",
        fir_window="hamming",
        fir_design="firwin",
        pad="reflect_limited",
        n_jobs=None,
        verbose=False,
    ):
        self.l_freq = l_freq
        self.h_freq = h_freq
        self.input_sfreq = input_sfreq
        self.method = method
        self.iir_params = iir_params
        self.phase = phase
        self.fir_window = fir_window
        self.fir_design = fir_design
        self.pad = pad
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self) -> None:
        if self.l_freq is None and self.h_freq is None:
            raise ValueError(
                "BandpassFilter needs l_freq and/or h_freq in Hz; both are None. "
                "Drop the step to leave the data unfiltered."
            )
        _check_positive("l_freq", self.l_freq, allow_none=True)
        _check_positive("h_freq", self.h_freq, allow_none=True)
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ValueError(
                f"l_freq ({self.l_freq}) must be below h_freq ({self.h_freq}) for a "
                "band-pass filter (MNE treats l_freq > h_freq as a band-stop)."
            )
        check_option("method", self.method, ("fir", "iir"))

    def _needs_sfreq(self) -> bool:
        return True

    def _options(self) -> dict:
        return dict(
            method=self.method,
            iir_params=self.iir_params,
            phase=self.phase,
            fir_window=self.fir_window,
            fir_design=self.fir_design,
            pad=self.pad,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
        )

    def _transform_inst(self, inst):
        return inst.filter(self.l_freq, self.h_freq, **self._options())

    def _transform_array(self, X, sfreq):
        return mne.filter.filter_data(
            X, sfreq, self.l_freq, self.h_freq, copy=True, **self._options()
        )


class Resample(_EEGTransformer):
    """Resample EEG to a new sampling rate with MNE.

    MNE objects use :meth:`mne.Epochs.resample` / :meth:`mne.io.Raw.resample` (events
    and ``info["sfreq"]`` follow); arrays use :func:`mne.filter.resample` along the last
    axis. Both get the same options. Resampling continuous Raw before cutting windows
    avoids edge effects.

    Parameters
    ----------
    sfreq : float
        New sampling rate in Hz.
    input_sfreq : float | None
        Sampling rate of array input in Hz (required for arrays, unused for MNE input).
    npad : int | str
        Padding, default ``"auto"``.
    window : str | tuple
        Frequency-domain window for the FFT method, default ``"auto"``.
    pad : str
        Padding type, default ``"auto"``.
    method : {"fft", "polyphase"}
        Resampling method.
    n_jobs : int | None
        Parallel jobs passed to MNE.
    verbose : bool | str | int | None
        MNE logging level; ``False`` (default) shows warnings only.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((3, 2, 500))
    >>> Resample(sfreq=128.0, input_sfreq=500.0).fit_transform(X).shape
    (3, 2, 128)
    """

    def __init__(
        self,
        sfreq,
        *,
        input_sfreq=None,
        npad="auto",
        window="auto",
        pad="auto",
        method="fft",
        n_jobs=None,
        verbose=False,
    ):
        self.sfreq = sfreq
        self.input_sfreq = input_sfreq
        self.npad = npad
        self.window = window
        self.pad = pad
        self.method = method
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self) -> None:
        _check_positive("sfreq", self.sfreq)
        check_option("method", self.method, ("fft", "polyphase"))

    def _needs_sfreq(self) -> bool:
        return True

    def _options(self) -> dict:
        return dict(
            npad=self.npad,
            window=self.window,
            pad=self.pad,
            method=self.method,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
        )

    def _transform_inst(self, inst):
        return inst.resample(self.sfreq, **self._options())

    def _transform_array(self, X, sfreq):
        return mne.filter.resample(X, up=self.sfreq, down=sfreq, axis=-1, **self._options())


class PickChannels(_EEGTransformer):
    """Keep some channels, in the order given.

    MNE objects use :meth:`mne.Epochs.pick`, so ``picks`` may be channel names, channel
    types (``"eeg"``), indices or ``"data"``. Arrays have no channel types: ``picks``
    must be indices, a boolean mask, or names together with ``ch_names``.

    Parameters
    ----------
    picks : str | list of str | list of int | ndarray
        Channels to keep.
    ch_names : list of str | None
        Channel names of array input, needed to pick arrays by name.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(2 * 3 * 4.0).reshape(2, 3, 4)
    >>> picker = PickChannels(["Pz", "Cz"], ch_names=["Cz", "Pz", "Oz"])
    >>> picker.fit_transform(X)[0]
    array([[4., 5., 6., 7.],
           [0., 1., 2., 3.]])
    """

    def __init__(self, picks, *, ch_names=None):
        self.picks = picks
        self.ch_names = ch_names

    def _check_params(self) -> None:
        single = isinstance(self.picks, (str, numbers.Integral))
        if self.picks is None or (not single and len(self.picks) == 0):
            raise ValueError(
                f"picks must name at least one channel (names, types, or indices); got "
                f"{self.picks!r}."
            )

    def _transform_inst(self, inst):
        picks = self.picks
        if isinstance(picks, np.ndarray) and picks.dtype == bool:
            picks = np.flatnonzero(picks)
        return inst.pick(picks)

    def _array_indices(self, n_channels: int) -> np.ndarray:
        picks = [self.picks] if isinstance(self.picks, str) else self.picks
        picks = np.atleast_1d(np.asarray(picks))
        if picks.dtype == bool:
            if picks.shape != (n_channels,):
                raise ValueError(
                    f"A boolean picks mask needs one entry per channel ({n_channels}); "
                    f"got shape {picks.shape}."
                )
            return np.flatnonzero(picks)
        if np.issubdtype(picks.dtype, np.integer):
            if picks.min() < -n_channels or picks.max() >= n_channels:
                raise ValueError(
                    f"Channel indices must lie in 0..{n_channels - 1}; got {picks.tolist()}."
                )
            return picks
        if self.ch_names is None:
            raise ValueError(
                f"Array input has no channel names, so picks={self.picks!r} cannot be "
                "resolved. Pass ch_names=<list of the array's channel names>, pick by "
                "index, or give mne.Epochs / mne.io.Raw."
            )
        if len(self.ch_names) != n_channels:
            raise ValueError(
                f"ch_names has {len(self.ch_names)} names but the array has {n_channels} channels."
            )
        return mne.pick_channels(list(self.ch_names), include=list(picks), ordered=True)

    def _transform_array(self, X, sfreq):
        return X[:, self._array_indices(X.shape[1])]


class ExponentialMovingStandardize(_EEGTransformer):
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
        _check_positive("eps", self.eps)
        if not (isinstance(self.scale, str) and self.scale == "auto"):
            if isinstance(self.scale, str):
                raise ValueError(f"scale must be 'auto' or a positive number; got {self.scale!r}.")
            _check_positive("scale", self.scale)

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


class RobustScale(_EEGTransformer):
    """Scale each channel of each window by its median and interquartile range.

    Per window and per channel (per recording and channel for Raw),
    ``x -> (x - median(x)) / (q75(x) - q25(x))`` over time, computed by
    :func:`sklearn.preprocessing.robust_scale` (a zero range leaves the scale at 1).
    This makes inputs of any unit (volts, microvolts, arbitrary) comparable and is robust
    to a few large artefacts. All channels of MNE objects are scaled; the output is
    unitless.

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


class EEGPreprocessor(_EEGTransformer):
    """Pick channels, band-pass filter and resample in one step.

    Runs :class:`PickChannels`, :class:`BandpassFilter` and :class:`Resample` in this
    order, skipping those left at ``None``: picking first saves work, and filtering
    before resampling keeps the band edges exact. The input must be sampled fast enough
    for ``h_freq`` and ``h_freq`` must lie below the new Nyquist frequency
    ``sfreq / 2``.

    Parameters
    ----------
    l_freq, h_freq : float | None
        Pass-band edges in Hz; both ``None`` skips filtering.
    sfreq : float | None
        New sampling rate in Hz; ``None`` keeps the input's.
    picks : str | list | None
        Channels to keep (see :class:`PickChannels`); ``None`` keeps all.
    input_sfreq : float | None
        Sampling rate of array input in Hz (needed for arrays when filtering or
        resampling).
    ch_names : list of str | None
        Channel names of array input, to pick arrays by name.
    filter_method : {"fir", "iir"}
        Passed to :class:`BandpassFilter` as ``method``.
    iir_params : dict | None
        Passed to :class:`BandpassFilter`.
    resample_method : {"fft", "polyphase"}
        Passed to :class:`Resample` as ``method``.
    n_jobs : int | None
        Parallel jobs passed to MNE.
    verbose : bool | str | int | None
        MNE logging level; ``False`` (default) shows warnings only.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((5, 3, 1000))
    >>> prep = EEGPreprocessor(l_freq=1.0, h_freq=40.0, sfreq=128.0, picks=[0, 2],
    ...                        input_sfreq=250.0)
    >>> prep.fit_transform(X).shape
    (5, 2, 512)
    """

    def __init__(
        self,
        l_freq=None,
        h_freq=None,
        sfreq=None,
        picks=None,
        *,
        input_sfreq=None,
        ch_names=None,
        filter_method="fir",
        iir_params=None,
        resample_method="fft",
        n_jobs=None,
        verbose=False,
    ):
        self.l_freq = l_freq
        self.h_freq = h_freq
        self.sfreq = sfreq
        self.picks = picks
        self.input_sfreq = input_sfreq
        self.ch_names = ch_names
        self.filter_method = filter_method
        self.iir_params = iir_params
        self.resample_method = resample_method
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _steps(self) -> list[_EEGTransformer]:
        steps: list[_EEGTransformer] = []
        if self.picks is not None:
            steps.append(PickChannels(self.picks, ch_names=self.ch_names))
        if self.l_freq is not None or self.h_freq is not None:
            steps.append(
                BandpassFilter(
                    self.l_freq,
                    self.h_freq,
                    input_sfreq=self.input_sfreq,
                    method=self.filter_method,
                    iir_params=self.iir_params,
                    n_jobs=self.n_jobs,
                    verbose=self.verbose,
                )
            )
        if self.sfreq is not None:
            steps.append(
                Resample(
                    self.sfreq,
                    input_sfreq=self.input_sfreq,
                    method=self.resample_method,
                    n_jobs=self.n_jobs,
                    verbose=self.verbose,
                )
            )
        return steps

    def _check_params(self) -> None:
        for step in self._steps():
            step._check_params()
        check_option("filter_method", self.filter_method, ("fir", "iir"))
        check_option("resample_method", self.resample_method, ("fft", "polyphase"))
        if self.sfreq is not None and self.h_freq is not None and self.h_freq >= self.sfreq / 2:
            raise ValueError(
                f"h_freq ({self.h_freq} Hz) must lie below the new Nyquist frequency "
                f"sfreq / 2 = {self.sfreq / 2} Hz; lower h_freq or raise sfreq."
            )

    def _needs_sfreq(self) -> bool:
        return any(step._needs_sfreq() for step in self._steps())

    def _transform_inst(self, inst):
        for step in self._steps():
            inst = step._transform_inst(inst)
        return inst

    def _transform_array(self, X, sfreq):
        steps = self._steps()
        if not steps:
            return X.copy()
        for step in steps:
            X = step._transform_array(X, sfreq)
        return X
