"""Checks that turn bad inputs and parameters into ``ValueError``s a user can act on.

Every message says what was expected, what was given and how to fix it. The checks run
on NumPy arrays and plain Python values, before any torch code, so users never see a
torch traceback for a mistake in their data or parameters.

Parameter validation is table driven: :data:`PARAM_CHECKS` maps a parameter name to a
predicate and a description of the allowed values; :func:`validate_params` checks only the
parameters an estimator has and reports every invalid one in a single ``ValueError``.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets

#: Three ``MaxPool1d(2)`` layers halve the time axis three times, so windows need at
#: least 2 ** 3 samples.
MIN_N_TIMES = 8

# --------------------------------------------------------------------------------------
# Formatting helpers


def _format_allowed(allowed: Iterable[Any]) -> str:
    """Render allowed values as ``'a', 'b' or None``."""
    items = [repr(a) for a in allowed]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def _format_value(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _invalid_param_line(name: str, value: Any, expected: str) -> str:
    """One line of the uniform invalid-parameter message."""
    return f"`{name}`: expected {expected}; got {_format_value(value)}."


def _describe_names(names: Sequence[str], limit: int = 30) -> str:
    names = list(names)
    if len(names) <= limit:
        return str(names)
    return str(names[:limit])[:-1] + f", ... ({len(names) - limit} more)]"


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise a uniform ``ValueError`` if ``value`` is not one of ``allowed``.

    Parameters
    ----------
    name : str
        Name of the parameter or argument, shown in the message.
    value : object
        The value given by the user.
    allowed : iterable
        The accepted values (compared with ``==``; ``None`` may be one of them).

    Raises
    ------
    ValueError
        ``Invalid value for `name`: expected one of ...; got ...``.

    Examples
    --------
    >>> check_option("head", "pool", ("flatten", "pool"))
    >>> check_option("head", "max", ("flatten", "pool"))
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for `head`: expected one of 'flatten' or 'pool'; got 'max' (str).
    """
    allowed = tuple(allowed)
    if not _is_one_of(value, allowed):
        expected = "one of " + _format_allowed(allowed)
        raise ValueError(f"Invalid value for {_invalid_param_line(name, value, expected)}")


def _is_one_of(value: Any, allowed: Sequence[Any]) -> bool:
    for a in allowed:
        if a is None:
            if value is None:
                return True
        elif isinstance(value, type(a)) and isinstance(value, Hashable) and value == a:
            return True
    return False


# --------------------------------------------------------------------------------------
# Predicates used by the parameter table


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and bool(np.isfinite(v))


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _real_gt(low: float) -> Callable[[Any], bool]:
    return lambda v: _is_real(v) and v > low


def _real_ge(low: float) -> Callable[[Any], bool]:
    return lambda v: _is_real(v) and v >= low


def _int_ge(low: int) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and v >= low


def _or_none(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _one_of(allowed: Sequence[Any]) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _is_one_of(v, allowed), "one of " + _format_allowed(allowed))


def _is_validation_split(v: Any) -> bool:
    if v is None:
        return True
    if _is_int(v):
        return v >= 2
    if _is_real(v):
        return 0.0 < v < 1.0
    # a scikit-learn CV splitter (has .split) or a skorch ValidSplit-like callable
    return hasattr(v, "split") or (callable(v) and not isinstance(v, type))


def _is_device(v: Any) -> bool:
    if isinstance(v, torch.device):
        return v.type in ("cpu", "cuda")
    if not isinstance(v, str):
        return False
    if v in ("auto", "cpu", "cuda"):
        return True
    prefix, _, index = v.partition(":")
    return prefix == "cuda" and index.isdigit()


def _is_class_weight(v: Any) -> bool:
    if v is None or (isinstance(v, str) and v == "balanced"):
        return True
    if isinstance(v, Mapping):
        return len(v) > 0 and all(_is_real(w) and w >= 0 for w in v.values())
    return False


def _is_random_state(v: Any) -> bool:
    if v is None or isinstance(v, np.random.RandomState):
        return True
    return _is_int(v) and 0 <= v <= 2**32 - 1


def _is_callbacks(v: Any) -> bool:
    return v is None or isinstance(v, (list, tuple))


def _is_pretrained(v: Any) -> bool:
    v = getattr(v, "estimator", v) if type(v).__name__ == "FrozenEstimator" else v
    return v is None or isinstance(v, (str, os.PathLike)) or hasattr(v, "save_pretrained")


