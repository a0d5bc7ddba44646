"""MNE inputs: join lists of Epochs, read Epochs into :class:`EEGArray`, reduce inputs to MNE
objects or arrays for the preprocessing transformers.

Estimators and transformers take ``mne.Epochs``, a list of Epochs (what scikit-learn's
cross-validation splitters hand over when they index an Epochs object, which has no
``.shape``), ``mne.io.Raw``, a list of Raw, or an ndarray of shape
``(n_epochs, n_channels, n_times)``. :func:`as_mne_or_array` reduces these five forms to
three: one Epochs, a list of Raw, or an ndarray.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mne
import numpy as np
import pandas as pd
from mne import BaseEpochs
from mne.io import BaseRaw

from .checks import to_float32
from .eeg_array import EEGArray
from .kinds import input_kind

__all__ = [
    "as_mne_or_array",
    "epochs_list_to_epochs",
    "epochs_to_eeg_array",
    "picked_names",
    "stack_epochs_list",
]

_ACCEPTED = (
    "mne.Epochs, a list of mne.Epochs, mne.io.Raw, a list of mne.io.Raw, "
    "or an ndarray of shape (n_epochs, n_channels, n_times)"
)


def epochs_list_to_epochs(epochs_list: Sequence[BaseEpochs]) -> mne.EpochsArray:
    """Join a list of Epochs objects into one Epochs, keeping their order.

    scikit-learn indexes an Epochs object one epoch at a time, so a cross-validation
    split of ``epochs`` arrives as a list of one-epoch Epochs. This function stacks their
    data into a single :class:`mne.EpochsArray` with the first element's ``info`` and
    ``tmin``, the concatenated events and the merged ``event_id``; metadata is kept when
    every element has it. Stacking is much faster than
    :func:`mne.concatenate_epochs` for many small objects (see the performance page of
    the documentation).

    Parameters
    ----------
    epochs_list : sequence of mne.Epochs
        Epochs with identical channel names, sampling rate and number of samples. Each
        may hold any number of epochs.

    Returns
    -------
    epochs : mne.EpochsArray
        All epochs, in list order. Event sample numbers are kept when they increase
        strictly along the list; otherwise (for example after a shuffled split) they are
        renumbered ``0, n_times, 2 * n_times, ...`` because MNE requires unique, ordered
        event times. Baseline correction already applied stays in the data, but the
        result's ``baseline`` attribute is ``None``.

    Raises
    ------
    ValueError
        If the list is empty, or elements differ in channels, sampling rate or length.
    TypeError
        If an element is not an Epochs object.

    Examples
    --------
    >>> import mne, numpy as np
    >>> info = mne.create_info(["Cz", "Pz"], sfreq=128.0, ch_types="eeg")
    >>> epochs = mne.EpochsArray(np.zeros((6, 2, 256)), info, verbose=False)
    >>> pieces = [epochs[i] for i in range(len(epochs))]  # as a CV splitter does
    >>> joined = epochs_list_to_epochs(pieces)
    >>> joined.get_data().shape
    (6, 2, 256)
    """
    epochs_list = list(epochs_list)
    if len(epochs_list) == 0:
        raise ValueError("Expected a non-empty list of mne.Epochs, got an empty list.")
    first = epochs_list[0]
    for i, ep in enumerate(epochs_list):
        if not isinstance(ep, BaseEpochs):
            raise TypeError(
                f"Expected every element to be mne.Epochs; element {i} is "
                f"{type(ep).__name__}. Pass a list of Epochs only."
            )
    ch_names, sfreq, n_times = first.ch_names, first.info["sfreq"], len(first.times)
    for i, ep in enumerate(epochs_list[1:], start=1):
        if ep.ch_names != ch_names:
            raise ValueError(
                f"Element {i} has channels {ep.ch_names}, element 0 has {ch_names}. "
                "Pick the same channels in the same order (e.g. epochs.pick(names)) first."
            )
        if ep.info["sfreq"] != sfreq:
            raise ValueError(
                f"Element {i} is sampled at {ep.info['sfreq']} Hz, element 0 at {sfreq} Hz. "
                "Resample them to one rate first (epochs.resample(sfreq))."
            )
        if len(ep.times) != n_times:
            raise ValueError(
                f"Element {i} has {len(ep.times)} samples per epoch, element 0 has "
                f"{n_times}. Crop them to one length first (epochs.crop(tmin, tmax))."
            )

    data = np.concatenate([ep.get_data(copy=False) for ep in epochs_list], axis=0)
    events = np.concatenate([ep.events for ep in epochs_list], axis=0).copy()
    if len(events) > 1 and not np.all(np.diff(events[:, 0]) > 0):
        events[:, 0] = np.arange(len(events)) * n_times

    event_id: dict[str, int] = {}
    for ep in epochs_list:
        for name, code in ep.event_id.items():
            if event_id.setdefault(name, code) != code:
                raise ValueError(
                    f"Event name {name!r} maps to code {event_id[name]} in one element "
                    f"and to {code} in another. Use one event_id for all Epochs."
                )

    metadata = None
    if all(ep.metadata is not None for ep in epochs_list):
        metadata = pd.concat([ep.metadata for ep in epochs_list], ignore_index=True)

    return mne.EpochsArray(
        data,
        first.info,
        events=events,
        tmin=first.tmin,
        event_id=event_id,
        metadata=metadata,
        baseline=None,
        verbose=False,
    )


def as_mne_or_array(X) -> BaseEpochs | list[BaseRaw] | np.ndarray:
    """Reduce an EEG input to one Epochs, a list of Raw, or a 3-D array.

    Parameters
    ----------
    X : mne.Epochs | list of mne.Epochs | mne.io.Raw | list of mne.io.Raw | array-like
        EEG input. An array-like must have shape ``(n_epochs, n_channels, n_times)``.

    Returns
    -------
    data : mne.Epochs | list of mne.io.Raw | ndarray, shape (n_epochs, n_channels, n_times)
        - an Epochs object is returned as is (no copy);
        - a list of Epochs is joined with :func:`epochs_list_to_epochs`;
        - a Raw becomes a one-element list, and a list of Raw is returned as a new list
          of the same objects;
        - an array-like becomes an ndarray; integer or boolean data is cast to float64,
          floating data keeps its dtype. Values are taken as given (no unit change).

    Raises
    ------
    TypeError
        For any other input, or a list mixing Epochs and Raw.
    ValueError
        For an empty list, or an array that is not 3-D.

    Examples
    --------
    >>> import numpy as np
    >>> as_mne_or_array(np.zeros((4, 2, 100))).shape
    (4, 2, 100)
    >>> as_mne_or_array(np.zeros((2, 100)))
    Traceback (most recent call last):
    ...
    ValueError: Expected an array of shape (n_epochs, n_channels, n_times), got shape (2, 100). ...
    """
    kind = input_kind(X)
    if kind == "epochs":
        return X
    if kind == "raw":
        return [X]
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(f"Expected {_ACCEPTED}; got an empty {type(X).__name__}.")
        if kind == "epochs_list" and all(isinstance(x, BaseEpochs) for x in X):
            return epochs_list_to_epochs(X)
        if kind == "raw_list" and all(isinstance(x, BaseRaw) for x in X):
            return list(X)
        if any(isinstance(x, (BaseEpochs, BaseRaw)) for x in X):
            kinds = sorted({type(x).__name__ for x in X})
            raise TypeError(
                f"Expected a list of only Epochs or only Raw, got a list mixing {kinds}."
            )
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"Expected {_ACCEPTED}; got {type(X).__name__}.") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"Expected {_ACCEPTED}; got {type(X).__name__} with dtype {arr.dtype}.")
    if arr.ndim != 3:
        raise ValueError(
            "Expected an array of shape (n_epochs, n_channels, n_times), got shape "
            f"{arr.shape}. Add an axis with X[np.newaxis] for a single window, or pass "
            "MNE objects."
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def picked_names(info: mne.Info, picks: Any) -> list[str]:
    """Channel names MNE's ``get_data(picks=...)`` returns, in its order."""
    try:
        from mne._fiff.pick import _picks_to_idx
    except ImportError:  # older MNE
        from mne.io.pick import _picks_to_idx
    idx = _picks_to_idx(info, picks, "all", exclude=(), allow_empty=False)
    return [info["ch_names"][i] for i in idx]


def epochs_to_eeg_array(epochs: mne.BaseEpochs, picks: Any) -> EEGArray:
    X = epochs.get_data(picks=picks, copy=False)
    return EEGArray(
        X=to_float32(np.asarray(X)),
        sfreq=float(epochs.info["sfreq"]),
        ch_names=picked_names(epochs.info, picks),
        source="epochs",
    )


def stack_epochs_list(epochs_list: Sequence[mne.BaseEpochs], picks: Any = "data") -> EEGArray:
    """Stack a list of Epochs (e.g. one-epoch Epochs from a CV split) into one array.

    The list is joined with :func:`epochs_list_to_epochs`, then
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
    data = epochs_to_eeg_array(joined, picks)
    return EEGArray(X=data.X, sfreq=data.sfreq, ch_names=data.ch_names, source="epochs_list")
