"""Checks that turn bad EEG data into ``ValueError``s a user can act on.

Every message says what was expected, what was given and how to fix it. The checks run on
NumPy arrays and plain Python values, before any torch code, so users never see a torch
traceback for a mistake in their data. The window-length check is the network's own,
:func:`eegm2_sklearn.models.eegm2.check_n_times`, re-exported here.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets

from ..models.eegm2 import MIN_N_TIMES, check_n_times
from ..validation import describe_names

__all__ = [
    "MIN_N_TIMES",
    "check_3d",
    "check_channels",
    "check_classification_y",
    "check_finite",
    "check_label_types",
    "check_n_chans",
    "check_n_times",
    "check_not_empty",
    "check_sfreq",
    "check_window_length",
    "check_y_length",
    "to_float32",
]


def check_not_empty(n_epochs: int) -> None:
    """Raise if there are no epochs.

    Examples
    --------
    >>> check_not_empty(3)
    """
    if n_epochs == 0:
        raise ValueError(
            "X is empty: expected at least one epoch of shape (n_channels, n_times); got 0 "
            "epochs. Check the selection or the epoch rejection that produced X."
        )


def check_3d(X: np.ndarray) -> None:
    """Raise if ``X`` is not ``(n_epochs, n_channels, n_times)``.

    Parameters
    ----------
    X : ndarray
        The array to check.

    Examples
    --------
    >>> import numpy as np
    >>> check_3d(np.zeros((2, 3, 16)))
    """
    if X.ndim == 3:
        return
    msg = (
        f"X must be 3-D with shape (n_epochs, n_channels, n_times); got a {X.ndim}-D array "
        f"of shape {X.shape}."
    )
    if X.ndim == 2:
        msg += (
            " If it is one epoch (n_channels, n_times), use X[np.newaxis]; if it is several "
            "single-channel epochs (n_epochs, n_times), use X[:, np.newaxis]."
        )
    elif X.ndim == 1:
        msg += " Reshape your data: a single time series needs X[np.newaxis, np.newaxis]."
    elif X.ndim > 3:
        msg += " Reshape it so the first axis indexes epochs, e.g. X.reshape(-1, *X.shape[-2:])."
    raise ValueError(msg)


def check_finite(X: np.ndarray) -> None:
    """Raise if ``X`` holds NaN or infinite values, naming how many and where.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        The data.

    Examples
    --------
    >>> import numpy as np
    >>> check_finite(np.zeros((2, 3, 16)))
    """
    finite = np.isfinite(X)
    if finite.all():
        return
    bad = ~finite
    n_nan = int(np.isnan(X).sum())
    n_inf = int(bad.sum()) - n_nan
    bad_epochs = np.flatnonzero(bad.reshape(len(X), -1).any(axis=1))
    raise ValueError(
        f"X contains {n_nan} NaN and {n_inf} inf values in {len(bad_epochs)} of {len(X)} "
        f"epochs (first bad epoch: index {bad_epochs[0]}); expected finite values. "
        "Interpolate the bad channels or segments (e.g. mne's interpolate_bads) or drop "
        "those epochs."
    )


def to_float32(X: np.ndarray) -> np.ndarray:
    """``X`` as float32 (the network's precision), refusing values that overflow it.

    float64 values beyond float32's range (about 3.4e38) would silently become inf.

    Examples
    --------
    >>> import numpy as np
    >>> to_float32(np.ones((1, 2, 8))).dtype
    dtype('float32')
    >>> try:
    ...     to_float32(np.full((1, 2, 8), 1e39))
    ... except ValueError as err:
    ...     print(str(err)[:58])
    X has float64 values beyond float32's range: the cast to f
    """
    with np.errstate(over="ignore"):  # reported below, with what to do
        out = X.astype(np.float32, copy=False)
    if out is X or np.isfinite(out).all():
        return out
    finite = np.isfinite(X)
    overflow = int((finite & ~np.isfinite(out)).sum())
    if not overflow:  # the non-finite values were there before the cast
        return out
    largest = float(np.abs(X[finite]).max())
    raise ValueError(
        f"X has {X.dtype} values beyond float32's range: the cast to float32, in which "
        f"the network computes, overflowed {overflow} of them to inf (max |x| = "
        f"{largest:.4g}; float32 holds up to {float(np.finfo(np.float32).max):.4g}). "
        "Rescale X before passing it (e.g. X / np.abs(X).max(), or convert it to volts "
        "or microvolts); the estimators' scaling is applied after this cast."
    )


def check_n_chans(n_chans: int) -> None:
    """Raise if windows have no channel.

    Examples
    --------
    >>> check_n_chans(19)
    """
    if n_chans < 1:
        raise ValueError(
            "X has 0 channels: expected windows of shape (n_channels >= 1, n_times). Check the "
            "channel selection (picks) that produced X."
        )


def check_channels(
    n_chans_fit: int,
    ch_names_fit: Sequence[str] | None,
    n_chans: int,
    ch_names: Sequence[str] | None,
    *,
    check_names: bool = True,
) -> None:
    """Raise if the channels at predict time differ from those seen in ``fit``.

    The count must match. When both sides know channel names (MNE or braindecode
    input) and ``check_names`` is True, the names and their order must match too.

    Parameters
    ----------
    n_chans_fit : int
        Number of channels seen in ``fit``.
    ch_names_fit : list of str or None
        Their names, when known.
    n_chans : int
        Number of channels given now.
    ch_names : list of str or None
        Their names, when known.
    check_names : bool
        Whether to compare names when both are known.

    Examples
    --------
    >>> check_channels(2, ["Cz", "Pz"], 2, None)
    >>> check_channels(2, ["Cz", "Pz"], 1, ["Cz"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X has 1 channels but the estimator was fitted on 2. Missing: ['Pz']. ...
    """
    known = ch_names_fit is not None and ch_names is not None
    if n_chans != n_chans_fit:
        msg = f"X has {n_chans} channels but the estimator was fitted on {n_chans_fit}."
        if known:
            missing = [c for c in ch_names_fit if c not in set(ch_names)]
            extra = [c for c in ch_names if c not in set(ch_names_fit)]
            msg += (
                f" Missing: {describe_names(missing)}. Extra: {describe_names(extra)}. "
                f"Fitted channels: {describe_names(ch_names_fit)}; given: "
                f"{describe_names(ch_names)}. Select the fitted channels in the fitted "
                "order, e.g. epochs.pick(estimator.ch_names_), or refit on these channels."
            )
        elif ch_names_fit is not None:
            msg += (
                f" Fitted channels: {describe_names(ch_names_fit)}. Pass data with these "
                "channels in this order, or refit on the new channels."
            )
        else:
            msg += (
                f" Pass data with the {n_chans_fit} channels used in fit, in the same order, "
                "or refit on the new channels."
            )
        raise ValueError(msg)
    if not (known and check_names) or list(ch_names) == list(ch_names_fit):
        return
    if set(ch_names) == set(ch_names_fit):
        raise ValueError(
            f"X has the fitted channels in another order. Fitted order: "
            f"{describe_names(ch_names_fit)}; given: {describe_names(ch_names)}. Reorder "
            "them, e.g. epochs.reorder_channels(estimator.ch_names_)."
        )
    missing = [c for c in ch_names_fit if c not in set(ch_names)]
    extra = [c for c in ch_names if c not in set(ch_names_fit)]
    raise ValueError(
        f"X has {n_chans} channels like the fitted data, but other ones. Missing: "
        f"{describe_names(missing)}. Extra: {describe_names(extra)}. Fitted channels: "
        f"{describe_names(ch_names_fit)}. Rename or pick channels to match (e.g. "
        "epochs.rename_channels), or pass a NumPy array to skip the name check."
    )


def check_window_length(n_times_fit: int, n_times: int, sfreq: float | None = None) -> None:
    """Raise if a fixed-length head gets windows of another length than in ``fit``.

    Call it only for heads that need the fitted length (``head="flatten"``).

    Examples
    --------
    >>> check_window_length(512, 512)
    """
    if n_times == n_times_fit:
        return
    if sfreq:
        given = f"{n_times} samples ({n_times / sfreq:g} s at {sfreq:g} Hz)"
        fitted = f"{n_times_fit} samples ({n_times_fit / sfreq:g} s)"
    else:
        given, fitted = f"{n_times} samples", f"{n_times_fit} samples"
    raise ValueError(
        f"X has windows of {given} but the estimator was fitted on {fitted}; "
        "head='flatten' needs the fitted length. Cut windows of the fitted length, or use "
        "head='pool', which accepts any window length."
    )


def check_sfreq(sfreq_fit: float | None, sfreq: float | None) -> None:
    """Raise if both sampling rates are known and differ.

    Examples
    --------
    >>> check_sfreq(128.0, None)
    """
    if sfreq_fit is None or sfreq is None or np.isclose(sfreq_fit, sfreq):
        return
    raise ValueError(
        f"X is sampled at {sfreq:g} Hz but the estimator was fitted at {sfreq_fit:g} Hz. "
        f"Resample it first, e.g. epochs.resample({sfreq_fit:g})."
    )


def check_y_length(n_epochs: int, y: Any) -> np.ndarray:
    """Check that ``y`` is 1-D with one label per epoch and return it as an array.

    Examples
    --------
    >>> check_y_length(2, ["rest", "task"])
    array(['rest', 'task'], dtype='<U4')
    """
    if y is None:
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None: pass fit(X, y) "
            "with one label per epoch."
        )
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            f"y has shape {y.shape}; a 1-D array of one label per epoch was expected, so it "
            "is flattened. Pass y.ravel() to silence this warning.",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D with one label per epoch; got shape {y.shape}.")
    if len(y) != n_epochs:
        raise ValueError(
            f"X has {n_epochs} epochs but y has {len(y)} labels; expected one label per "
            "epoch. Check that X and y were selected with the same indices."
        )
    return y


def check_label_types(y) -> None:
    """Refuse labels that mix strings and numbers, as scikit-learn does.

    ``np.asarray([0, "a"])`` turns ``0`` into ``"0"`` and ``[1, "1"]`` into one class: the
    labels given would not be the labels predicted.

    Examples
    --------
    >>> check_label_types(["rest", "task"])
    >>> try:
    ...     check_label_types([0, "a"])
    ... except ValueError as err:
    ...     print(str(err)[:44])
    y mixes strings and numbers (e.g. 'a' and 0)
    """
    if isinstance(y, np.ndarray) and y.dtype != object:
        return
    try:
        values = list(y)
    except TypeError:
        return
    text = next((v for v in values if isinstance(v, (str, np.str_))), None)
    number = next(
        (
            v
            for v in values
            if isinstance(v, (numbers.Number, np.number)) and not isinstance(v, bool)
        ),
        None,
    )
    if text is not None and number is not None:
        raise ValueError(
            f"y mixes strings and numbers (e.g. {text!r} and {number!r}): they would be "
            "compared as strings, so 1 and '1' would become one class and 0 would come back "
            "as '0'. Give every label the same type (all strings or all numbers)."
        )


def check_classification_y(y: np.ndarray) -> np.ndarray:
    """Check labels for a classifier: discrete, at least two classes.

    Returns
    -------
    classes : ndarray
        The sorted unique labels.

    Examples
    --------
    >>> import numpy as np
    >>> check_classification_y(np.array(["rest", "task", "rest"]))
    array(['rest', 'task'], dtype='<U4')
    """
    check_classification_targets(y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"y contains only one class ({classes.tolist()}); a classifier needs at least "
            "two. Check the labels, or make sure each training fold has every class "
            "(e.g. StratifiedGroupKFold)."
        )
    return classes
