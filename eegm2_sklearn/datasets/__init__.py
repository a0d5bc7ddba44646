"""Loaders for public EEG datasets.

- :func:`fetch_eegmat`: PhysioNet "EEG During Mental Arithmetic Tasks" (EEGMAT) as Raw.
- :func:`make_eegmat_epochs`: labelled fixed-length windows with subject groups.
"""

from .eegmat import fetch_eegmat, make_eegmat_epochs

__all__ = ["fetch_eegmat", "make_eegmat_epochs"]
