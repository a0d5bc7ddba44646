"""What the estimators' parameter values may be: the predicates of the parameter table
(:data:`~eegm2_sklearn.estimators.params.PARAMS`) and the checks of the entries of
``class_weight`` and ``callbacks``, which name each bad entry."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from skorch.callbacks import Callback

from ..validation import format_value, is_int, is_real

Check = Callable[[Any], bool]


def py_int_ge(low: int) -> Check:  # a Python int (not NumPy), not a bool
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def is_validation_split(v: Any) -> bool:
    if v is None:
        return True
    if is_int(v):
        return v >= 2
    if is_real(v):
        return 0.0 < v < 1.0
    # a scikit-learn CV splitter (has .split) or a skorch ValidSplit-like callable
    return hasattr(v, "split") or (callable(v) and not isinstance(v, type))


def is_class_weight(v: Any) -> bool:  # the weights: entry_errors
    if v is None or (isinstance(v, str) and v == "balanced"):
        return True
    return isinstance(v, Mapping) and len(v) > 0


def _is_callback(cb: Any) -> bool:
    """A skorch callback (instance or class), or a ``(name, callback)`` pair."""
    if isinstance(cb, (tuple, list)):
        return len(cb) == 2 and isinstance(cb[0], str) and _is_callback(cb[1])
    return isinstance(cb, Callback) or (isinstance(cb, type) and issubclass(cb, Callback))


def is_random_state(v: Any) -> bool:
    if v is None or isinstance(v, np.random.RandomState):
        return True
    return is_int(v) and 0 <= v <= 2**32 - 1


def is_pretrained(v: Any) -> bool:
    v = getattr(v, "estimator", v) if type(v).__name__ == "FrozenEstimator" else v
    return v is None or isinstance(v, (str, os.PathLike)) or hasattr(v, "save_pretrained")


def entry_errors(params: Mapping[str, Any]) -> list[str]:
    """Errors in the entries of ``class_weight`` and ``callbacks`` (their containers are
    checked by the table), naming each bad entry."""
    errors = []
    weights = params.get("class_weight")
    if isinstance(weights, Mapping) and weights:
        bad = {k: w for k, w in weights.items() if not (is_real(w) and w >= 0)}
        if bad:
            errors.append(
                f"`class_weight`: expected finite weights >= 0; got {bad!r:.200}. Give each "
                "class a number >= 0 (0 ignores the class), or use 'balanced' or None."
            )
    callbacks = params.get("callbacks")
    if isinstance(callbacks, (list, tuple)):
        bad_cbs = [
            f"[{i}] {format_value(cb)}" for i, cb in enumerate(callbacks) if not _is_callback(cb)
        ]
        if bad_cbs:
            errors.append(
                f"`callbacks`: expected skorch callbacks (instances or subclasses of "
                "skorch.callbacks.Callback, or (name, callback) pairs); these entries are not: "
                f"{', '.join(bad_cbs)}. Wrap custom code in a Callback subclass, e.g. one "
                "with an on_epoch_end(self, net, **kwargs) method."
            )
    return errors
