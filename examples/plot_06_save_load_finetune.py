"""
.. _ex-save-load:

Save and load pretrained weights; frozen, full and Light fine-tuning
====================================================================

Pretraining is the expensive part, so it is done once and saved. This example

1. pretrains EEGM2 and saves it with
   :meth:`~eegm2_sklearn.EEGM2Pretrainer.save_pretrained` (safetensors weights and a JSON
   configuration), then loads it back with
   :meth:`~eegm2_sklearn.EEGM2Pretrainer.from_pretrained`;
2. fine-tunes three classifiers from the saved folder and compares them on held-out
   subjects:

   - ``finetune="frozen"``: the pretrained network stays fixed, only the head trains;
   - ``finetune="full"``: every weight trains (the paper's EEGM2 Fine);
   - ``variant="light"``: only the input embedding and the encoders (the paper's EEGM2
     Light, about 5 % of the parameters), fully fine-tuned.
"""

# %%
import json
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import balanced_accuracy_score

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.datasets import fetch_eegmat, make_eegmat_epochs
from eegm2_sklearn.preprocessing import EEGPreprocessor

QUICK = os.environ.get("EEGM2_EXAMPLES_QUICK", "") not in ("", "0")
pretrain_subjects = [10, 11] if QUICK else [10, 11, 12, 13]
train_subjects = [0, 1] if QUICK else [0, 1, 2, 3]
test_subjects = [4] if QUICK else [4, 5]
pretrain_epochs, finetune_epochs = (2, 2) if QUICK else (10, 6)

# %%
# Pretrain and save
# -----------------
raws = EEGPreprocessor(picks="eeg", sfreq=128.0).fit_transform(
    fetch_eegmat(subjects=pretrain_subjects, verbose=False)
)
pre = EEGM2Pretrainer(
    window_seconds=4.0,
    max_epochs=pretrain_epochs,
    batch_size=32,
    lr=3e-3,
    base_width=8,
    expand=2,
    headdim=8,
    d_state=8,
    random_state=0,
).fit(raws)

folder = pre.save_pretrained(Path(tempfile.mkdtemp()) / "eegm2_eegmat")
for path in sorted(folder.iterdir()):
    print(f"{path.name:20s} {path.stat().st_size / 1024:8.1f} KiB")

# %%
# ``config.json`` records what is needed to rebuild the network and to check new data
# against it: the architecture, the channels and their order, the sampling rate, the
# window length and the scaling.
config = json.loads((folder / "config.json").read_text())
print(json.dumps({k: config[k] for k in ("architecture", "n_chans", "n_times", "sfreq")}))
print("channels:", config["ch_names"])

# %%
# Load it back: the loaded pretrainer is fitted and gives the same features.
loaded = EEGM2Pretrainer.from_pretrained(folder, device="cpu")
epochs, y, groups = make_eegmat_epochs(
    fetch_eegmat(subjects=train_subjects + test_subjects, verbose=False),
    window_seconds=4.0,
    sfreq=128.0,
    verbose=False,
)
same = np.allclose(pre.transform(epochs[:8]), loaded.transform(epochs[:8]), atol=1e-5)
print("same features after loading:", same)

# %%
# Three ways to fine-tune
# -----------------------
# Every classifier gets the folder as ``pretrained=``: the weights are loaded at the start
# of ``fit`` and the architecture is read from the folder. Train on some subjects, test
# on others.
train = np.isin(groups, train_subjects)
test = ~train
common = dict(
    pretrained=folder,
    head="pool",
    class_weight="balanced",
    max_epochs=finetune_epochs,
    batch_size=32,
    random_state=0,
)
classifiers = {
    "frozen": EEGM2Classifier(finetune="frozen", lr=3e-3, **common),
    "full": EEGM2Classifier(finetune="full", lr=1e-3, **common),
    "light": EEGM2Classifier(variant="light", finetune="full", lr=1e-3, **common),
}

summary = {}
for name, clf in classifiers.items():
    start = time.perf_counter()
    clf.fit(epochs[train], y[train])
    seconds = time.perf_counter() - start
    params = list(clf.module_.parameters())
    summary[name] = dict(
        trainable=sum(p.numel() for p in params if p.requires_grad),
        total=sum(p.numel() for p in params),
        seconds=seconds,
        score=balanced_accuracy_score(y[test], clf.predict(epochs[test])),
    )
    s = summary[name]
    print(
        f"{name:6s} {s['trainable']:7,d} of {s['total']:7,d} parameters trained, "
        f"{s['seconds']:5.1f} s, balanced accuracy on subjects {test_subjects}: "
        f"{s['score']:.3f}"
    )

# %%
# Trainable parameters, fitting time and held-out score side by side. Freezing trains
# only the head and skips the backward pass through the network; the Light variant drops
# the decoder, which a head that pools the bottleneck does not use. (With a network this
# small the head, 9 statistics x 32 bottleneck channels -> 128 hidden units -> 2
# classes, is as large as the network; at the paper's width the network has 4.5 million
# parameters and this head about 300,000.)
names = list(summary)
fig, axes = plt.subplots(1, 3, figsize=(10, 3), layout="constrained")
panels = [
    ("trainable", "trainable parameters"),
    ("seconds", "fit time (s)"),
    ("score", "balanced accuracy"),
]
for ax, (key, label) in zip(axes, panels, strict=True):
    ax.bar(names, [summary[n][key] for n in names], color=["C0", "C1", "C2"])
    ax.set_title(label)
axes[2].axhline(0.5, color="k", ls="--", lw=1)
axes[2].set_ylim(0, 1)

# %%
# A fitted classifier is a plain Python object: :mod:`pickle` or :mod:`joblib` save it
# whole (network, head, classes, channels). The pretrainer's folder is the portable form
# of the pretrained network, independent of the estimator's Python class and readable
# with :mod:`safetensors` alone.
