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
``_scaling``) then makes the models independent of the unit.

Channels
--------
From MNE objects only the *data* channels are taken (``picks="data"``: EEG, MEG, sEEG,
ECoG, DBS, CSD, fNIRS; not EOG, ECG, EMG, misc or stim channels). Channels marked bad are
kept, so every epoch has the same channels: interpolate them first
(``epochs.interpolate_bads()``). From braindecode datasets all channels are taken, as
braindecode serves them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mne
import numpy as np

from .._mne_inputs import epochs_list_to_epochs
from ..environment import import_braindecode
from ._validation import (
    check_3d,
    check_finite,
    check_min_n_times,
    check_n_chans,
    check_not_empty,
    check_y_length,
)


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


# --------------------------------------------------------------------------------------
# MNE


def _picked_names(info: mne.Info, picks: Any) -> list[str]:
    """Channel names MNE's ``get_data(picks=...)`` returns, in its order."""
    try:
        from mne._fiff.pick import _picks_to_idx
    except ImportError:  # older MNE
        from mne.io.pick import _picks_to_idx
    idx = _picks_to_idx(info, picks, "all", exclude=(), allow_empty=False)
    return [info["ch_names"][i] for i in idx]


def _from_epochs(epochs: mne.BaseEpochs, picks: Any) -> EEGArray:
    X = epochs.get_data(picks=picks, copy=False)
    return EEGArray(
        X=np.asarray(X, dtype=np.float32),
        sfreq=float(epochs.info["sfreq"]),
        ch_names=_picked_names(epochs.info, picks),
        source="epochs",
    )


def stack_epochs_list(epochs_list: Sequence[mne.BaseEpochs], picks: Any = "data") -> EEGArray:
    """Stack a list of Epochs (e.g. one-epoch Epochs from a CV split) into one array.

    The list is joined with :func:`eegm2_sklearn._mne_inputs.epochs_list_to_epochs`, then
    read like one Epochs object.

    Parameters
    ----------
    epochs_list : list of mne.BaseEpochs
        Epochs objects with the same channels (names and order), sampling rate and length.
    picks : str, list or slice
        Channels to take, as in :meth:`mne.Epochs.get_data`.

    Returns
    -------
    data : EEGArray
        ``X`` of shape ``(sum of len(e), n_channels, n_times)`` in volts.

    Raises
    ------
    ValueError
        Elements differ in channels, sampling rate or length, or one is not an Epochs.

    Examples
    --------
    >>> import mne, numpy as np
    >>> info = mne.create_info(["Cz", "Pz"], 128.0, "eeg")
    >>> epochs = mne.EpochsArray(np.zeros((3, 2, 64)), info, verbose=False)
    >>> stack_epochs_list([epochs[i] for i in range(3)]).X.shape
    (3, 2, 64)
    """
    try:
        joined = epochs_list_to_epochs(epochs_list)
    except TypeError as err:  # a non-Epochs element: a data error for the user
        raise ValueError(f"X is a list of mne Epochs with a foreign element: {err}") from err
    data = _from_epochs(joined, picks)
    return EEGArray(X=data.X, sfreq=data.sfreq, ch_names=data.ch_names, source="epochs_list")


# --------------------------------------------------------------------------------------
# braindecode


def _braindecode_base():
    """braindecode's dataset module if braindecode is imported, else None.

    An object can only be a braindecode dataset if braindecode was imported, so this
    avoids importing braindecode (slow) for arrays and MNE objects.
    """
    return sys.modules.get("braindecode.datasets.base")


def _is_braindecode_dataset(X: Any) -> bool:
    base = _braindecode_base()
    return base is not None and isinstance(
        X, (base.BaseConcatDataset, base.EEGWindowsDataset, base.WindowsDataset)
    )


def _is_braindecode_raw_concat(X: Any) -> bool:
    base = _braindecode_base()
    return (
        base is not None
        and isinstance(X, base.BaseConcatDataset)
        and len(X.datasets) > 0
        and all(isinstance(ds, base.RawDataset) for ds in X.datasets)
    )


