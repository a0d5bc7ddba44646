"""braindecode inputs: recognise braindecode datasets and stack their windows."""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_not_empty, to_float32
from .eeg_array import EEGArray
from .kinds import braindecode_base
from .mne_inputs import picked_names


def _windows_of(ds: Any, picks: Any) -> tuple[np.ndarray, list, list[str] | None, float | None]:
    """Windows, targets, channel names and sampling rate of one braindecode dataset."""
    base = braindecode_base()
    plain = getattr(ds, "transform", None) is None and (
        getattr(ds, "targets_from", "metadata") == "metadata"
    )
    if plain and isinstance(ds, base.EEGWindowsDataset):
        # read the recording once and slice it, instead of one read per window
        data = ds.raw.get_data(picks=picks)
        X = np.stack([data[:, start:stop] for _, start, stop in ds.crop_inds])
        info = ds.raw.info
        names = picked_names(info, picks)
        return X, list(ds.y), names, float(info["sfreq"])
    if plain and isinstance(ds, base.WindowsDataset):
        info = ds.windows.info
        X = ds.windows.get_data(picks=picks)
        return X, list(ds.y), picked_names(info, picks), float(info["sfreq"])
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
    base = braindecode_base()
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
    X = to_float32(np.concatenate(Xs, axis=0))
    return EEGArray(X=X, sfreq=ref[3], ch_names=ref[2], y=_targets_to_y(ys), source="braindecode")
