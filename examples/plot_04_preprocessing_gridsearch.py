"""
.. _ex-preprocessing:

Preprocessing inside a Pipeline, tuned with GridSearchCV
========================================================

Filtering, resampling and standardising EEG are choices like any hyper-parameter. The
transformers of :mod:`eegm2_sklearn.preprocessing` wrap MNE and braindecode as
scikit-learn steps, so these choices live inside a :class:`~sklearn.pipeline.Pipeline`,
are fitted per fold, and can be searched with
:class:`~sklearn.model_selection.GridSearchCV`:

- :class:`~eegm2_sklearn.preprocessing.EEGPreprocessor` band-pass filters and resamples
  with MNE (:meth:`mne.Epochs.filter`, :meth:`mne.Epochs.resample`);
- :class:`~eegm2_sklearn.preprocessing.ExponentialMovingStandardize` runs braindecode's
  :func:`~braindecode.preprocessing.exponential_moving_standardize` on every window;
- :class:`~eegm2_sklearn.preprocessing.RobustScale` divides every channel of every window
  by its interquartile range.

The steps take :class:`mne.Epochs` and hand :class:`mne.Epochs` to the next step, so the
classifier at the end still knows the sampling rate and channel names.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from eegm2_sklearn import EEGM2Classifier
from eegm2_sklearn.datasets import fetch_eegmat, make_eegmat_epochs
from eegm2_sklearn.preprocessing import (
    EEGPreprocessor,
    ExponentialMovingStandardize,
    RobustScale,
)

QUICK = os.environ.get("EEGM2_EXAMPLES_QUICK", "") not in ("", "0")
subjects = [0, 1, 2, 3] if QUICK else [0, 1, 2, 3, 4, 5]
max_epochs = 2 if QUICK else 5

# %%
# Windows at the recording's own rate
# -----------------------------------
# ``sfreq=None`` keeps the 500 Hz of the recordings: resampling becomes a pipeline step.
raws = fetch_eegmat(subjects=subjects, verbose=False)
epochs, y, groups = make_eegmat_epochs(raws, window_seconds=4.0, sfreq=None, verbose=False)
print(epochs.info["sfreq"], "Hz,", len(epochs), "windows of", len(epochs.times), "samples")

# %%
# The pipeline
# ------------
# Band-pass 1-40 Hz and resample to 128 Hz, standardise each window, classify. The
# classifier's own per-window scaling is switched off (``scaling=None``) because the
# ``standardize`` step does that job here.
pipe = Pipeline(
    [
        ("prep", EEGPreprocessor(l_freq=1.0, h_freq=40.0, sfreq=128.0)),
        ("standardize", ExponentialMovingStandardize(factor_new=1e-2, init_block_size=128)),
        (
            "clf",
            EEGM2Classifier(
                scaling=None,
                head="pool",
                class_weight="balanced",
                max_epochs=max_epochs,
                batch_size=32,
                lr=1e-3,
                base_width=8,
                expand=2,
                headdim=8,
                d_state=8,
                random_state=0,
            ),
        ),
    ]
)
pipe

# %%
# What the first two steps do to one window of channel Pz:
Xt = pipe[:2].fit_transform(epochs[:1])  # one Epochs in, one Epochs out
print(type(Xt).__name__, Xt.info["sfreq"], "Hz")
fig, axes = plt.subplots(2, 1, figsize=(8, 4), layout="constrained")
pz = epochs.ch_names.index("Pz")
axes[0].plot(epochs.times, epochs.get_data(copy=False)[0, pz] * 1e6, lw=0.7)
axes[0].set_ylabel("raw Pz (µV)")
axes[1].plot(Xt.times, Xt.get_data(copy=False)[0, pz], lw=0.7, color="C1")
axes[1].set_ylabel("standardised")
axes[1].set_xlabel("time (s)")

# %%
# The grid
# --------
# Parameters of a step are named ``<step>__<parameter>``, and a whole step can be
# swapped for another transformer. Here: the low-pass edge, and braindecode's moving
# standardisation against a plain robust scaling.
param_grid = {
    "prep__h_freq": [20.0, 40.0],
    "standardize": [
        ExponentialMovingStandardize(factor_new=1e-2, init_block_size=128),
        RobustScale(),
    ],
}
if QUICK:
    param_grid["prep__h_freq"] = [40.0]

search = GridSearchCV(
    pipe,
    param_grid,
    cv=GroupKFold(n_splits=2),
    scoring="balanced_accuracy",
    refit=True,
)
search.fit(epochs, y, groups=groups)
print("best:", search.best_params_, f"balanced accuracy {search.best_score_:.3f}")

# %%
# All candidates, best first:
results = pd.DataFrame(search.cv_results_)
results["standardize"] = results["param_standardize"].map(lambda s: type(s).__name__)
table = results[["param_prep__h_freq", "standardize", "mean_test_score", "std_test_score"]]
print(table.sort_values("mean_test_score", ascending=False).to_string(index=False))

# %%
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
labels = [f"{row.standardize}\nh_freq={row.param_prep__h_freq:g}" for row in results.itertuples()]
ax.bar(labels, results["mean_test_score"], yerr=results["std_test_score"], color="C0")
ax.axhline(0.5, color="k", ls="--", lw=1, label="chance")
ax.set_ylim(0, 1)
ax.set_ylabel("balanced accuracy")
ax.tick_params(axis="x", labelsize=8)
ax.legend()

# %%
# ``search.best_estimator_`` is the whole pipeline refitted on every window with the best
# parameters: it takes raw 500 Hz windows and does its own preprocessing, so new data
# need no separate step.
proba = search.best_estimator_.predict_proba(epochs[:3])
print(search.best_estimator_.classes_, np.round(proba, 3))
