"""
.. _ex-finetune-cv:

Fine-tune a classifier and cross-validate it across subjects
============================================================

Rest or mental arithmetic? This example pretrains EEGM2 on the unlabelled recordings of
some subjects, fine-tunes it with labels on others, and estimates how well it does on
subjects it has never seen:

- :class:`~eegm2_sklearn.EEGM2Classifier` starts from the pretrained weights
  (``pretrained=``) and trains the whole network with a classification head;
- :func:`~sklearn.model_selection.cross_val_score` takes an :class:`mne.Epochs` object as
  it is, with :class:`~sklearn.model_selection.GroupKFold` so that the windows of one
  subject never sit on both sides of a split;
- a confusion matrix shows which state is mistaken for which.
"""

# %%
# sphinx_gallery_thumbnail_number = 2
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold, cross_val_score

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.datasets import fetch_eegmat, make_eegmat_epochs
from eegm2_sklearn.preprocessing import EEGPreprocessor
from eegm2_sklearn.viz import plot_confusion, plot_history

QUICK = os.environ.get("EEGM2_EXAMPLES_QUICK", "") not in ("", "0")
pretrain_subjects = [10, 11] if QUICK else [10, 11, 12, 13]
labelled_subjects = [0, 1, 2, 3] if QUICK else [0, 1, 2, 3, 4, 5]
n_splits = 2 if QUICK else 3
pretrain_epochs, finetune_epochs = (2, 2) if QUICK else (10, 8)

# A small network (the paper uses base_width=64) keeps the example fast on a CPU.
small = dict(base_width=8, expand=2, headdim=8, d_state=8, random_state=0)

# %%
# Pretrain without labels
# -----------------------
# The recordings of the pretraining subjects, at 128 Hz, cut into 4-s windows by the
# pretrainer itself.
raws = fetch_eegmat(subjects=pretrain_subjects, verbose=False)
raws = EEGPreprocessor(picks="eeg", sfreq=128.0).fit_transform(raws)
pre = EEGM2Pretrainer(
    window_seconds=4.0, max_epochs=pretrain_epochs, batch_size=32, lr=3e-3, **small
).fit(raws)
print(f"pretrained on {len(pre.history_)} epochs, last loss {pre.history_[-1, 'train_loss']:.1f}")

# %%
# Cross-validation clones the classifier in every fold; :func:`~sklearn.base.clone`
# keeps the fitted pretrainer given as ``pretrained=`` as it is, so ``pretrained=pre``
# works too. Here the classifier gets the folder written by
# :meth:`~eegm2_sklearn.EEGM2Pretrainer.save_pretrained`, which also outlives this
# process.
pretrained_dir = pre.save_pretrained(Path(tempfile.mkdtemp()) / "eegm2_eegmat")
print(sorted(p.name for p in pretrained_dir.iterdir()))

# %%
# Labelled windows
# ----------------
# :func:`~eegm2_sklearn.datasets.make_eegmat_epochs` cuts the recordings of the other
# subjects into 4-s windows at 128 Hz and returns the label (``"rest"`` or
# ``"arithmetic"``) and the subject of each window. There are about three rest windows for
# each arithmetic window, so the classifier weighs the classes (``class_weight``) and the
# score is the balanced accuracy (chance: 0.5).
labelled = fetch_eegmat(subjects=labelled_subjects, verbose=False)
epochs, y, groups = make_eegmat_epochs(labelled, window_seconds=4.0, sfreq=128.0, verbose=False)
print(epochs)
print("windows per label:", {str(c): int(np.sum(y == c)) for c in np.unique(y)})
print("subjects:", np.unique(groups).tolist())

# %%
# Fine-tune, cross-validated across subjects
# ------------------------------------------
# ``pretrained=`` copies the pretrained weights into the classifier at the start of
# every ``fit``, so each fold of the cross-validation starts from them. ``head="pool"``
# classifies nine statistics over time of each bottleneck channel (any window length
# works); ``head="flatten"`` is the paper's head on the flattened reconstruction.
clf = EEGM2Classifier(
    pretrained=pretrained_dir,
    finetune="full",
    head="pool",
    class_weight="balanced",
    max_epochs=finetune_epochs,
    batch_size=32,
    lr=1e-3,
    **small,
)
cv = GroupKFold(n_splits=n_splits)
scores = cross_val_score(clf, epochs, y, groups=groups, cv=cv, scoring="balanced_accuracy")
print("balanced accuracy per fold:", np.round(scores, 3))
print(f"mean: {scores.mean():.3f} +/- {scores.std():.3f}")

# %%
# Do not read much into these numbers: a network this small, trained for a few epochs on
# the windows of four subjects, sits near chance on this task, where differences between
# people are larger than the change between rest and arithmetic (band power does little
# better, see :ref:`ex-linear-probe`). What matters here is the protocol: the test
# subjects are never seen in pretraining or fine-tuning. The Benchmarks pages report the
# paper-size network trained on a GPU.
#
# Which subjects were hard? The score of each fold beside the subjects it tested:
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
labels = [
    "subjects " + ", ".join(map(str, np.unique(groups[test])))
    for _, test in cv.split(epochs.get_data(copy=False), y, groups)
]
ax.bar(labels, scores, color="C0")
ax.axhline(0.5, color="k", ls="--", lw=1, label="chance")
ax.set_ylim(0, 1)
ax.set_ylabel("balanced accuracy")
ax.set_title("EEGM2 fine-tuned, tested on unseen subjects")
ax.legend()

# %%
# A confusion matrix on held-out subjects
# ---------------------------------------
# Fit once more on all but the last fold's subjects and predict the windows of those
# subjects. :meth:`~eegm2_sklearn.EEGM2Classifier.predict` returns the original string
# labels; ``classes_`` gives the order of the ``predict_proba`` columns.
train, test = list(cv.split(epochs.get_data(copy=False), y, groups))[-1]
clf.fit(epochs[train], y[train])
y_pred = clf.predict(epochs[test])
print("classes:", clf.classes_)
print(f"held-out balanced accuracy: {balanced_accuracy_score(y[test], y_pred):.3f}")
fig = plot_confusion(
    y[test],
    y_pred,
    labels=["rest", "arithmetic"],
    normalize="true",
    title="subjects " + ", ".join(map(str, np.unique(groups[test]))),
)

# %%
# And how the fine-tuning loss went down:
fig = plot_history(clf, title="fine-tuning")

# %%
# Run as a script, this file shows nothing on a headless machine: set ``EEGM2_FIGURES_DIR``
# to a folder to save its figures there as PNG files.
if os.environ.get("EEGM2_FIGURES_DIR"):
    figures_dir = Path(os.environ["EEGM2_FIGURES_DIR"])
    figures_dir.mkdir(parents=True, exist_ok=True)
    for number in plt.get_fignums():
        plt.figure(number).savefig(figures_dir / f"finetune_cv_{number}.png", dpi=100)
    print("figures saved in", figures_dir)
