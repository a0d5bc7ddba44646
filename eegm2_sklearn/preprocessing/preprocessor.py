"""Pick, filter and resample in one step: the preprocessing path the command line and the
data set helpers use too."""

from __future__ import annotations

from ..validation import check_option
from .base import EEGTransformer
from .channels import PickChannels
from .filters import BandpassFilter, Resample


class EEGPreprocessor(EEGTransformer):
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

    def _steps(self) -> list[EEGTransformer]:
        steps: list[EEGTransformer] = []
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
