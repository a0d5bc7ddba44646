"""The temporal-spectral loss; it lives in :mod:`eegm2_sklearn.models.losses`.

Kept so that ``from eegm2_sklearn.losses import TemporalSpectralLoss`` keeps working.
"""

from .models.losses import TemporalSpectralLoss

__all__ = ["TemporalSpectralLoss"]
