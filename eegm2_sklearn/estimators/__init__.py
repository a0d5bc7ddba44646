"""scikit-learn estimators (skorch underneath) for EEGM2."""

from ._logging import CSVLogger
from ._net import NonFiniteLossError
from .classifier import EEGM2Classifier
from .pretrainer import EEGM2Pretrainer

__all__ = ["CSVLogger", "EEGM2Classifier", "EEGM2Pretrainer", "NonFiniteLossError"]
