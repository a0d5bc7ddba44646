"""The one container of EEG windows that every input becomes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class EEGArray:
    """EEG windows in one form, whatever the user passed.

    Attributes
    ----------
    X : ndarray, shape (n_epochs, n_channels, n_times), float32
        The data. MNE objects are read in volts; arrays and braindecode datasets are kept
        in the unit given (see the module docstring). A float32 array passed in is kept
        as is (no copy): never modify ``X`` in place.
    sfreq : float or None
        Sampling rate in Hz; None for plain arrays.
    ch_names : list of str or None
        Channel names, in the order of ``X``'s channel axis; None for plain arrays.
    y : ndarray, shape (n_epochs,), or None
        Labels, when passed or carried by a braindecode dataset.
    source : str
        What the data came from: ``"array"``, ``"epochs"``, ``"epochs_list"``,
        ``"raw"`` or ``"braindecode"``.
    """

    X: np.ndarray
    sfreq: float | None = None
    ch_names: list[str] | None = None
    y: np.ndarray | None = None
    source: str = "array"

    @property
    def n_epochs(self) -> int:
        """Number of windows."""
        return self.X.shape[0]

    @property
    def n_chans(self) -> int:
        """Number of channels."""
        return self.X.shape[1]

    @property
    def n_times(self) -> int:
        """Samples per window."""
        return self.X.shape[2]
