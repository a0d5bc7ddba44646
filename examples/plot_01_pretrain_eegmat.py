"""
.. _ex-pretrain:

Pretrain EEGM2 on continuous EEG
================================

EEGM2 learns without labels: it compresses a window of EEG through a U-Net of Mamba-2
blocks and learns to rebuild it, with a loss that compares the signals both in time and
in frequency. This example pretrains a small EEGM2 on the continuous recordings of a few
EEGMAT subjects (no labels used), then looks at

- the training curve (training and validation loss per epoch),
- a window of a subject the model has never seen, and its reconstruction,
- the power spectra of both.
"""

# %%
# sphinx_gallery_thumbnail_number = 2
import os

import numpy as np

from eegm2_sklearn import EEGM2Pretrainer
from eegm2_sklearn.datasets import fetch_eegmat, make_eegmat_epochs
from eegm2_sklearn.models import EEGM2
from eegm2_sklearn.preprocessing import EEGPreprocessor
from eegm2_sklearn.viz import plot_history, plot_reconstruction

# EEGM2_EXAMPLES_QUICK=1 (set by the test suite) shrinks the run to a smoke test.
QUICK = os.environ.get("EEGM2_EXAMPLES_QUICK", "") not in ("", "0")
train_subjects = [0, 1] if QUICK else [0, 1, 2, 3]
max_epochs = 3 if QUICK else 15

# %%
# Load continuous recordings
# --------------------------
# :func:`~eegm2_sklearn.datasets.fetch_eegmat` returns one preloaded :class:`mne.io.Raw`
# per recording: for each subject a resting recording (eyes closed, about 3 minutes) and
# a mental-arithmetic recording (1 minute), 19 EEG channels at 500 Hz, in volts. Files
# are downloaded from PhysioNet on first use, or read from the folder named by the
# environment variable ``EEGM2_DATA``.
raws, description = fetch_eegmat(subjects=train_subjects, return_description=True, verbose=False)
print(description[["subject", "state", "duration_s"]])

# %%
# The paper works at 128 Hz. :class:`~eegm2_sklearn.preprocessing.EEGPreprocessor`
# keeps the EEG channels (dropping the reference derivation and the ECG) and resamples
# each Raw with MNE; on continuous recordings this has no edge effects.
raws = EEGPreprocessor(picks="eeg", sfreq=128.0).fit_transform(raws)
print(raws[0].info["sfreq"], "Hz,", len(raws[0].ch_names), "channels:", raws[0].ch_names)

# %%
# Pretrain
# --------
# :class:`~eegm2_sklearn.EEGM2Pretrainer` cuts the recordings into windows of
# ``window_seconds`` with braindecode and trains the network to reconstruct them. Each
# window is scaled per channel by its median and interquartile range
# (``scaling="robust"``, the default), so the volts of MNE need no conversion. 20 % of the
# windows are held out to follow a validation loss.
#
# The paper's network has a base width of 64 (4.5 million parameters at 19 channels); a
# width of 8 keeps this example fast on a CPU.
pre = EEGM2Pretrainer(
    window_seconds=8.0,
    max_epochs=max_epochs,
    batch_size=16,
    lr=3e-3,
    validation_split=0.2,
    base_width=8,
    expand=2,
    headdim=8,
    d_state=8,
    random_state=0,
    verbose=1,
)
pre.fit(raws)

n_small = sum(p.numel() for p in pre.module_.parameters())
n_paper = sum(p.numel() for p in EEGM2(n_chans=19).parameters())
print(f"windows of {pre.n_times_} samples at {pre.sfreq_:g} Hz, {pre.n_chans_} channels")
print(f"parameters: {n_small:,} here, {n_paper:,} at the paper's width")

# %%
# The training curve
# ------------------
# :func:`~eegm2_sklearn.viz.plot_history` reads the estimator's ``history_`` (one row
# per epoch, kept by skorch). The loss is the temporal-spectral loss of the paper: the
# mean absolute error in time plus the mean squared error of the Fourier coefficients.
fig = plot_history(pre, logy=True, title="EEGM2 pretraining on EEGMAT")

# %%
# A window it has never seen
# --------------------------
# Cut the recordings of another subject into windows of the same length with
# :func:`~eegm2_sklearn.datasets.make_eegmat_epochs`; the pretrainer accepts
# :class:`mne.Epochs` as they are. :meth:`~eegm2_sklearn.EEGM2Pretrainer.reconstruct`
# undoes the per-window scaling, so the reconstruction comes back in volts.
test_raws = fetch_eegmat(subjects=[5], verbose=False)
epochs, y, groups = make_eegmat_epochs(test_raws, window_seconds=8.0, sfreq=128.0, verbose=False)
x_hat = pre.reconstruct(epochs[:1])
x = epochs.get_data(copy=False)[0]

train_epochs = make_eegmat_epochs(raws, window_seconds=8.0, sfreq=None, verbose=False)[0]
print(f"score (negative loss) on the training subjects: {pre.score(train_epochs):.1f}")
print(f"score (negative loss) on the held-out subject:  {pre.score(epochs):.1f}")

# %%
# The original (black) and the reconstruction (orange) of four channels over the first
# window, and the power spectral density of both, averaged over those channels (Welch's
# method from MNE, in decibels as MNE draws spectra). A small model trained for a few
# epochs keeps the slow waves and the alpha rhythm better than fast details; with the
# paper's width and more epochs the two curves come much closer.
fig = plot_reconstruction(
    x,
    x_hat[0],
    sfreq=epochs.info["sfreq"],
    ch_names=epochs.ch_names,
    picks=["Fz", "Cz", "Pz", "O1"],
    fmax=40.0,
    title=f"subject 5, {y[0]}: original and reconstruction",
)

# %%
# How close are they? The correlation per channel between original and reconstruction
# over all held-out windows:
X = epochs.get_data(copy=False)
X_hat = pre.reconstruct(epochs)
corr = [np.corrcoef(X[:, c].ravel(), X_hat[:, c].ravel())[0, 1] for c in range(X.shape[1])]
for name, r in zip(epochs.ch_names, corr, strict=True):
    print(f"{name:>4s}: r = {r:.2f}")
