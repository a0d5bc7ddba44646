"""scikit-learn estimators (skorch underneath) for EEGM2."""

from .classifier import EEGM2Classifier
from .pretrainer import EEGM2Pretrainer

__all__ = ["EEGM2Classifier", "EEGM2Pretrainer"]
