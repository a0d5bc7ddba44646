"""The estimators' parameters in one table: name, default, check, doc line and CLI flag.

scikit-learn requires every parameter to be spelled out in ``__init__``; everything else is
derived from :data:`PARAMS`: the checks run by :func:`validate_params` in ``fit``, the
settings of a checkpoint's fingerprint, the ``eegm2`` command's options and their allowed
values. ``tests/test_params.py`` checks that both estimators' signatures, their docstrings,
this table and the command line agree. To add a parameter: add a row here, add it to the
estimator's ``__init__`` (and its docstring), and, when it changes what training computes,
mark it ``fingerprint=True``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..data.scaling import SCALING_METHODS
from ..models import CHECKPOINTING, HEADS, MASK_LOSS_ON, VARIANTS
from ..ops import BACKENDS
from ..training.device import DEVICE_VALUES, is_device
from ..validation import (
    int_ge,
    invalid_param_line,
    is_real,
    one_of,
    or_none,
    real_ge,
    real_gt,
)
from .param_values import (
    Check,
    entry_errors,
    is_bool,
    is_class_weight,
    is_pretrained,
    is_random_state,
    is_validation_split,
    py_int_ge,
)


@dataclass(frozen=True)
class Param:
    """One estimator parameter.

    Attributes
    ----------
    name : str
        The keyword of ``__init__``.
    default : object
        Its default, the same in every estimator that has it.
    check : callable
        ``check(value) -> bool``, run by :func:`validate_params`.
    allowed : str
        The allowed values, as error messages say them.
    doc : str
        One line for the command line's help.
    owners : tuple of str
        The estimators that have it (``"pretrainer"``, ``"classifier"``).
    choices : tuple or None
        The allowed values of an option parameter.
    flag : str or None
        The ``eegm2`` option that sets it, if any.
    fingerprint : bool
        A checkpoint written with another value cannot be resumed.
    architecture : bool
        A size of the network (saved with the weights, read back by the classifier).
    saved : bool
        Written to ``config.json`` by ``save_pretrained`` (False for settings of one run:
        device, seeds, folders, callbacks).
    """

    name: str
    default: Any
    check: Check
    allowed: str
    doc: str
    owners: tuple[str, ...] = ("pretrainer", "classifier")
    choices: tuple | None = None
    flag: str | None = None
    fingerprint: bool = False
    architecture: bool = False
    saved: bool = True


def _option(name, default, choices, doc, **kw) -> Param:
    check, allowed = one_of(choices)
    return Param(name, default, check, allowed, doc, choices=tuple(choices), **kw)


PRE, CLF = ("pretrainer",), ("classifier",)

#: Pretraining objectives: masked-span reconstruction, or the paper's plain reconstruction.
OBJECTIVES = ("masked", "reconstruct")
_INT1, _FLOAT_GE0 = "an int >= 1", "a float >= 0"

# The order of the rows is the order in which invalid values are reported.
_ROWS = (
    Param("lr", 5e-4, real_gt(0.0), "a float > 0", "peak learning rate (paper: 5e-4)",
          flag="--lr", fingerprint=True),
    Param("max_epochs", 20, int_ge(1), _INT1, "training epochs", flag="--epochs",
          fingerprint=True),
    Param("batch_size", 64, int_ge(1), _INT1, "global batch size (paper: 64)",
          flag="--batch-size", fingerprint=True),
    Param("validation_split", None, is_validation_split,
          "None, a float in (0, 1) (fraction held out), an int >= 2 (number of "
          "cross-validation folds), a scikit-learn CV splitter or a skorch ValidSplit",
          "held-out fraction (None: none)", flag="--validation-split", saved=False),
    Param("patience", None, or_none(int_ge(1)), "None or an int >= 1",
          "early stopping patience (None: no stopping)", flag="--patience"),
    Param("device", "auto", is_device, DEVICE_VALUES,
          "'auto' (CUDA when visible), 'cpu', 'cuda:1'", flag="--device", saved=False),
    _option("backend", "auto", BACKENDS,
            "SSD scan: mamba-ssm's kernels on CUDA when installed ('auto'), or pure PyTorch",
            flag="--backend"),
    _option("scaling", "robust", SCALING_METHODS, "per-window scaling", flag="--scaling",
            fingerprint=True),
    Param("verbose", 1, lambda v: isinstance(v, numbers.Integral) and v >= 0, "an int >= 0",
          "0: silent; 1: a line per epoch and a progress bar for long epochs",
          flag="--quiet"),
    Param("alpha", 1.0, real_ge(0.0), _FLOAT_GE0, "weight of the temporal L1 loss", PRE,
          fingerprint=True),
    Param("beta", 1.0, real_ge(0.0), _FLOAT_GE0, "weight of the spectral loss", PRE,
          fingerprint=True),
    _option("objective", "masked", OBJECTIVES,
            "pretraining objective: masked-span or plain (the paper's) reconstruction",
            owners=PRE, flag="--objective", fingerprint=True),
    Param("mask_ratio", 0.5, lambda v: is_real(v) and 0.0 < v < 1.0, "a float in (0, 1)",
          "fraction of time hidden by objective='masked'", PRE, flag="--mask-ratio",
          fingerprint=True),
    Param("mask_span", 64, py_int_ge(1), "an int >= 1 (samples)",
          "length of each hidden span, in samples", PRE, flag="--mask-span", fingerprint=True),
    _option("mask_loss", "all", MASK_LOSS_ON,
            "objective='masked' loss over the whole window or the hidden spans only",
            owners=PRE, flag="--mask-loss", fingerprint=True),
    _option("finetune", "full", ("full", "frozen"), "train every weight, or the head only",
            owners=CLF, flag="--finetune", fingerprint=True),
    _option("head", "pool", HEADS,
            "the paper's flatten head, or the length-agnostic pooled head", owners=CLF,
            flag="--head", fingerprint=True),
    _option("variant", "full", VARIANTS, "whole U-Net, or embedding and encoders only",
            owners=CLF, flag="--variant", fingerprint=True),
    Param("class_weight", "balanced", is_class_weight,
          "None, 'balanced' or a non-empty dict {label: weight >= 0}",
          "cross-entropy class weights", CLF, flag="--class-weight", fingerprint=True),
    _option("precision", "32", ("32", "bf16"), "float32 or bf16 autocast", flag="--precision"),
    Param("window_seconds", None, or_none(real_gt(0.0)), "None or a float > 0 (seconds)",
          "window length in seconds", PRE, flag="--window-seconds"),
    Param("window_stride_seconds", None, or_none(real_gt(0.0)),
          "None or a float > 0 (seconds)", "window stride (None: no overlap)", PRE,
          flag="--stride-seconds"),
    Param("weight_decay", 1e-2, real_ge(0.0), _FLOAT_GE0, "AdamW weight decay (paper: 1e-2)",
          flag="--weight-decay", fingerprint=True),
    Param("gradient_clip_value", 1.0, or_none(real_gt(0.0)), "None or a float > 0",
          "gradient norm clipping (paper: 1.0)", fingerprint=True),
    Param("random_state", None, is_random_state,
          "None, an int in [0, 2**32 - 1] or a numpy.random.RandomState", "random seed",
          flag="--seed", saved=False),
    Param("callbacks", None, lambda v: v is None or isinstance(v, (list, tuple)),
          "None or a list of skorch callbacks", "extra skorch callbacks", saved=False),
    Param("pretrained", None, is_pretrained,
          "None, a fitted EEGM2Pretrainer (or FrozenEstimator of one) or the path of a "
          "save_pretrained folder", "folder written by 'eegm2 pretrain'", CLF,
          flag="--pretrained"),
    Param("d_state", 16, int_ge(1), _INT1, "Mamba-2 state size (paper: 16)",
          flag="--d-state", architecture=True),
    Param("d_conv", 2, int_ge(1), _INT1, "Mamba-2 conv width (paper: 2)", flag="--d-conv",
          architecture=True),
    Param("expand", 8, int_ge(1), _INT1, "Mamba-2 expansion (paper: 8)", flag="--expand",
          architecture=True),
    Param("headdim", 64, int_ge(1), _INT1, "Mamba-2 head size (paper: 64)", flag="--headdim",
          architecture=True),
    Param("chunk_size", 256, int_ge(1), _INT1, "SSD chunk length (paper: 256)",
          flag="--chunk-size", architecture=True),
    _option("lr_schedule", "onecycle", ("onecycle", "constant"),
            "learning-rate schedule (paper: one-cycle, 10 %% warm-up)", flag="--lr-schedule",
            fingerprint=True),
    Param("checkpointing", False, lambda v: is_bool(v) or v in CHECKPOINTING[2:],
          "True, False or 'light'",
          "recompute the Mamba blocks (True) or the cheap parts around their scans ('light') "
          "in the backward pass (less memory)"),
    Param("cuda_graphs", "auto", lambda v: is_bool(v) or v == "auto", "'auto', True or False",
          "replay the training passes of full batches as CUDA graphs ('auto': with "
          "mamba-ssm's scan on CUDA)", saved=False),
    Param("compile", False, is_bool, "True or False",
          "run the passes of fit under torch.compile (compiles for minutes first)",
          flag="--compile", saved=False),
    Param("num_workers", 0, py_int_ge(0), "an int >= 0", "DataLoader worker processes",
          flag="--num-workers"),
    _option("features", "stats", ("stats", "mean"),
            "transform's output: nine statistics or the mean per channel", owners=PRE),
    Param("hidden", 128, py_int_ge(1), _INT1, "head hidden units (paper: 128)", CLF,
          flag="--hidden", fingerprint=True),
    Param("base_width", 64, py_int_ge(1), _INT1, "base width (paper: 64)",
          flag="--base-width", architecture=True),
    Param("checkpoint_dir", None, lambda v: v is None or isinstance(v, (str, os.PathLike)),
          "None or a folder path (str or os.PathLike)", "folder for checkpoints (None: none)",
          flag="--checkpoint-dir", saved=False),
    Param("checkpoint_every", 1, py_int_ge(1), "an int >= 1 (epochs)",
          "epochs between checkpoints", flag="--checkpoint-every"),
    Param("resume", False, is_bool, "True or False", "continue from --checkpoint-dir",
          flag="--resume", saved=False),
)  # fmt: skip

#: Every parameter of the estimators, by name.
PARAMS: dict[str, Param] = {p.name: p for p in _ROWS}

#: Parameter name -> (predicate, description of the allowed values), for
#: :func:`validate_params`.
PARAM_CHECKS: dict[str, tuple[Check, str]] = {p.name: (p.check, p.allowed) for p in _ROWS}

#: The network sizes, in the order of the models' constructors.
ARCH_PARAMS = ("base_width", "d_state", "d_conv", "expand", "headdim", "chunk_size")

#: The parameters both estimators share, in their signatures' order.
SHARED_PARAMS = (
    "lr", "max_epochs", "batch_size", "weight_decay", "lr_schedule", "gradient_clip_value",
    "validation_split", "patience", "scaling", *ARCH_PARAMS, "device", "backend", "precision",
    "checkpointing", "cuda_graphs", "compile", "num_workers", "random_state", "verbose",
    "callbacks", "checkpoint_dir", "checkpoint_every", "resume",
)  # fmt: skip

#: Each estimator's own parameters (before the shared ones), in its signature's order.
OWN_PARAMS = {
    "pretrainer": (
        "window_seconds",
        "window_stride_seconds",
        "alpha",
        "beta",
        "features",
        "objective",
        "mask_ratio",
        "mask_span",
        "mask_loss",
    ),
    "classifier": ("pretrained", "finetune", "head", "variant", "class_weight", "hidden"),
}

#: Settings a checkpoint must share with the run that resumes it (besides the data's shape
#: and the architecture).
FINGERPRINT_PARAMS = tuple(p.name for p in _ROWS if p.fingerprint)


def signature_params(kind: str) -> tuple[str, ...]:
    """The parameters of one estimator (``"pretrainer"`` or ``"classifier"``), in order.

    Examples
    --------
    >>> signature_params("classifier")[:3]
    ('pretrained', 'finetune', 'head')
    """
    return OWN_PARAMS[kind] + SHARED_PARAMS


def defaults(kind: str) -> dict[str, Any]:
    """``{name: default}`` of one estimator's parameters.

    Examples
    --------
    >>> defaults("pretrainer")["lr"]
    0.0005
    """
    return {name: PARAMS[name].default for name in signature_params(kind)}


def _cross_param_errors(params: Mapping[str, Any]) -> list[str]:
    """Errors that involve several parameters at once."""
    errors = []
    alpha, beta = params.get("alpha"), params.get("beta")
    if is_real(alpha) and is_real(beta) and alpha == 0 and beta == 0:
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
    checks: Mapping[str, tuple[Check, str]] | None = None,
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
        invalid_param_line(name, params[name], description)
        for name, (check, description) in checks.items()
        if name in params and not check(params[name])
    ]
    errors += entry_errors(params) + _cross_param_errors(params)
    if errors:
        noun = "parameter" if len(errors) == 1 else "parameters"
        lines = "\n".join(f"- {e}" for e in errors)
        raise ValueError(f"Invalid {noun} for {type(estimator).__name__}:\n{lines}")


__all__ = [
    "ARCH_PARAMS",
    "OBJECTIVES",
    "FINGERPRINT_PARAMS",
    "PARAMS",
    "PARAM_CHECKS",
    "Param",
    "SHARED_PARAMS",
    "defaults",
    "signature_params",
    "validate_params",
]
