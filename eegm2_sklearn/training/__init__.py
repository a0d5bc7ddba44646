"""The skorch runtime behind the estimators: nets, sampling, checkpoints and resuming,
data parallelism, compilation, devices, callbacks and saved weights.

Everything here takes plain values (seeds, folders, epochs, modules); the scikit-learn
parameter rules live in :mod:`eegm2_sklearn.estimators`.
"""

from . import distributed
from .allocator import cpu_training_allocator, tune_cpu_allocator
from .callbacks import CSVLogger, training_callbacks
from .checkpoint import ResumableCheckpoint, ResumeFromCheckpoint
from .checkpoint_folder import (
    CheckpointError,
    check_checkpoint_dir,
    read_latest,
    select_checkpoint,
)
from .compiling import CompiledNetwork
from .cuda_graphs import GraphedPasses, TrainingGraphs
from .device import is_device, resolve_device
from .fit import batched_inference, checkpoint_note, fit_net, training_seed
from .interrupts import TrainingInterrupted
from .locking import CheckpointInUseError
from .net import (
    ClassificationNet,
    MaskedReconstructionNet,
    NonFiniteLossError,
    ReconstructionNet,
    make_net,
)
from .persistence import PretrainedNotFoundError, load_pretrained, save_pretrained
from .sampler import EpochShuffleSampler, epoch_permutation

__all__ = [
    "CSVLogger",
    "CheckpointError",
    "CheckpointInUseError",
    "ClassificationNet",
    "CompiledNetwork",
    "EpochShuffleSampler",
    "GraphedPasses",
    "MaskedReconstructionNet",
    "NonFiniteLossError",
    "PretrainedNotFoundError",
    "ReconstructionNet",
    "ResumableCheckpoint",
    "ResumeFromCheckpoint",
    "TrainingGraphs",
    "TrainingInterrupted",
    "batched_inference",
    "check_checkpoint_dir",
    "checkpoint_note",
    "cpu_training_allocator",
    "distributed",
    "epoch_permutation",
    "fit_net",
    "is_device",
    "load_pretrained",
    "make_net",
    "read_latest",
    "resolve_device",
    "save_pretrained",
    "select_checkpoint",
    "training_callbacks",
    "training_seed",
    "tune_cpu_allocator",
]