def _windows_of(ds: Any, picks: Any) -> tuple[np.ndarray, list, list[str] | None, float | None]:
    """Windows, targets, channel names and sampling rate of one braindecode dataset."""
    base = _braindecode_base()
    plain = getattr(ds, "transform", None) is None and (
        getattr(ds, "targets_from", "metadata") == "metadata"
    )
    if plain and isinstance(ds, base.EEGWindowsDataset):
        # read the recording once and slice it, instead of one read per window
        data = ds.raw.get_data(picks=picks)
        X = np.stack([data[:, start:stop] for _, start, stop in ds.crop_inds])
        info = ds.raw.info
        names = _picked_names(info, picks)
        return X, list(ds.y), names, float(info["sfreq"])
    if plain and isinstance(ds, base.WindowsDataset):
        info = ds.windows.info
        X = ds.windows.get_data(picks=picks)
        return X, list(ds.y), _picked_names(info, picks), float(info["sfreq"])
    # anything else (transforms, targets from channels, other dataset types): per item
    items = [ds[i] for i in range(len(ds))]
    X = np.stack([np.asarray(it[0]) for it in items])
    y = [it[1] for it in items]
    info = getattr(getattr(ds, "raw", None), "info", None)
    if info is None and hasattr(ds, "windows"):
        info = ds.windows.info
    sfreq = float(info["sfreq"]) if info is not None else None
    names = list(info["ch_names"]) if info is not None else None
    if names is not None and len(names) != X.shape[1]:
        names = None  # the dataset dropped channels (e.g. misc targets): names unknown
    return X, y, names, sfreq


def _targets_to_y(targets: list) -> np.ndarray | None:
    """Labels from braindecode targets, None when the dataset has no target.

    braindecode stores -1 for windows cut from recordings without a target.
    """
    if all(t is None for t in targets):
        return None
    y = np.asarray(targets)
    if y.dtype.kind in "iuf" and y.ndim == 1 and np.all(y == -1):
        return None
    return y


def stack_braindecode(dataset: Any, picks: Any = None) -> EEGArray:
    """Stack a braindecode windows dataset into one array, with its labels.

    Parameters
    ----------
    dataset : BaseConcatDataset, EEGWindowsDataset or WindowsDataset
        Windows of equal length with the same channels (braindecode pipelines make them).
    picks : str, list, slice or None
        Channels to take from datasets without a transform; None takes all channels, as
        braindecode serves them.

    Returns
    -------
    data : EEGArray
        ``X`` in the dataset's unit; ``y`` from the datasets' targets, or None when they
        have none (braindecode's placeholder target -1).

    Examples
    --------
    >>> import mne, numpy as np
    >>> with mne.use_log_level("error"):  # silence a deprecation notice at import
    ...     from braindecode.datasets import BaseConcatDataset, RawDataset
    ...     from braindecode.preprocessing import create_fixed_length_windows
    >>> info = mne.create_info(["Cz", "Pz"], 100.0, "eeg")
    >>> raw = mne.io.RawArray(np.zeros((2, 1000)), info, verbose=False)
    >>> windows = create_fixed_length_windows(
    ...     BaseConcatDataset([RawDataset(raw)]), window_size_samples=200,
    ...     window_stride_samples=200, on_last_window="drop")
    >>> stack_braindecode(windows).X.shape
    (5, 2, 200)
    """
    base = _braindecode_base()
    parts = dataset.datasets if isinstance(dataset, base.BaseConcatDataset) else [dataset]
    if len(parts) == 0 or len(dataset) == 0:
        check_not_empty(0)
    Xs, ys = [], []
    ref = None
    for i, ds in enumerate(parts):
        if len(ds) == 0:
            continue
        X, y, names, sfreq = _windows_of(ds, picks)
        if ref is None:
            ref = (i, X.shape[1:], names, sfreq)
        elif X.shape[1:] != ref[1] or names != ref[2] or sfreq != ref[3]:
            raise ValueError(
                f"Dataset {i} of the braindecode dataset has windows of shape {X.shape[1:]} "
                f"at {sfreq} Hz with channels {names}, but dataset {ref[0]} has "
                f"{ref[1]} at {ref[3]} Hz with channels {ref[2]}; expected the same "
                "channels, sampling rate and window length everywhere. Preprocess all "
                "recordings the same way (pick, resample) before windowing."
            )
        Xs.append(X)
        ys.extend(y)
    X = np.concatenate(Xs, axis=0).astype(np.float32, copy=False)
    return EEGArray(X=X, sfreq=ref[3], ch_names=ref[2], y=_targets_to_y(ys), source="braindecode")


