"""scikit-learn transformers over MNE and braindecode preprocessing.

Every transformer here accepts the package's EEG inputs and returns the same kind:

=============================  ==============================================
input                          output
=============================  ==============================================
``mne.Epochs``                 a new ``mne.Epochs`` (the input is not changed)
list of ``mne.Epochs``         one ``mne.Epochs`` joining them, in list order
``mne.io.Raw``                 a new ``mne.io.Raw``
list of ``mne.io.Raw``         a list of new ``mne.io.Raw``
ndarray (n, C, T)              ndarray
=============================  ==============================================

A list of Epochs is what scikit-learn's cross-validation hands a step when it splits an
Epochs object, so inside a :class:`~sklearn.pipeline.Pipeline` the step after one of these
transformers receives one Epochs object that still knows its sampling rate and channel
names. The work is done by MNE (:meth:`mne.Epochs.filter`, :meth:`mne.Epochs.resample`,
:func:`mne.filter.filter_data`, :func:`mne.filter.resample`), braindecode
(:func:`braindecode.preprocessing.exponential_moving_standardize`) and scikit-learn
(:func:`sklearn.preprocessing.robust_scale`).

Units: MNE objects hold volts; arrays are taken as given. Arrays carry no sampling rate,
so steps that need one take it from ``input_sfreq``. These transformers learn nothing:
``fit`` checks the parameters and the input and returns ``self``, and ``transform`` works
without ``fit``. The exception is :class:`SubjectAlign`, which estimates per-subject
statistics from unlabelled windows (at ``fit`` for the training subjects, at
``transform`` for new ones) and takes windows (arrays or Epochs) only.
"""

from .alignment import SubjectAlign
from .channels import PickChannels
from .filters import BandpassFilter, Resample
from .preprocessor import EEGPreprocessor
from .standardize import ExponentialMovingStandardize, RobustScale

__all__ = [
    "BandpassFilter",
    "EEGPreprocessor",
    "ExponentialMovingStandardize",
    "PickChannels",
    "Resample",
    "RobustScale",
    "SubjectAlign",
]
