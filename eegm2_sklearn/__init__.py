"""EEGM2 for scikit-learn."""

__version__ = "0.1.0"