def check_raws_for_windows(
    raws: Sequence[mne.io.BaseRaw],
    window_seconds: float | None,
    window_stride_seconds: float | None = None,
) -> tuple[int, int]:
    """Check recordings to be cut into windows; return window and stride in samples.

    Parameters
    ----------
    raws : list of mne.io.BaseRaw
        Recordings that must share channels (names and order) and sampling rate, and be at
        least one window long.
    window_seconds : float or None
        Window length in seconds (None is an error: Raw input needs it).
    window_stride_seconds : float or None
        Step between window starts; None means ``window_seconds``.

    Returns
    -------
    size, stride : int
        Window length and stride in samples.

    Raises
    ------
    ValueError
        With what differs or is too short, and how to fix it.

    Examples
    --------
    >>> import mne, numpy as np
    >>> raw = mne.io.RawArray(np.zeros((2, 1000)), mne.create_info(2, 100.0, "eeg"),
    ...                       verbose=False)
    >>> check_raws_for_windows([raw], 2.0, 1.0)
    (200, 100)
    """
    if window_seconds is None:
        raise ValueError(
            "Continuous recordings (mne.io.Raw) need window_seconds to be cut into "
            "windows; got window_seconds=None. Set e.g. EEGM2Pretrainer(window_seconds=4.0)."
        )
    if len(raws) == 0:
        check_not_empty(0)
    first = raws[0]
    sfreq = first.info["sfreq"]
    for i, raw in enumerate(raws):
        if not isinstance(raw, mne.io.BaseRaw):
            raise ValueError(
                f"X is a list whose element 0 is an mne Raw but element {i} is a "
                f"{type(raw).__name__}; expected a list of Raw only."
            )
        if raw.ch_names != first.ch_names:
            raise ValueError(
                f"Raw {i} of the list has channels {raw.ch_names} but raw 0 has "
                f"{first.ch_names}; expected the same channels in the same order. Use "
                "raw.pick / raw.reorder_channels to align them."
            )
        if raw.info["sfreq"] != sfreq:
            raise ValueError(
                f"Raw {i} of the list is sampled at {raw.info['sfreq']:g} Hz but raw 0 at "
                f"{sfreq:g} Hz; expected one sampling rate. Resample first, e.g. "
                f"raw.resample({sfreq:g})."
            )
    size = int(round(window_seconds * sfreq))
    stride = size if window_stride_seconds is None else int(round(window_stride_seconds * sfreq))
    if size < 1 or stride < 1:
        raise ValueError(
            f"window_seconds={window_seconds} and window_stride_seconds="
            f"{window_stride_seconds} give {size} and {stride} samples at {sfreq:g} Hz; "
            "expected at least 1 sample each."
        )
    short = [(i, raw.n_times) for i, raw in enumerate(raws) if raw.n_times < size]
    if short:
        shown = ", ".join(f"raw {i}: {n / sfreq:g} s" for i, n in short[:10])
        raise ValueError(
            f"{len(short)} recording(s) are shorter than window_seconds={window_seconds:g} "
            f"({size} samples at {sfreq:g} Hz): {shown}. Use shorter windows or leave those "
            "recordings out."
        )
    return size, stride


def fixed_length_windows(raws: Sequence[mne.io.BaseRaw], size: int, stride: int) -> Any:
    """braindecode windows of ``size`` samples every ``stride``, read lazily from ``raws``.

    A thin call of :func:`braindecode.preprocessing.create_fixed_length_windows` with
    ``preload=False`` (no data are read here) and the incomplete last window dropped.
    """
    datasets = import_braindecode("braindecode.datasets")
    preprocessing = import_braindecode("braindecode.preprocessing")
    concat = datasets.BaseConcatDataset(
        [datasets.RawDataset(raw, description={"recording": i}) for i, raw in enumerate(raws)]
    )
    return preprocessing.create_fixed_length_windows(
        concat,
        window_size_samples=size,
        window_stride_samples=stride,
        on_last_window="drop",
        preload=False,
    )


