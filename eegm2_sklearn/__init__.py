"""EEGM2, the Mamba-2 self-supervised EEG model, as scikit-learn estimators.

The estimators (which import skorch, scikit-learn and MNE) load on first use, so
``import eegm2_sklearn.models`` stays light.
"""

__version__ = "0.1.0"

__all__ = ["EEGM2Classifier", "EEGM2Pretrainer", "__version__", "sys_info"]


def __getattr__(name: str):
    if name in ("EEGM2Classifier", "EEGM2Pretrainer"):
        from . import estimators

        return getattr(estimators, name)
    if name == "sys_info":
        from .environment import sys_info

        return sys_info
    raise AttributeError(f"module 'eegm2_sklearn' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
