"""
.. _ex-linear-probe:

The paper's linear probe, beside band power
===========================================

The EEGM2 paper judges a pretrained network by a *linear probe*: the network stays frozen,
each window is summarised by nine statistics over time of every bottleneck channel (min,
max, mean, standard deviation and the 5, 25, 50, 75 and 95 % quantiles), and a logistic
regression classifies those features. :meth:`EEGM2Pretrainer.transform
<eegm2_sklearn.EEGM2Pretrainer.transform>` returns exactly these features, so the probe is
a scikit-learn :class:`~sklearn.pipeline.Pipeline`.

This example compares three pipelines on rest vs mental arithmetic, each evaluated on
subjects it has not seen:

1. the classic EEG baseline: log band power (delta, theta, alpha, beta) of each channel
   and a logistic regression;
2. the linear probe of an EEGM2 pretrained once on *other* subjects, wrapped in
   :class:`~sklearn.frozen.FrozenEstimator` so that cross-validation does not retrain it;
3. the same probe with the pretraining inside the pipeline: each fold pretrains on its
   own training windows (still without their labels).
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from mne.time_frequency import psd_array_welch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from eegm2_sklearn import EEGM2Pretrainer
from eegm2_sklearn.datasets import fetch_eegmat, make_eegmat_epochs
from eegm2_sklearn.preprocessing import EEGPreprocessor

QUICK = os.environ.get("EEGM2_EXAMPLES_QUICK", "") not in ("", "0")
pretrain_subjects = [10, 11] if QUICK else [10, 11, 12, 13]
labelled_subjects = [0, 1, 2, 3] if QUICK else [0, 1, 2, 3, 4, 5]
n_splits = 2 if QUICK else 3
max_epochs = 2 if QUICK else 8
small = dict(base_width=8, expand=2, headdim=8, d_state=8, batch_size=32, lr=3e-3)

# %%
# Data
# ----
# Labelled 4-s windows at 128 Hz of the evaluation subjects, as a NumPy array in volts
# (every pipeline here takes arrays; :class:`mne.Epochs` would do as well).
raws = fetch_eegmat(subjects=labelled_subjects, verbose=False)
epochs, y, groups = make_eegmat_epochs(raws, window_seconds=4.0, sfreq=128.0, verbose=False)
X = epochs.get_data()
sfreq = epochs.info["sfreq"]
print(X.shape, "windows x channels x samples;", "subjects", np.unique(groups).tolist())

# %%
# 1. Band power and logistic regression
# -------------------------------------
# The log mean power in four bands per channel, from Welch spectra computed by MNE.
BANDS = {"delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0)}


def log_band_power(X, sfreq):
    """(n_windows, n_channels, n_times) -> (n_windows, n_channels * n_bands)."""
    psd, freqs = psd_array_welch(X, sfreq, fmin=1.0, fmax=30.0, n_fft=int(sfreq), verbose=False)
    power = [psd[..., (freqs >= lo) & (freqs < hi)].mean(axis=-1) for lo, hi in BANDS.values()]
    return np.log10(np.stack(power, axis=-1)).reshape(len(X), -1)


def probe():
    """The classifier on top of the features: standardise, then a logistic regression."""
    return [StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)]


band_power = make_pipeline(FunctionTransformer(log_band_power, kw_args={"sfreq": sfreq}), *probe())

# %%
# 2. EEGM2 pretrained once, then frozen
# -------------------------------------
# Pretrain on the continuous recordings of other subjects (no labels), then freeze.
pretrain_raws = EEGPreprocessor(picks="eeg", sfreq=128.0).fit_transform(
    fetch_eegmat(subjects=pretrain_subjects, verbose=False)
)
pre = EEGM2Pretrainer(window_seconds=4.0, max_epochs=max_epochs, random_state=0, **small)
pre.fit(pretrain_raws)
features = pre.transform(X[:2])
print("EEGM2 features per window:", features.shape[1], "e.g.", pre.get_feature_names_out()[:3])

frozen_probe = make_pipeline(FrozenEstimator(pre), *probe())

# %%
# 3. Pretraining inside the pipeline
# ----------------------------------
# ``make_pipeline(EEGM2Pretrainer(), ...)`` is the paper's linear probe in one
# estimator: ``fit`` pretrains on the windows it gets (ignoring their labels) and fits
# the logistic regression on their features.
inner_probe = make_pipeline(
    EEGM2Pretrainer(max_epochs=max_epochs, random_state=0, **small), *probe()
)

# %%
# Cross-validate the three across subjects
# ----------------------------------------
cv = GroupKFold(n_splits=n_splits)
pipelines = {
    "band power\n+ logistic regression": band_power,
    "EEGM2 frozen\n(other subjects)\n+ logistic regression": frozen_probe,
    "EEGM2 pretrained per fold\n+ logistic regression": inner_probe,
}
results = {}
for name, pipe in pipelines.items():
    results[name] = cross_val_score(pipe, X, y, groups=groups, cv=cv, scoring="balanced_accuracy")
    print(f"{name.replace(chr(10), ' '):60s} {results[name].mean():.3f}", results[name].round(3))

# %%
# The balanced accuracy of every fold (dots) and its mean (bar). Chance is 0.5.
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
for i, scores in enumerate(results.values()):
    ax.bar(i, scores.mean(), color=f"C{i}", alpha=0.4)
    ax.plot(np.full(len(scores), i), scores, "o", color=f"C{i}")
ax.axhline(0.5, color="k", ls="--", lw=1, label="chance")
ax.set_xticks(range(len(results)), list(results), fontsize=8)
ax.set_ylim(0, 1)
ax.set_ylabel("balanced accuracy")
ax.set_title("rest vs arithmetic on unseen subjects")
ax.legend(loc="lower right")

# %%
# Telling rest from mental arithmetic across subjects is hard with a few subjects:
# differences between people are larger than the change between the two states, and
# band power itself stays modest. A probe on a network this small and this briefly
# trained shows how the pieces fit together, not what EEGM2 reaches; the
# Benchmarks pages report the paper-size network trained on a GPU.
