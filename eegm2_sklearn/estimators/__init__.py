"""The scikit-learn face of EEGM2: :class:`EEGM2Pretrainer` and :class:`EEGM2Classifier`.

Their parameters are listed once, in :mod:`eegm2_sklearn.estimators.params`; the training
runtime they call is :mod:`eegm2_sklearn.training`, the data adapters
:mod:`eegm2_sklearn.data`.
"""

from ..training import CheckpointError, CheckpointInUseError, CSVLogger, NonFiniteLossError
from .classifier import EEGM2Classifier
from .pretrainer import EEGM2Pretrainer

__all__ = [
    "CSVLogger",
    "CheckpointError",
    "CheckpointInUseError",
    "EEGM2Classifier",
    "EEGM2Pretrainer",
    "NonFiniteLossError",
]
