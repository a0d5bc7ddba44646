"""Channel selection for MNE objects and arrays."""

from __future__ import annotations

import numbers

import mne
import numpy as np

from .base import EEGTransformer


class PickChannels(EEGTransformer):
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
