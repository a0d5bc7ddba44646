"""EEGM2 networks in plain PyTorch (no scikit-learn, skorch or MNE here)."""

from .attention import AttentionBlock, EEGM2Attention
from .classifier import HEADS, VARIANTS, EEGM2Net, StatisticsPooling
from .eegm2 import EEGM2, MIN_N_TIMES, EEGM2Light, MambaBlock, MultiBranchEmbedding
from .features import STATISTICS, bottleneck_mean, bottleneck_statistics
from .mamba2 import GatedRMSNorm, Mamba2
from .weights import load_backbone_weights

__all__ = [
    "EEGM2",
    "AttentionBlock",
    "EEGM2Attention",
    "HEADS",
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
    "bottleneck_mean",
    "bottleneck_statistics",
    "load_backbone_weights",
]
