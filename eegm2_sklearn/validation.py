"""Value checks shared by every layer: the one option checker and the predicates of the
parameter table.

Pure Python and NumPy, importing nothing else from the package, so the scan, the networks,
the data adapters, the preprocessing transformers and the estimators all raise the same
message for a value outside its allowed set. Every message says what was expected and what
was given.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_option",
    "describe_names",
    "format_allowed",
    "format_value",
    "int_ge",
    "invalid_param_line",
    "is_int",
    "is_one_of",
    "is_real",
    "one_of",
    "or_none",
    "real_ge",
    "real_gt",
]

# --------------------------------------------------------------------------------------
# Formatting


def format_allowed(allowed: Iterable[Any]) -> str:
    """Render allowed values as ``'a', 'b' or None``.

    Examples
    --------
    >>> format_allowed(("robust", "percentile95", None))
    "'robust', 'percentile95' or None"
    """
    items = [repr(a) for a in allowed]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def format_value(value: Any) -> str:
    """A value and its type for a message, cut to 80 characters.

    Examples
    --------
    >>> format_value("max")
    "'max' (str)"
    """
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def invalid_param_line(name: str, value: Any, expected: str) -> str:
    """One line of the uniform invalid-parameter message.

    Examples
    --------
    >>> invalid_param_line("lr", -1, "a float > 0")
    '`lr`: expected a float > 0; got -1 (int).'
    """
    return f"`{name}`: expected {expected}; got {format_value(value)}."


def describe_names(names: Sequence[str], limit: int = 30) -> str:
    """A list of channel names for a message, shortened after ``limit`` names.

    Examples
    --------
    >>> describe_names(["Cz", "Pz", "Oz"], limit=2)
    "['Cz', 'Pz', ... (1 more)]"
    """
    names = list(names)
    if len(names) <= limit:
        return str(names)
    return str(names[:limit])[:-1] + f", ... ({len(names) - limit} more)]"


# --------------------------------------------------------------------------------------
# Options


def is_one_of(value: Any, allowed: Sequence[Any]) -> bool:
    """Whether ``value`` equals one of ``allowed`` and has its type (``None`` by identity).

    Examples
    --------
    >>> is_one_of("pool", ("flatten", "pool")), is_one_of(1, (True, False))
    (True, False)
    """
    for a in allowed:
        if a is None:
            if value is None:
                return True
        elif isinstance(value, type(a)) and isinstance(value, Hashable) and value == a:
            return True
    return False


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
    if not is_one_of(value, allowed):
        expected = "one of " + format_allowed(allowed)
        raise ValueError(f"Invalid value for {invalid_param_line(name, value, expected)}")


# --------------------------------------------------------------------------------------
# Predicates (used by the estimators' parameter table)


def is_real(v: Any) -> bool:
    """A finite real number, not a bool.

    Examples
    --------
    >>> is_real(0.5), is_real(True), is_real(float("nan"))
    (True, False, False)
    """
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and bool(np.isfinite(v))


def is_int(v: Any) -> bool:
    """An integer, not a bool.

    Examples
    --------
    >>> is_int(3), is_int(True)
    (True, False)
    """
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def real_gt(low: float) -> Callable[[Any], bool]:
    """Predicate: a finite real number above ``low``.

    Examples
    --------
    >>> real_gt(0.0)(1e-3), real_gt(0.0)(0)
    (True, False)
    """
    return lambda v: is_real(v) and v > low


def real_ge(low: float) -> Callable[[Any], bool]:
    """Predicate: a finite real number of at least ``low``.

    Examples
    --------
    >>> real_ge(0.0)(0)
    True
    """
    return lambda v: is_real(v) and v >= low


def int_ge(low: int) -> Callable[[Any], bool]:
    """Predicate: an integer of at least ``low``.

    Examples
    --------
    >>> int_ge(1)(1), int_ge(1)(0)
    (True, False)
    """
    return lambda v: is_int(v) and v >= low


def or_none(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Predicate: None, or a value passing ``check``.

    Examples
    --------
    >>> or_none(int_ge(1))(None)
    True
    """
    return lambda v: v is None or check(v)


def one_of(allowed: Sequence[Any]) -> tuple[Callable[[Any], bool], str]:
    """``(predicate, description)`` of a choice among ``allowed``.

    Examples
    --------
    >>> check, expected = one_of(("full", "light"))
    >>> check("light"), expected
    (True, "one of 'full' or 'light'")
    """
    return (lambda v: is_one_of(v, allowed), "one of " + format_allowed(allowed))
