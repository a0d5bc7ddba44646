"""EEGM2, the Mamba-2 self-supervised EEG model, as scikit-learn estimators.

The estimators (which import skorch, scikit-learn and MNE) load on first use, so
``import eegm2_sklearn.models`` stays light.
"""

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "CheckpointInUseError",
    "EEGM2Classifier",
    "EEGM2Pretrainer",
    "__version__",
    "sys_info",
]

#: Names served by :mod:`eegm2_sklearn.estimators` (the estimators and the errors to catch).
_FROM_ESTIMATORS = ("CheckpointError", "CheckpointInUseError", "EEGM2Classifier", "EEGM2Pretrainer")


def __getattr__(name: str):
    if name in _FROM_ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    if name == "sys_info":
        from .environment import sys_info

        return sys_info
    raise AttributeError(f"module 'eegm2_sklearn' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