#: Parameter name -> (predicate, description of the allowed values). Only the parameters an
#: estimator actually has are checked; extend it with ``{**PARAM_CHECKS, "name": (...)}``.
PARAM_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lr": (_real_gt(0.0), "a float > 0"),
    "max_epochs": (_int_ge(1), "an int >= 1"),
    "batch_size": (_int_ge(1), "an int >= 1"),
    "validation_split": (
        _is_validation_split,
        "None, a float in (0, 1) (fraction held out), an int >= 2 (number of "
        "cross-validation folds), a scikit-learn CV splitter or a skorch ValidSplit",
    ),
    "patience": (_or_none(_int_ge(1)), "None or an int >= 1"),
    "device": (_is_device, "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device"),
    "backend": _one_of(("auto", "torch", "mamba_ssm")),
    "scaling": _one_of(("robust", "percentile95", None)),
    "verbose": (lambda v: isinstance(v, numbers.Integral) and v >= 0, "an int >= 0"),
    "alpha": (_real_ge(0.0), "a float >= 0"),
    "beta": (_real_ge(0.0), "a float >= 0"),
    "finetune": _one_of(("full", "frozen")),
    "head": _one_of(("flatten", "pool")),
    "variant": _one_of(("full", "light")),
    "class_weight": (
        _is_class_weight,
        "None, 'balanced' or a non-empty dict {label: weight >= 0}",
    ),
    "precision": _one_of(("32", "bf16")),
    "window_seconds": (_or_none(_real_gt(0.0)), "None or a float > 0 (seconds)"),
    "window_stride_seconds": (_or_none(_real_gt(0.0)), "None or a float > 0 (seconds)"),
    "weight_decay": (_real_ge(0.0), "a float >= 0"),
    "gradient_clip_value": (_or_none(_real_gt(0.0)), "None or a float > 0"),
    "random_state": (
        _is_random_state,
        "None, an int in [0, 2**32 - 1] or a numpy.random.RandomState",
    ),
    "callbacks": (_is_callbacks, "None or a list of skorch callbacks"),
    "pretrained": (
        _is_pretrained,
        "None, a fitted EEGM2Pretrainer (or FrozenEstimator of one) or the path of a "
        "save_pretrained folder",
    ),
    "d_state": (_int_ge(1), "an int >= 1"),
    "d_conv": (_int_ge(1), "an int >= 1"),
    "expand": (_int_ge(1), "an int >= 1"),
    "headdim": (_int_ge(1), "an int >= 1"),
    "chunk_size": (_int_ge(1), "an int >= 1"),
}


def _cross_param_errors(params: Mapping[str, Any]) -> list[str]:
    """Errors that involve several parameters at once."""
    errors = []
    alpha, beta = params.get("alpha"), params.get("beta")
    if _is_real(alpha) and _is_real(beta) and alpha == 0 and beta == 0:
        errors.append(
            "`alpha` and `beta` are both 0, so the loss is always 0; give at least one "
            "of them a positive weight (the paper uses alpha=1.0, beta=1.0)."
        )
    if (
        "window_seconds" in params
        and params.get("window_seconds") is None
        and params.get("window_stride_seconds") is not None
    ):
        errors.append(
            "`window_stride_seconds` is set but `window_seconds` is None; set "
            "`window_seconds` too (the stride only applies when Raw input is cut into "
            "windows)."
        )
    return errors


def validate_params(
    estimator: Any,
    checks: Mapping[str, tuple[Callable[[Any], bool], str]] | None = None,
) -> None:
    """Check every parameter of ``estimator`` and report all invalid ones at once.

    Parameters
    ----------
    estimator : object
        An estimator with scikit-learn's ``get_params(deep=False)``.
    checks : dict or None
        Parameter name -> ``(predicate, description)``; defaults to
        :data:`PARAM_CHECKS`. Names the estimator does not have are ignored.

    Raises
    ------
    ValueError
        One message listing every invalid parameter, its value and the allowed values.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> class Est(BaseEstimator):
    ...     def __init__(self, lr=1e-3, head="flatten"):
    ...         self.lr = lr
    ...         self.head = head
    >>> validate_params(Est())
    >>> validate_params(Est(lr=-1, head="max"))
    Traceback (most recent call last):
    ...
    ValueError: Invalid parameters for Est:
    - `lr`: expected a float > 0; got -1 (int).
    - `head`: expected one of 'flatten' or 'pool'; got 'max' (str).
    """
    checks = PARAM_CHECKS if checks is None else checks
    params = estimator.get_params(deep=False)
    errors = [
        _invalid_param_line(name, params[name], description)
        for name, (check, description) in checks.items()
        if name in params and not check(params[name])
    ]
    errors += _cross_param_errors(params)
    if errors:
        noun = "parameter" if len(errors) == 1 else "parameters"
        lines = "\n".join(f"- {e}" for e in errors)
        raise ValueError(f"Invalid {noun} for {type(estimator).__name__}:\n{lines}")


# --------------------------------------------------------------------------------------
# Data checks


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


def check_min_n_times(n_times: int, min_n_times: int = MIN_N_TIMES) -> None:
    """Raise if windows are too short for the network's three poolings.

    Examples
    --------
    >>> check_min_n_times(512)
    """
    if n_times < min_n_times:
        raise ValueError(
            f"Windows have {n_times} samples; EEGM2 needs at least {min_n_times} (its three "
            f"MaxPool1d(2) layers divide the length by 8). Use longer windows (more seconds "
            "or a higher sampling rate)."
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
                f" Missing: {_describe_names(missing)}. Extra: {_describe_names(extra)}. "
                f"Fitted channels: {_describe_names(ch_names_fit)}; given: "
                f"{_describe_names(ch_names)}. Select the fitted channels in the fitted "
                "order, e.g. epochs.pick(estimator.ch_names_), or refit on these channels."
            )
        elif ch_names_fit is not None:
            msg += (
                f" Fitted channels: {_describe_names(ch_names_fit)}. Pass data with these "
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
            f"{_describe_names(ch_names_fit)}; given: {_describe_names(ch_names)}. Reorder "
            "them, e.g. epochs.reorder_channels(estimator.ch_names_)."
        )
    missing = [c for c in ch_names_fit if c not in set(ch_names)]
    extra = [c for c in ch_names if c not in set(ch_names_fit)]
    raise ValueError(
        f"X has {n_chans} channels like the fitted data, but other ones. Missing: "
        f"{_describe_names(missing)}. Extra: {_describe_names(extra)}. Fitted channels: "
        f"{_describe_names(ch_names_fit)}. Rename or pick channels to match (e.g. "
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
