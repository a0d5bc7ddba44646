"""The SSD scan of Mamba-2: a pure-PyTorch implementation and mamba-ssm dispatch.

This layer imports neither scikit-learn, skorch nor MNE.
"""

from .backend import BACKENDS, mamba_ssm_available, resolve_backend
from .reference import ssd_sequential_reference
from .scan import TORCH_CHUNK_SIZE, ssd_scan, torch_chunk_size
from .ssd_torch import ssd_chunked_torch

__all__ = [
    "BACKENDS",
    "TORCH_CHUNK_SIZE",
    "mamba_ssm_available",
    "resolve_backend",
    "ssd_chunked_torch",
    "ssd_scan",
    "ssd_sequential_reference",
    "torch_chunk_size",
]
