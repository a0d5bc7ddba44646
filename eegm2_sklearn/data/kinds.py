"""What an EEG input is: the one place that recognises every input the package takes.

:func:`input_kind` names the form of an input; :func:`~eegm2_sklearn.data.to_eeg_array`
(windows for the estimators), :func:`~eegm2_sklearn.data.as_mne_or_array` (MNE objects or
arrays for the preprocessing transformers) and :func:`~eegm2_sklearn.data.is_streamable`
(inputs read from disk window by window) all start from it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import mne

from .eeg_array import EEGArray

#: The values :func:`input_kind` returns.
INPUT_KINDS = (
    "eeg_array",
    "epochs",
    "epochs_list",
    "raw",
    "raw_list",
    "braindecode_raw",
    "braindecode",
    "paths",
    "array",
)


def braindecode_base():
    """braindecode's dataset module if braindecode is imported, else None.

    An object can only be a braindecode dataset if braindecode was imported, so this
    avoids importing braindecode (slow) for arrays and MNE objects.
    """
    return sys.modules.get("braindecode.datasets.base")


def is_braindecode_dataset(X: Any) -> bool:
    base = braindecode_base()
    return base is not None and isinstance(
        X, (base.BaseConcatDataset, base.EEGWindowsDataset, base.WindowsDataset)
    )


def is_braindecode_raw_concat(X: Any) -> bool:
    base = braindecode_base()
    return (
        base is not None
        and isinstance(X, base.BaseConcatDataset)
        and len(X.datasets) > 0
        and all(isinstance(ds, base.RawDataset) for ds in X.datasets)
    )


def is_path_list(X: Any) -> bool:
    if isinstance(X, (str, bytes, os.PathLike)):
        return True
    return (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(isinstance(x, (str, os.PathLike)) for x in X)
    )


def input_kind(X: Any) -> str:
    """The form of an EEG input, one of :data:`INPUT_KINDS`.

    ``"epochs_list"`` and ``"raw_list"`` are lists (or tuples) whose first element is an
    Epochs or a Raw (the readers check the others); ``"braindecode_raw"`` is a
    ``BaseConcatDataset`` of ``RawDataset``; ``"paths"`` a file path or a list of them;
    ``"array"`` anything else, which :func:`numpy.asarray` is left to read.

    Examples
    --------
    >>> import numpy as np
    >>> input_kind(np.zeros((2, 3, 16))), input_kind(["a.edf", "b.edf"])
    ('array', 'paths')
    """
    if isinstance(X, EEGArray):
        return "eeg_array"
    if isinstance(X, mne.BaseEpochs):
        return "epochs"
    if isinstance(X, mne.io.BaseRaw):
        return "raw"
    if is_braindecode_raw_concat(X):
        return "braindecode_raw"
    if is_braindecode_dataset(X):
        return "braindecode"
    if is_path_list(X):
        return "paths"
    if isinstance(X, (list, tuple)) and len(X) > 0:
        if isinstance(X[0], mne.BaseEpochs):
            return "epochs_list"
        if isinstance(X[0], mne.io.BaseRaw):
            return "raw_list"
    return "array"
