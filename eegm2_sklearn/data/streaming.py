"""Pretraining input read window by window from disk, for corpora larger than memory.

:func:`stream_windows` turns lazy inputs into :class:`EEGWindowStream`, a
:class:`torch.utils.data.Dataset` whose items are single scaled windows read on demand.
Nothing is stacked: memory holds the recordings' headers, the window positions and the
batches in flight, whatever the size of the corpus.

Lazy inputs (:func:`is_streamable`):

- a file path or a list of file paths (anything :func:`mne.io.read_raw` opens: EDF, BDF,
  FIF, BrainVision, EEGLAB, ...), opened with ``preload=False``;
- ``mne.io.Raw`` objects, or a list of them, not preloaded (``preload=False``);
- braindecode datasets whose recordings are not preloaded: a ``BaseConcatDataset`` of
  ``RawDataset`` (cut into windows here) or of windows datasets (e.g. from
  ``create_fixed_length_windows(..., preload=False)`` or ``create_windows_from_events``).

Recordings are cut with braindecode's ``create_fixed_length_windows`` (``preload=False``)
exactly as the in-memory path cuts preloaded ones, the channels are MNE's data channels
(Raw and files) or all channels (braindecode windows), units are as MNE reads them
(volts), and each window is scaled in ``__getitem__`` with the estimator's ``scaling``.
Windows are checked for NaN/inf when read (a full pass beforehand would read the corpus
twice). Recordings must share channels and sampling rate: resample and pick beforehand (the
``eegm2 pretrain`` command does this into a cache of FIF files, one recording at a time).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mne
import numpy as np
import torch
from torch.utils.data import Dataset

from .checks import check_n_chans, check_n_times, check_not_empty
from .kinds import braindecode_base, input_kind, is_path_list
from .mne_inputs import picked_names
from .scaling import scale_windows
from .windows import check_raws_for_windows, fixed_length_windows


def _lazy_windows_part(ds: Any) -> bool:
    """A braindecode windows dataset whose data stay on disk."""
    if getattr(ds, "_zarr_data", None) is not None:
        return True
    data = getattr(ds, "_raw", None)
    if data is None:
        data = getattr(ds, "windows", None)  # WindowsDataset: mne Epochs
    return data is not None and not getattr(data, "preload", True)


def is_streamable(X: Any) -> bool:
    """True for inputs that :func:`stream_windows` reads lazily (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> is_streamable(["a.edf", "b.edf"]), is_streamable(np.zeros((2, 3, 16)))
    (True, False)
    """
    kind = input_kind(X)
    if kind == "paths":
        return True
    if kind == "raw":
        return not X.preload
    if kind == "raw_list":
        raws = all(isinstance(r, mne.io.BaseRaw) for r in X)
        return raws and any(not r.preload for r in X)
    if kind == "braindecode_raw":
        return any(not ds.raw.preload for ds in X.datasets)
    if kind == "braindecode":
        if isinstance(X, braindecode_base().BaseConcatDataset):
            return len(X.datasets) > 0 and any(_lazy_windows_part(ds) for ds in X.datasets)
        return _lazy_windows_part(X)
    return False


def _open_files(paths: Sequence[str | os.PathLike]) -> list[mne.io.BaseRaw]:
    raws = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            raise ValueError(
                f"{path} is a folder; pass the recordings in it, e.g. "
                f"sorted(Path({str(path)!r}).glob('*.edf')), or use the command line "
                "`eegm2 pretrain --data FOLDER`."
            )
        if not path.is_file():
            raise FileNotFoundError(f"Recording {path} does not exist.")
        raws.append(mne.io.read_raw(path, preload=False, verbose="error"))
    return raws


class EEGWindowStream(Dataset):
    """Scaled EEG windows read one at a time from lazy braindecode windows.

    Items are ``(window, 0)``: a float32 tensor of shape ``(n_chans, n_times)`` scaled with
    ``scaling`` (see the estimators' ``scaling``) and a dummy target, so skorch's
    unsupervised nets can batch them.

    Parameters
    ----------
    windows : braindecode.datasets.BaseConcatDataset
        Windows datasets of one window length, channel set and sampling rate.
    scaling : {"robust", "percentile95", None}
        Per-window scaling applied in ``__getitem__``.
    sfreq : float or None
        Sampling rate (read from the recordings when None).
    ch_names : list of str or None
        Channel names (read from the recordings when None).

    Attributes
    ----------
    n_epochs, n_chans, n_times : int
        Number of windows and their shape.
    sfreq : float or None
    ch_names : list of str or None
    """

    def __init__(self, windows, scaling: str | None, sfreq=None, ch_names=None) -> None:
        self.windows = windows
        self.scaling = scaling
        n = len(windows)
        check_not_empty(n)
        first = np.asarray(windows[0][0])
        if first.ndim != 2:
            raise ValueError(
                f"The braindecode windows have shape {first.shape}; expected (n_channels, n_times)."
            )
        self.n_epochs = n
        self.n_chans, self.n_times = first.shape
        check_n_chans(self.n_chans)
        check_n_times(self.n_times)
        infos = [_info_of(ds) for ds in windows.datasets if len(ds) > 0]
        if sfreq is None and infos[0] is not None:
            sfreq = float(infos[0]["sfreq"])
        self.sfreq = sfreq
        if ch_names is None and infos[0] is not None:
            names = list(infos[0]["ch_names"])
            ch_names = names if len(names) == self.n_chans else None
        self.ch_names = ch_names
        self._check_parts(infos)

    def _check_parts(self, infos) -> None:
        ref = infos[0]
        lengths = set()
        for i, (ds, info) in enumerate(zip(windows_parts(self.windows), infos, strict=True)):
            if info is not None and ref is not None:
                if info["ch_names"] != ref["ch_names"] or info["sfreq"] != ref["sfreq"]:
                    raise ValueError(
                        f"Recording {i} has channels {info['ch_names']} at "
                        f"{info['sfreq']:g} Hz but recording 0 has {ref['ch_names']} at "
                        f"{ref['sfreq']:g} Hz; expected the same channels and sampling rate. "
                        "Pick and resample all recordings the same way first."
                    )
            crop = getattr(ds, "crop_inds", None)
            if crop is not None and getattr(ds, "transform", None) is None:
                lengths.update(np.unique(crop[:, 2] - crop[:, 1]).tolist())
        if len(lengths) > 1:
            raise ValueError(
                f"The windows have different lengths ({sorted(lengths)[:5]} samples); "
                "expected one length. Cut all recordings with the same window size."
            )

    def __len__(self) -> int:
        return self.n_epochs

    def __getitem__(self, index: int):
        x = np.asarray(self.windows[index][0], dtype=np.float32)
        if x.shape != (self.n_chans, self.n_times):
            raise ValueError(
                f"Window {index} has shape {x.shape}; expected ({self.n_chans}, "
                f"{self.n_times}) like the others."
            )
        if not np.isfinite(x).all():
            raise ValueError(
                f"Window {index} ({self._where(index)}) contains NaN or infinite values; "
                "expected finite EEG. Interpolate or cut out the bad segment, or leave the "
                "recording out."
            )
        z, _ = scale_windows(x[np.newaxis], self.scaling)
        return torch.from_numpy(z[0]), 0

    def _where(self, index: int) -> str:
        ds_idx = int(np.searchsorted(self.windows.cumulative_sizes, index, side="right"))
        ds = self.windows.datasets[ds_idx]
        desc = getattr(ds, "description", None)
        desc = dict(desc) if desc is not None else {}
        return f"recording {ds_idx}" + (f", {desc}" if desc else "")


def windows_parts(windows) -> list:
    """The non-empty datasets of a braindecode concat dataset."""
    return [ds for ds in windows.datasets if len(ds) > 0]


def _info_of(ds) -> mne.Info | None:
    if getattr(ds, "_zarr_data", None) is not None:
        return ds._make_mne_info()
    raw = getattr(ds, "raw", None)
    if raw is not None:
        return raw.info
    windows = getattr(ds, "windows", None)
    return windows.info if windows is not None else None


def stream_windows(
    X: Any,
    window_seconds: float | None = None,
    window_stride_seconds: float | None = None,
    scaling: str | None = "robust",
    picks: Any = "data",
) -> EEGWindowStream:
    """Lazy input (see :func:`is_streamable`) as a dataset of scaled windows read on demand.

    Parameters
    ----------
    X : path, list of paths, mne.io.Raw, list of Raw or braindecode dataset
        Not preloaded.
    window_seconds, window_stride_seconds : float or None
        Window length and stride for continuous recordings (files, Raw, RawDataset).
    scaling : {"robust", "percentile95", None}
        Per-window scaling applied when a window is read.
    picks : str, list or slice
        Channels of files and Raw objects (default: MNE's data channels).

    Returns
    -------
    stream : EEGWindowStream

    Examples
    --------
    >>> import os, tempfile
    >>> import mne, numpy as np
    >>> raw = mne.io.RawArray(np.random.default_rng(0).normal(size=(2, 1000)),
    ...                       mne.create_info(["Cz", "Pz"], 100.0, "eeg"), verbose=False)
    >>> path = os.path.join(tempfile.mkdtemp(), "rec_raw.fif")
    >>> _ = raw.save(path, verbose=False)
    >>> stream = stream_windows([path], window_seconds=2.0)  # nothing read yet
    >>> len(stream), stream[0][0].shape, stream.ch_names
    (5, torch.Size([2, 200]), ['Cz', 'Pz'])
    """
    base = braindecode_base()
    if is_path_list(X):
        paths = [X] if isinstance(X, (str, bytes, os.PathLike)) else list(X)
        X = _open_files(paths)
    if isinstance(X, mne.io.BaseRaw):
        X = [X]
    if isinstance(X, (list, tuple)):
        raws = list(X)
    elif base is not None and all(isinstance(ds, base.RawDataset) for ds in X.datasets):
        raws = [ds.raw for ds in X.datasets]
    else:
        if isinstance(X, (base.EEGWindowsDataset, base.WindowsDataset)):
            X = base.BaseConcatDataset([X])
        return EEGWindowStream(X, scaling)
    names = picked_names(raws[0].info, picks)
    raws = [raw.copy().pick(picks) for raw in raws]  # header-only copies when not preloaded
    size, stride = check_raws_for_windows(raws, window_seconds, window_stride_seconds)
    windows = fixed_length_windows(raws, size, stride)
    return EEGWindowStream(windows, scaling, float(raws[0].info["sfreq"]), names)
