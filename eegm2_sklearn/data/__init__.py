"""EEG data in, windows out: one input normaliser, windowing, streaming and scaling.

Arrays, ``mne.Epochs`` (and lists of them), ``mne.io.Raw`` (and lists of them), file paths
and braindecode datasets are recognised in one place (:func:`input_kind`) and become
:class:`EEGArray` (in memory, :func:`to_eeg_array`) or :class:`EEGWindowStream` (read
window by window, :func:`stream_windows`). Per-window
scaling (:func:`scale_windows`) makes the unit irrelevant to the models; per-subject
alignment (:func:`align_by_group`) removes what all windows of one subject share. This layer needs
NumPy, MNE and braindecode, never skorch or the estimators.
"""

from .alignment import METHODS as ALIGNMENT_METHODS
from .alignment import Alignment, align_by_group, fit_alignment, whitening_matrix
from .braindecode_inputs import stack_braindecode
from .checks import MIN_N_TIMES
from .eeg_array import EEGArray
from .inputs import to_eeg_array, validate_eeg_array
from .kinds import INPUT_KINDS, input_kind
from .mne_inputs import as_mne_or_array, epochs_list_to_epochs, stack_epochs_list
from .scaling import SCALING_METHODS, ScalingStats, inverse_scale_windows, scale_windows
from .streaming import EEGWindowStream, is_streamable, stream_windows
from .windows import check_raws_for_windows, window_raws

__all__ = [
    "ALIGNMENT_METHODS",
    "INPUT_KINDS",
    "MIN_N_TIMES",
    "SCALING_METHODS",
    "Alignment",
    "EEGArray",
    "EEGWindowStream",
    "ScalingStats",
    "align_by_group",
    "as_mne_or_array",
    "check_raws_for_windows",
    "epochs_list_to_epochs",
    "fit_alignment",
    "input_kind",
    "inverse_scale_windows",
    "is_streamable",
    "scale_windows",
    "stack_braindecode",
    "stack_epochs_list",
    "stream_windows",
    "to_eeg_array",
    "validate_eeg_array",
    "whitening_matrix",
    "window_raws",
]
