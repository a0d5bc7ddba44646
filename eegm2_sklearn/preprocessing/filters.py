"""Band-pass filtering and resampling with MNE, for MNE objects and arrays alike."""

from __future__ import annotations

import mne

from ..validation import check_option
from .base import EEGTransformer, check_positive


class MNEStep(EEGTransformer):
    """A step that calls MNE with its options and needs ``input_sfreq`` for arrays."""

    mne_options: tuple[str, ...] = ()

    def _needs_sfreq(self) -> bool:
        return True

    def _options(self) -> dict:
        return {name: getattr(self, name) for name in self.mne_options}


class BandpassFilter(MNEStep):
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

    #: Parameters passed on to MNE as they are.
    mne_options = (
        "method",
        "iir_params",
        "phase",
        "fir_window",
        "fir_design",
        "pad",
        "n_jobs",
        "verbose",
    )

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
        check_positive("l_freq", self.l_freq, allow_none=True)
        check_positive("h_freq", self.h_freq, allow_none=True)
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ValueError(
                f"l_freq ({self.l_freq}) must be below h_freq ({self.h_freq}) for a "
                "band-pass filter (MNE treats l_freq > h_freq as a band-stop)."
            )
        check_option("method", self.method, ("fir", "iir"))

    def _transform_inst(self, inst):
        return inst.filter(self.l_freq, self.h_freq, **self._options())

    def _transform_array(self, X, sfreq):
        return mne.filter.filter_data(
            X, sfreq, self.l_freq, self.h_freq, copy=True, **self._options()
        )


class Resample(MNEStep):
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

    #: Parameters passed on to MNE as they are.
    mne_options = ("npad", "window", "pad", "method", "n_jobs", "verbose")

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
        check_positive("sfreq", self.sfreq)
        check_option("method", self.method, ("fft", "polyphase"))

    def _transform_inst(self, inst):
        return inst.resample(self.sfreq, **self._options())

    def _transform_array(self, X, sfreq):
        return mne.filter.resample(X, up=self.sfreq, down=sfreq, axis=-1, **self._options())
