"""Cut continuous recordings (mne.io.Raw) into fixed-length windows with braindecode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mne

from ..environment import import_braindecode
from .braindecode_inputs import stack_braindecode
from .checks import check_not_empty
from .eeg_array import EEGArray


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