def window_raws(
    raws: Sequence[mne.io.BaseRaw],
    window_seconds: float,
    window_stride_seconds: float | None = None,
    picks: Any = "data",
) -> EEGArray:
    """Cut continuous recordings into fixed-length windows with braindecode.

    Parameters
    ----------
    raws : list of mne.io.BaseRaw
        Recordings with the same channels (names and order) and sampling rate.
    window_seconds : float
        Window length in seconds (rounded to whole samples).
    window_stride_seconds : float or None
        Step between window starts; None means ``window_seconds`` (no overlap).
    picks : str, list or slice
        Channels to take, as in :meth:`mne.io.Raw.get_data`.

    Returns
    -------
    data : EEGArray
        Windows in volts; the incomplete last window of each recording is dropped.

    Examples
    --------
    >>> import mne, numpy as np
    >>> info = mne.create_info(["Cz", "Pz"], 100.0, "eeg")
    >>> raw = mne.io.RawArray(np.zeros((2, 1050)), info, verbose=False)
    >>> window_raws([raw], window_seconds=2.0).X.shape
    (5, 2, 200)
    """
    size, stride = check_raws_for_windows(raws, window_seconds, window_stride_seconds)
    windows = fixed_length_windows(raws, size, stride)
    data = stack_braindecode(windows, picks=picks)
    sfreq = raws[0].info["sfreq"]
    return EEGArray(X=data.X, sfreq=float(sfreq), ch_names=data.ch_names, source="raw")


# --------------------------------------------------------------------------------------
# Entry point


def _raw_not_allowed(kind: str) -> ValueError:
    return ValueError(
        f"X is {kind} (continuous recordings); this estimator needs windows. Cut them into "
        "Epochs first, e.g. mne.make_fixed_length_epochs(raw, duration=4.0, preload=True), "
        "or pretrain on the recordings with EEGM2Pretrainer(window_seconds=...), which cuts "
        "Raw into windows itself."
    )


def _is_path_list(X: Any) -> bool:
    if isinstance(X, (str, bytes, os.PathLike)):
        return True
    return (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(isinstance(x, (str, os.PathLike)) for x in X)
    )


def _from_arraylike(X: Any) -> EEGArray:
    if _is_path_list(X):
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
            X = X.astype(np.float32)
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
    return EEGArray(X=X.astype(np.float32, copy=False), source="array")


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
    if isinstance(X, EEGArray):
        data = X
    elif isinstance(X, mne.BaseEpochs):
        data = _from_epochs(X, picks)
    elif isinstance(X, mne.io.BaseRaw) or _is_braindecode_raw_concat(X):
        if not allow_raw:
            raise _raw_not_allowed(
                "an mne Raw" if isinstance(X, mne.io.BaseRaw) else "a braindecode dataset of raw"
            )
        raws = [X] if isinstance(X, mne.io.BaseRaw) else [ds.raw for ds in X.datasets]
        data = window_raws(raws, window_seconds, window_stride_seconds, picks)
    elif _is_braindecode_dataset(X):
        data = stack_braindecode(X, picks=None)
    elif isinstance(X, (list, tuple)) and len(X) > 0 and isinstance(X[0], mne.BaseEpochs):
        data = stack_epochs_list(X, picks)
    elif isinstance(X, (list, tuple)) and len(X) > 0 and isinstance(X[0], mne.io.BaseRaw):
        if not allow_raw:
            raise _raw_not_allowed("a list of mne Raw")
        data = window_raws(X, window_seconds, window_stride_seconds, picks)
    else:
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
    check_min_n_times(data.n_times)
    check_finite(data.X)
    if data.y is not None:
        check_y_length(data.n_epochs, data.y)
