"""EEGM2 networks and their loss in plain PyTorch (no scikit-learn, skorch or MNE here)."""

from .attention import AttentionBlock, EEGM2Attention
from .blocks import CheckpointedBlock, MambaBlock
from .eegm2 import CHECKPOINTING, EEGM2, MIN_N_TIMES, EEGM2Light, MultiBranchEmbedding
from .features import STATISTICS, bottleneck_mean, bottleneck_statistics
from .heads import HEADS, VARIANTS, EEGM2Net, StatisticsPooling
from .losses import TemporalSpectralLoss
from .mamba2 import GatedRMSNorm, Mamba2
from .masking import MASK_LOSS_ON, masked_loss, span_mask
from .weights import check_state_dict_compatible, load_backbone_weights

__all__ = [
    "CHECKPOINTING",
    "EEGM2",
    "AttentionBlock",
    "CheckpointedBlock",
    "EEGM2Attention",
    "HEADS",
    "MASK_LOSS_ON",
    "MIN_N_TIMES",
    "STATISTICS",
    "VARIANTS",
    "EEGM2Light",
    "EEGM2Net",
    "GatedRMSNorm",
    "Mamba2",
    "MambaBlock",
    "MultiBranchEmbedding",
    "StatisticsPooling",
    "TemporalSpectralLoss",
    "bottleneck_mean",
    "bottleneck_statistics",
    "check_state_dict_compatible",
    "load_backbone_weights",
    "masked_loss",
    "span_mask",
]
