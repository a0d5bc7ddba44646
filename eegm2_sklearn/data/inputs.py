"""Convert every input the estimators accept into one container, :class:`EEGArray`.

Accepted inputs
---------------
- ``ndarray`` of shape ``(n_epochs, n_channels, n_times)`` (or anything ``np.asarray``
  turns into one, e.g. a list of equally shaped 2-D arrays);
- ``mne.Epochs`` / ``mne.EpochsArray`` (any :class:`mne.BaseEpochs`);
- a list of Epochs, which is what scikit-learn's cross-validation hands to ``fit`` when it
  indexes an Epochs object (Epochs has no ``.shape``, so each index becomes a one-epoch
  Epochs);
- braindecode datasets: a ``BaseConcatDataset`` of windows, an ``EEGWindowsDataset`` or a
  ``WindowsDataset``; labels are read from them when present;
- only with ``allow_raw=True`` (pretraining): ``mne.io.Raw``, a list of Raw, or a
  braindecode ``BaseConcatDataset`` of ``RawDataset``; they are cut into windows of
  ``window_seconds`` (stride ``window_stride_seconds``, by default the window) with
  braindecode's :func:`~braindecode.preprocessing.create_fixed_length_windows`, dropping the
  incomplete last window.

Units
-----
MNE objects (Epochs, Raw) are read in volts, MNE's unit for EEG (``get_data()`` without
``units``). Arrays and braindecode datasets are taken as given: braindecode datasets hold
whatever the user put in them, and many braindecode pipelines scale to microvolts. So
``EEGM2Classifier().fit(epochs, y)`` and ``.predict(epochs.get_data(picks="data"))`` see
the same numbers. The estimators' per-window scaling (``scaling="robust"`` by default, see
:mod:`eegm2_sklearn.data.scaling`) then makes the models independent of the unit.

Channels
--------
From MNE objects only the *data* channels are taken (``picks="data"``: EEG, MEG, sEEG,
ECoG, DBS, CSD, fNIRS; not EOG, ECG, EMG, misc or stim channels). Channels marked bad are
kept, so every epoch has the same channels: interpolate them first
(``epochs.interpolate_bads()``). From braindecode datasets all channels are taken, as
braindecode serves them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .braindecode_inputs import stack_braindecode
from .checks import (
    check_3d,
    check_finite,
    check_n_chans,
    check_n_times,
    check_not_empty,
    check_y_length,
    to_float32,
)
from .eeg_array import EEGArray
from .kinds import input_kind, is_path_list
from .mne_inputs import epochs_to_eeg_array, stack_epochs_list
from .windows import window_raws

#: How the messages name each kind of continuous input.
_RAW_NAMES = {
    "raw": "an mne Raw",
    "braindecode_raw": "a braindecode dataset of raw",
    "raw_list": "a list of mne Raw",
}


def _raw_not_allowed(kind: str) -> ValueError:
    return ValueError(
        f"X is {kind} (continuous recordings); this estimator needs windows. Cut them into "
        "Epochs first, e.g. mne.make_fixed_length_epochs(raw, duration=4.0, preload=True), "
        "or pretrain on the recordings with EEGM2Pretrainer(window_seconds=...), which cuts "
        "Raw into windows itself."
    )


def _from_tensor(X: Any) -> np.ndarray:
    """A torch tensor as a NumPy array, or a ``ValueError`` saying how to pass it."""
    if X.requires_grad:
        raise ValueError(
            "X is a torch.Tensor that requires grad (part of an autograd graph); the "
            "estimators take the data only. Pass X.detach() (or X.detach().cpu().numpy())."
        )
    try:
        return X.numpy()
    except (TypeError, RuntimeError) as err:  # on a GPU, or bfloat16
        raise ValueError(
            f"Cannot read X, a torch.Tensor of dtype {X.dtype} on {X.device}, as a NumPy "
            f"array ({err}). Pass X.cpu().float().numpy()."
        ) from err


def _from_arraylike(X: Any) -> EEGArray:
    if type(X).__module__.startswith("torch") and hasattr(X, "requires_grad"):
        X = _from_tensor(X)
    if is_path_list(X):
        raise ValueError(
            "X is a file path or a list of file paths; only EEGM2Pretrainer.fit reads "
            "recordings from files (streaming them window by window). Elsewhere load the "
            "data first, e.g. mne.io.read_raw(path) and mne.make_fixed_length_epochs."
        )
    if isinstance(X, (list, tuple)) and len(X) > 0:
        shapes = {np.shape(x) for x in X}
        if len(shapes) > 1:
            raise ValueError(
                f"X is a list of arrays of different shapes ({sorted(shapes)[:5]}); expected "
                "arrays of one shape (n_channels, n_times). Crop or pad them to one length, "
                "or pass Epochs."
            )
    try:
        X = np.asarray(X)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"Cannot convert X of type {type(X).__name__} to an array of shape (n_epochs, "
            f"n_channels, n_times) ({err}). Pass a NumPy array, mne Epochs or a braindecode "
            "dataset."
        ) from err
    if X.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: X has dtype {X.dtype}; expected real numbers. Pass "
            "the real signal (e.g. X.real) or its magnitude (np.abs(X))."
        )
    if X.dtype.kind == "O":
        try:  # e.g. an object array of Python floats
            X = X.astype(np.float64)
        except (ValueError, TypeError) as err:
            raise TypeError(
                f"X has dtype object and cannot be converted to float ({err}); expected real "
                "numbers. Convert it, e.g. X.astype(np.float32)."
            ) from err
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"X has dtype {X.dtype}; expected real numbers (float). Convert it, e.g. "
            "X.astype(np.float32)."
        )
    if X.size == 0 and X.ndim >= 1 and X.shape[0] == 0:
        check_not_empty(0)
    check_3d(X)
    return EEGArray(X=to_float32(X), source="array")


def to_eeg_array(
    X: Any,
    y: Any = None,
    *,
    allow_raw: bool = False,
    window_seconds: float | None = None,
    window_stride_seconds: float | None = None,
    picks: Any = "data",
    validate: bool = True,
) -> EEGArray:
    """Convert any accepted input to an :class:`EEGArray` and check it.

    Parameters
    ----------
    X : ndarray, mne.Epochs, list of Epochs, braindecode dataset, mne.io.Raw or list of Raw
        The data; see the module docstring for units and channels. Raw (and braindecode
        datasets of raw recordings) only with ``allow_raw=True``.
    y : array-like of shape (n_epochs,) or None
        Labels. When None, labels carried by a braindecode dataset are used.
    allow_raw : bool
        Accept continuous recordings and cut them into windows (pretraining).
    window_seconds : float or None
        Window length for Raw input; required when Raw is given.
    window_stride_seconds : float or None
        Stride for Raw input; None means ``window_seconds``.
    picks : str, list or slice
        Channels taken from MNE objects (default: MNE's data channels).
    validate : bool
        Run the data checks: not empty, 3-D, finite, at least 8 samples, one label per
        epoch.

    Returns
    -------
    data : EEGArray
        ``X`` as float32 ``(n_epochs, n_channels, n_times)`` with ``sfreq``, ``ch_names``
        and ``y`` when known.

    Raises
    ------
    ValueError
        For input that cannot be used, with what to do about it.

    Examples
    --------
    >>> import mne, numpy as np
    >>> info = mne.create_info(["Cz", "Pz", "ECG"], 128.0, ["eeg", "eeg", "ecg"])
    >>> epochs = mne.EpochsArray(np.ones((4, 3, 256)) * 1e-5, info, verbose=False)
    >>> data = to_eeg_array(epochs)
    >>> data.X.shape, data.sfreq, data.ch_names
    ((4, 2, 256), 128.0, ['Cz', 'Pz'])
    >>> np.array_equal(to_eeg_array(epochs.get_data(picks="data")).X, data.X)
    True
    """
    kind = input_kind(X)
    if kind == "eeg_array":
        data = X
    elif kind == "epochs":
        data = epochs_to_eeg_array(X, picks)
    elif kind in ("raw", "braindecode_raw", "raw_list"):
        if not allow_raw:
            raise _raw_not_allowed(_RAW_NAMES[kind])
        if kind == "raw":
            raws = [X]
        elif kind == "raw_list":
            raws = X
        else:
            raws = [ds.raw for ds in X.datasets]
        data = window_raws(raws, window_seconds, window_stride_seconds, picks)
    elif kind == "braindecode":
        data = stack_braindecode(X, picks=None)
    elif kind == "epochs_list":
        data = stack_epochs_list(X, picks)
    else:  # arrays; paths and other inputs are refused there with what to do
        data = _from_arraylike(X)

    if y is not None:
        data = EEGArray(data.X, data.sfreq, data.ch_names, np.asarray(y), data.source)
    if validate:
        validate_eeg_array(data)
    return data


def validate_eeg_array(data: EEGArray) -> None:
    """Run the data checks on an :class:`EEGArray`.

    Checks: at least one epoch, 3-D, finite values, at least 8 samples per window, and,
    when ``y`` is set, one 1-D label per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> validate_eeg_array(EEGArray(np.zeros((2, 3, 16), np.float32)))
    """
    check_3d(data.X)
    check_not_empty(data.n_epochs)
    check_n_chans(data.n_chans)
    check_n_times(data.n_times)
    check_finite(data.X)
    if data.y is not None:
        check_y_length(data.n_epochs, data.y)
