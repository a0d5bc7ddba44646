"""What every transformer of :mod:`eegm2_sklearn.preprocessing` shares: input handling
(arrays, Epochs, lists of Epochs, Raw, lists of Raw) and the parameter checks."""

from __future__ import annotations

import numbers

import numpy as np
from mne import BaseEpochs
from mne.io import BaseRaw
from sklearn.base import BaseEstimator, TransformerMixin

from ..data.mne_inputs import as_mne_or_array

__all__ = ["EEGTransformer", "check_positive"]


def check_positive(name: str, value, *, allow_none: bool = False) -> None:
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


class EEGTransformer(TransformerMixin, BaseEstimator):
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
            check_positive("input_sfreq", sfreq)
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
