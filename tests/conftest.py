"""Shared pytest fixtures.

Real EEG comes from the EEGMAT folder named by the environment variable ``EEGM2_DATA``,
else ``../shared/data/eegmat`` beside the repository; tests that need it are skipped when
the folder is absent, and fail when the environment variable ``CI`` is set (to anything but
an empty value, ``0``, ``false`` or ``no``; ``tests/test_real_data_fixture.py``). Fixtures are
session-scoped and cached: do not modify what they return in place (copy first).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

# Subprocesses (test workers, torchrun) import this checkout's package, even where the
# environment's editable install points to another checkout.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
)


@pytest.fixture
def no_tf32():
    """PyTorch's TF32 switches off for the test, as the GPU tolerances assume."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def running_in_ci() -> bool:
    """``CI`` is set to anything but an empty, ``0``, ``false`` or ``no`` value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def eegmat_path() -> Path:
    """Folder holding the EEGMAT EDF files (``SubjectNN_1.edf``, ``SubjectNN_2.edf``)."""
    env = os.environ.get("EEGM2_DATA")
    path = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data" / "eegmat"
    if not (path / "Subject00_1.edf").is_file():
        if running_in_ci():  # CI has the data beside the repository: never skip there
            pytest.fail(f"CI=true but the EEGMAT data are not in {path}; set EEGM2_DATA.")
        pytest.skip(
            f"EEGMAT data not found in {path}: set EEGM2_DATA to a folder holding "
            "SubjectNN_1.edf / SubjectNN_2.edf (PhysioNet eegmat 1.0.0)."
        )
    return path


@pytest.fixture(scope="session")
def eegmat_epochs_small(eegmat_path):
    """``(epochs, y, groups)``: subjects 0-3, 4-s windows at 128 Hz, 19 EEG channels.

    ``y`` holds ``"rest"`` / ``"arithmetic"``, ``groups`` the subject ids; about 240
    windows. Shared by the whole session: copy before changing it.
    """
    from eegm2_sklearn.datasets import fetch_eegmat, make_eegmat_epochs

    raws = fetch_eegmat(subjects=[0, 1, 2, 3], path=eegmat_path, download=False, verbose=False)
    return make_eegmat_epochs(raws, window_seconds=4.0, sfreq=128.0, verbose=False)


@pytest.fixture(scope="session")
def eegmat_two_subjects(eegmat_epochs_small):
    """``(epochs, y, groups)`` of subjects 0 and 1 only (about 120 windows), copied once."""
    epochs, y, groups = eegmat_epochs_small
    keep = np.isin(groups, np.unique(groups)[:2])
    return epochs[np.flatnonzero(keep)].copy(), y[keep], groups[keep]
