"""Rest vs mental arithmetic on EEGMAT: EEGM2 against braindecode models and band power.

Leave-subjects-out cross-validation over the 36 subjects of PhysioNet's EEGMAT
(``GroupKFold(6)``: 6 test subjects per fold). The folds are computed once, from the
subjects' recording lengths, before any window is cut, so every model, window length and
label fraction is tested on the same subjects. Per fold the script records balanced
accuracy, ROC AUC (positive class: arithmetic) and training seconds; it appends one CSV row
per (model, window, label fraction, fold) as soon as that fold is done, and prints a
markdown table of mean +- std over folds at the end (std with ``ddof=0``).

Models (``--models``):

- ``bandpower``: log band power (delta 1-4, theta 4-8, alpha 8-13, beta 13-30, gamma
  30-45 Hz; Welch, per channel) -> StandardScaler -> LogisticRegression(balanced).
- ``shallow``, ``eegnet``, ``conformer``: braindecode ``EEGClassifier`` with
  ``ShallowFBCSPNet``, ``EEGNet`` (EEGNet-v4, named ``EEGNet`` since braindecode 1.0) and
  ``EEGConformer``, with their default architectures.
- ``eegm2-scratch``: ``EEGM2Classifier`` from random weights (head from ``--eegm2-head``).
- ``eegm2-pretrained``: ``EEGM2Pretrainer`` fitted on the training subjects' continuous
  recordings (rest and arithmetic, no labels, never a test subject), then
  ``EEGM2Classifier(pretrained=pre, finetune="full")``.
- ``eegm2-probe``: ``make_pipeline(FrozenEstimator(pre), StandardScaler(),
  LogisticRegression(balanced))`` on the same pretrainer: the paper's linear probe on the
  2304 (``36 * base_width``) bottleneck statistics. The pretrainer is fitted once per fold
  and window length and shared by the three pretrained entries.
- ``eegm2-light``: ``EEGM2Classifier(pretrained=pre, variant="light", head="pool")``,
  embedding and encoders only.

Every deep model gets the same input: per-window, per-channel robust scaling (subtract
the median over time, divide by the interquartile range), i.e. the EEGM2 estimators' default
``scaling="robust"``, applied to the braindecode models with
``eegm2_sklearn.estimators._scaling.scale_windows``. It makes the unit (volts) irrelevant
and needs no state across windows, unlike exponential moving standardisation, which would
have to run on the continuous recordings before windowing. Class imbalance (about 3 rest
windows per arithmetic window) is handled by class weights from scikit-learn's
``compute_class_weight("balanced")`` in every model. Training uses all training windows,
without a validation split (``train_split=None``), AdamW, cosine annealing for braindecode
models (one-cycle for EEGM2, as in the paper) and fixed seeds.

Label efficiency (``--label-fractions``): the fraction applies to training SUBJECTS (all
windows of ``ceil(fraction * n_train_subjects)`` subjects drawn with a fixed seed per fold;
smaller fractions are subsets of larger ones). Pretraining always uses every training
subject's recordings, since it needs no labels.

Presets. Defaults depend on the device (``--preset cpu`` or ``gpu``; chosen from
``--device`` when not given); any flag overrides its preset value.

- ``cpu`` is sized to finish within an hour on a free 2-core CPU: EEGM2 width 8 (expand 2,
  headdim 8: about 35 k parameters instead of 4.6 M) with the pooled head at lr 2e-3
  (chosen on fold 0's training subjects only), 4 pretraining and 8 fine-tuning epochs, 10
  epochs for the braindecode models, label fractions at 4 s for band power and the EEGM2
  models, and every model on 30-s windows except EEGConformer (about 3 windows/s there on
  this CPU: over an hour by itself).
- ``gpu`` is the paper-size run: width 64, expand 8, headdim 64, d_state 16, 20
  pretraining and 20 fine-tuning epochs at the paper's lr 5e-4 with the pooled head (the
  paper's flatten head stayed at chance on the training subjects' validation scores), 30
  epochs for the braindecode models, every model at every window and label fraction.

``--quick`` (12 subjects, 3 folds, 4-s windows, all labels, 3 epochs) and ``--smoke``
(6 subjects, 2 folds, 1 epoch, tiny EEGM2) shrink the run further.

Examples::

    # default CPU run (all 36 subjects, 4-s and 30-s windows), CSV per fold
    python benchmarks/eegmat_accuracy.py --out eegmat_accuracy.csv

    # baselines only, 4-s windows, one thread
    python benchmarks/eegmat_accuracy.py --models bandpower shallow eegnet conformer \\
        --windows 4 --threads 1 --out baselines_4s.csv

    # paper-size run on a GPU, from a 128-Hz archive made beforehand with --export-npz:
    # the 12 (window, fold) pairs in 12 processes sharing the GPU(s); after a cut-off,
    # --resume continues and --pretrained-cache reloads the pretrainers already fitted
    python benchmarks/eegmat_accuracy.py --export-npz eegmat128.npz          # on the CPU side
    python benchmarks/eegmat_accuracy.py --data eegmat128.npz --device cuda --preset gpu \\
        --processes 12 --pretrained-cache pretrained --out gpu.csv --resume

    # the table of a run split by hand (--windows/--folds, one --out each)
    python benchmarks/eegmat_accuracy.py --summarize gpu_4s.csv gpu_30s.csv

    # 1-2 minute check of the whole pipeline (2 folds, 6 subjects, 1 epoch, tiny EEGM2)
    python benchmarks/eegmat_accuracy.py --smoke --out /tmp/smoke.csv

Data come from :func:`eegm2_sklearn.datasets.fetch_eegmat` (``--data`` folder, else the
``EEGM2_DATA`` environment variable, else MNE's data folder, downloading from PhysioNet if
needed), or from an ``.npz`` written by ``--export-npz``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

SFREQ = 128.0
N_SUBJECTS = 36
LONG_WINDOW_S = 10.0  # windows longer than this overlap by --overlap

MODEL_LABELS = {
    "bandpower": "Band power + LR",
    "shallow": "ShallowFBCSPNet",
    "eegnet": "EEGNet",
    "conformer": "EEGConformer",
    "eegm2-scratch": "EEGM2 from scratch",
    "eegm2-pretrained": "EEGM2 pretrained + fine-tuned",
    "eegm2-probe": "EEGM2 linear probe",
    "eegm2-light": "EEGM2 Light (pretrained)",
}
ALL_MODELS = tuple(MODEL_LABELS)
BRAINDECODE_MODELS = ("shallow", "eegnet", "conformer")
PRETRAINED_MODELS = ("eegm2-pretrained", "eegm2-probe", "eegm2-light")

#: Frequency bands of the band-power baseline (Hz).
BANDS = {"delta": (1, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30), "gamma": (30, 45)}

#: braindecode models: (peak learning rate, AdamW weight decay). ShallowFBCSPNet uses
#: braindecode's recommended 0.0625 * 0.01 and no decay; EEGNet and EEGConformer the
#: learning rates of their papers (1e-3, 2e-4).
BRAINDECODE_OPTIM = {"shallow": (6.25e-4, 0.0), "eegnet": (1e-3, 0.0), "conformer": (2e-4, 1e-2)}

PRESETS = {
    # Sized to finish within an hour on a free 2-core CPU: label efficiency at 4 s only, and
    # EEGConformer at 4 s only (about 3 windows/s on 30-s windows there: over an hour by
    # itself; the gpu preset runs it).
    "cpu": dict(
        windows=[4.0, 30.0],
        label_fractions=[0.1, 0.25, 1.0],
        fraction_models=["bandpower", "eegm2-scratch", "eegm2-pretrained", "eegm2-probe"],
        fraction_windows=[4.0],
        skip=["conformer@30"],
        max_epochs=10,
        eegm2_epochs=8,
        pretrain_epochs=4,
        # chosen on fold 0's training subjects only (25 train / 5 validation subjects):
        # validation AUC 0.73 for the pooled head at lr 2e-3 and 8 epochs, 0.55 for the
        # paper's flatten head at lr 5e-4 and 4 epochs, at about the same CPU time
        eegm2_head="pool",
        eegm2_lr=2e-3,
        eegm2_width=8,
        eegm2_expand=2,
        eegm2_headdim=8,
        eegm2_d_state=16,
    ),
    # Paper-size EEGM2 (4.6 M parameters with 19 channels), every model at every window and
    # label fraction.
    "gpu": dict(
        windows=[4.0, 30.0],
        label_fractions=[0.1, 0.25, 1.0],
        fraction_models=list(ALL_MODELS),
        fraction_windows=[4.0, 30.0],
        skip=[],
        max_epochs=30,
        eegm2_epochs=20,
        pretrain_epochs=20,
        # chosen on training subjects only (--validation-subjects 5, folds 0-2, one H100):
        # pretrained EEGM2 validation balanced accuracy 66.6 % (4 s) / 62.9 % (30 s) with the
        # pooled head, 50.6 % / 50.6 % (chance) with the paper's flatten head, both at lr 5e-4
        eegm2_head="pool",
        eegm2_lr=5e-4,
        eegm2_width=64,
        eegm2_expand=8,
        eegm2_headdim=64,
        eegm2_d_state=16,
    ),
}

CSV_COLUMNS = [
    "model",
    "model_label",
    "window_s",
    "overlap_s",
    "label_fraction",
    "fold",
    "n_folds",
    "test_subjects",
    "n_train_subjects",
    "n_train_windows",
    "n_test_windows",
    "balanced_accuracy",
    "roc_auc",
    "fit_seconds",
    "pretrain_seconds",
    "status",
    "error",
    "device",
    "seed",
    "settings",
    "timestamp",
    "evaluation",
]


def log(*parts) -> None:
    print(*parts, flush=True)


# ----------------------------------------------------------------------------- arguments
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description="EEGMAT rest vs arithmetic: EEGM2 vs braindecode models vs band power, "
        "leave-subjects-out (GroupKFold).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Flags shown with default None take their value from the preset. "
        + " ".join(
            f"Preset {name}: "
            + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in values.items())
            + "."
            for name, values in PRESETS.items()
        ),
    )
    ap.add_argument(
        "--data",
        default=None,
        help="EEGMAT folder or .npz from --export-npz "
        "(default: fetch_eegmat's search: EEGM2_DATA, then MNE's data folder)",
    )
    ap.add_argument("--no-download", action="store_true", help="never download from PhysioNet")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="defaults for the flags below (default: gpu on CUDA, else cpu)",
    )
    ap.add_argument("--models", nargs="+", default=list(ALL_MODELS), choices=ALL_MODELS)
    ap.add_argument("--windows", nargs="+", type=float, default=None, help="window lengths (s)")
    ap.add_argument(
        "--overlap",
        type=float,
        default=0.5,
        help=f"overlap fraction of windows longer than {LONG_WINDOW_S:g} s",
    )
    ap.add_argument("--label-fractions", nargs="+", type=float, default=None)
    ap.add_argument(
        "--fraction-models",
        nargs="+",
        default=None,
        choices=ALL_MODELS,
        help="models also trained on label fractions < 1 (others: 1.0 only)",
    )
    ap.add_argument(
        "--fraction-windows",
        nargs="+",
        type=float,
        default=None,
        help="window lengths (s) at which label fractions < 1 are run",
    )
    ap.add_argument(
        "--skip",
        nargs="*",
        default=None,
        metavar="MODEL@WINDOW",
        help="model/window pairs not run, e.g. conformer@30",
    )
    ap.add_argument("--max-epochs", type=int, default=None, help="braindecode models' epochs")
    ap.add_argument("--eegm2-epochs", type=int, default=None, help="EEGM2 classifiers' epochs")
    ap.add_argument("--pretrain-epochs", type=int, default=None)
    ap.add_argument("--eegm2-width", type=int, default=None, help="EEGM2 base_width (paper 64)")
    ap.add_argument("--eegm2-expand", type=int, default=None, help="Mamba-2 expand (paper 8)")
    ap.add_argument("--eegm2-headdim", type=int, default=None, help="Mamba-2 headdim (paper 64)")
    ap.add_argument("--eegm2-d-state", type=int, default=None, help="Mamba-2 d_state (paper 16)")
    ap.add_argument(
        "--eegm2-head", default=None, choices=["flatten", "pool"], help="EEGM2 classifier head"
    )
    ap.add_argument("--eegm2-lr", type=float, default=None, help="EEGM2 fine-tuning peak lr")
    ap.add_argument("--pretrain-lr", type=float, default=5e-4)
    ap.add_argument(
        "--eegm2-scaling",
        default="robust",
        choices=["robust", "percentile95", "none"],
        help="per-window scaling of the EEGM2 estimators (pretrainer and classifiers); 'none' "
        "feeds the windows in units of 10 uV (volts * 1e5), which keeps each channel's "
        "absolute power; the braindecode models always use 'robust'",
    )
    ap.add_argument("--precision", default="32", choices=["32", "bf16"], help="EEGM2 precision")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n-folds", type=int, default=6)
    ap.add_argument(
        "--folds",
        nargs="+",
        type=int,
        default=None,
        help="run only these fold indices (the split itself is unchanged; for splitting a "
        "run into several commands with --resume)",
    )
    ap.add_argument(
        "--subjects", type=int, default=None, help="use only the first N subjects (quick runs)"
    )
    ap.add_argument(
        "--validation-subjects",
        type=int,
        default=0,
        help="for choosing settings: leave each fold's test subjects out entirely and score "
        "on N of its training subjects (drawn with a fixed seed per fold) instead, training "
        "and pretraining on the others; rows then hold validation, not test, scores",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--out", default="eegmat_accuracy.csv", help="CSV of per-fold results")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows already in --out and skip folds recorded as ok (rows are matched "
        "by model, window, label fraction and fold only: resume with the same settings)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="12 subjects, 3 folds, 4-s windows, labels 1.0 only, 3 epochs",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="6 subjects, 2 folds, 4-s windows, 1 epoch, tiny EEGM2 (pipeline check)",
    )
    ap.add_argument(
        "--export-npz",
        default=None,
        metavar="PATH",
        help="write the 128-Hz EEG recordings to a compact .npz (int16) and exit",
    )
    ap.add_argument(
        "--processes",
        type=int,
        default=1,
        help="run the (window, fold) pairs in this many worker processes at once, spread "
        "round-robin over the visible GPUs (one GPU runs several: small EEG batches leave it "
        "idle between kernels); each writes OUT.parts/<window>s_fold<k>.csv, merged into --out "
        "at the end",
    )
    ap.add_argument(
        "--pretrained-cache",
        default=None,
        metavar="DIR",
        help="save each fold's fitted pretrainer under DIR (save_pretrained) and load it "
        "instead of pretraining again when the same data and settings come back (a resumed "
        "run, other fine-tuning settings)",
    )
    ap.add_argument(
        "--summarize",
        nargs="+",
        default=None,
        metavar="CSV",
        help="print the markdown table of these per-fold CSVs (one run split over several "
        "processes or GPUs, each with its own --out) and exit",
    )
    return ap


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_args(argv=None) -> argparse.Namespace:
    """Parse ``argv`` and fill unset flags from the preset, ``--quick`` and ``--smoke``."""
    args = build_parser().parse_args(argv)
    args.device = resolve_device(args.device)
    args.preset = args.preset or ("gpu" if args.device == "cuda" else "cpu")
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick:
        args.subjects = args.subjects or 12
        args.n_folds = min(args.n_folds, 3)
        args.windows, args.label_fractions = [4.0], [1.0]
        args.max_epochs = args.eegm2_epochs = args.pretrain_epochs = 3
    if args.smoke:
        args.subjects = min(args.subjects or 6, 6)
        args.n_folds = 2
        args.windows = [4.0]
        args.max_epochs = args.eegm2_epochs = args.pretrain_epochs = 1
        args.eegm2_width, args.eegm2_expand, args.eegm2_headdim = 4, 2, 4
        args.eegm2_d_state = 4
        args.label_fractions = [0.5, 1.0]
        args.fraction_windows = [4.0]
    if args.processes < 1:
        raise SystemExit(f"--processes must be at least 1; got {args.processes}.")
    if not 0 <= args.overlap < 1:
        raise SystemExit(f"--overlap must be in [0, 1); got {args.overlap}.")
    for frac in args.label_fractions:
        if not 0 < frac <= 1:
            raise SystemExit(f"--label-fractions must lie in (0, 1]; got {frac}.")
    if args.subjects is not None and not args.n_folds <= args.subjects <= N_SUBJECTS:
        raise SystemExit(
            f"--subjects must be between --n-folds ({args.n_folds}) and {N_SUBJECTS}; "
            f"got {args.subjects}."
        )
    return args


# ----------------------------------------------------------------------------- data
def load_recordings(args) -> list:
    """EEG-only Raw recordings at 128 Hz with the EEGMAT subject/state annotations."""
    subjects = list(range(args.subjects or N_SUBJECTS))
    if args.data and str(args.data).endswith(".npz"):
        return raws_from_npz(args.data, subjects)
    from eegm2_sklearn.datasets import fetch_eegmat

    raws = fetch_eegmat(
        subjects=subjects, path=args.data or None, download=not args.no_download, verbose=False
    )
    for raw in raws:
        raw.pick("eeg").resample(SFREQ, verbose=False)
    return raws


def export_npz(raws, path: str) -> None:
    """Store the 128-Hz recordings as int16 with a per-channel scale (about 40 MB)."""
    arrays = {}
    meta = []
    for i, raw in enumerate(raws):
        data = raw.get_data()
        scale = np.abs(data).max(axis=1, keepdims=True) / 32000.0
        scale[scale == 0] = 1.0
        arrays[f"data_{i}"] = np.round(data / scale).astype(np.int16)
        arrays[f"scale_{i}"] = scale.astype(np.float64)
        subject, state, quality = _recording_label(raw)
        meta.append({"subject": subject, "state": state, "count_quality": quality})
    arrays["meta"] = np.array(json.dumps({"ch_names": raws[0].ch_names, "recordings": meta}))
    np.savez_compressed(path, **arrays)
    log(f"wrote {len(raws)} recordings to {path} ({Path(path).stat().st_size / 2**20:.1f} MiB)")


def raws_from_npz(path: str, subjects: list[int]) -> list:
    """Rebuild annotated RawArray recordings from :func:`export_npz`'s archive."""
    import mne

    with np.load(path) as archive:
        meta = json.loads(str(archive["meta"]))
        info = mne.create_info(meta["ch_names"], SFREQ, "eeg")
        raws = []
        for i, rec in enumerate(meta["recordings"]):
            if rec["subject"] not in subjects:
                continue
            data = archive[f"data_{i}"].astype(np.float64) * archive[f"scale_{i}"]
            raw = mne.io.RawArray(data, info.copy(), verbose=False)
            raw.info["subject_info"] = {"id": rec["subject"]}
            extras = {"subject": rec["subject"], "count_quality": rec["count_quality"]}
            duration = raw.n_times / SFREQ
            raw.annotations.append(0.0, duration, rec["state"], extras=[extras])
            raws.append(raw)
    return raws


def _recording_label(raw) -> tuple[int, str, float]:
    for description, extras in zip(
        raw.annotations.description, raw.annotations.extras, strict=True
    ):
        if description in ("rest", "arithmetic"):
            extras = extras or {}
            return int(extras["subject"]), str(description), float(extras["count_quality"])
    raise ValueError("recording without an EEGMAT rest/arithmetic annotation")


def subject_folds(raws, n_folds: int) -> list[np.ndarray]:
    """Test subjects of each fold: GroupKFold over the subjects' recorded seconds.

    Computed from the recordings, not from windows, so the folds are the same whatever the
    window length; GroupKFold balances the recorded time across folds.
    """
    from sklearn.model_selection import GroupKFold

    seconds: dict[int, int] = {}
    for raw in raws:
        subject = _recording_label(raw)[0]
        seconds[subject] = seconds.get(subject, 0) + int(raw.n_times / raw.info["sfreq"])
    groups = np.concatenate([np.full(n, s) for s, n in sorted(seconds.items())])
    folds = []
    for _, test in GroupKFold(n_splits=n_folds).split(groups, groups=groups):
        folds.append(np.unique(groups[test]))
    return folds


@dataclass
class Windows:
    """Labelled windows of one length: X in volts, y 1 for arithmetic, subject groups."""

    window_s: float
    overlap_s: float
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    ch_names: list = field(default_factory=list)


def make_windows(raws, window_s: float, overlap_fraction: float) -> Windows:
    from eegm2_sklearn.datasets import make_eegmat_epochs

    overlap_s = window_s * overlap_fraction if window_s > LONG_WINDOW_S else 0.0
    epochs, y, groups = make_eegmat_epochs(
        raws, window_seconds=window_s, overlap_seconds=overlap_s, sfreq=SFREQ, verbose=False
    )
    X = epochs.get_data().astype(np.float32)
    return Windows(
        window_s, overlap_s, X, (y == "arithmetic").astype(np.int64), groups, list(epochs.ch_names)
    )


# ----------------------------------------------------------------------------- models
def log_band_power(X: np.ndarray) -> np.ndarray:
    """log10 mean Welch power per band and channel: (n, C, T) -> (n, C * n_bands)."""
    from mne.time_frequency import psd_array_welch

    n_fft = min(X.shape[-1], int(2 * SFREQ))
    psd, freqs = psd_array_welch(
        X.astype(np.float64), SFREQ, fmin=1.0, fmax=45.0, n_fft=n_fft, verbose=False
    )
    bands = [psd[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in BANDS.values()]
    return np.log10(np.stack(bands, axis=-1) + 1e-30).reshape(len(X), -1)


def scaled(X: np.ndarray) -> np.ndarray:
    from eegm2_sklearn.estimators._scaling import scale_windows

    return scale_windows(X, "robust")[0]


def class_weights(y: np.ndarray) -> np.ndarray:
    from sklearn.utils.class_weight import compute_class_weight

    return compute_class_weight("balanced", classes=np.array([0, 1]), y=y)


def positive_score(output: np.ndarray) -> np.ndarray:
    """Score of class 1 from logits, log-probabilities or probabilities of 2 classes."""
    output = np.asarray(output, dtype=np.float64)
    return output[:, 1] - output[:, 0]


def fit_bandpower(ctx, X_tr, y_tr, X_te):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    pipe = make_pipeline(
        FunctionTransformer(log_band_power),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    pipe.fit(X_tr, y_tr)
    return lambda: (pipe.predict(X_te), pipe.predict_proba(X_te)[:, 1])


def fit_braindecode(name: str):
    def fit(ctx, X_tr, y_tr, X_te):
        import torch
        from braindecode import EEGClassifier
        from braindecode.models import EEGConformer, EEGNet, ShallowFBCSPNet
        from braindecode.util import set_random_seeds
        from skorch.callbacks import LRScheduler

        module = {"shallow": ShallowFBCSPNet, "eegnet": EEGNet, "conformer": EEGConformer}[name]
        lr, wd = BRAINDECODE_OPTIM[name]
        epochs = ctx.args.max_epochs
        set_random_seeds(ctx.args.seed, cuda=ctx.args.device == "cuda")
        clf = EEGClassifier(
            module,
            module__n_chans=X_tr.shape[1],
            module__n_outputs=2,
            module__n_times=X_tr.shape[2],
            criterion=torch.nn.CrossEntropyLoss,
            criterion__weight=torch.tensor(class_weights(y_tr), dtype=torch.float32),
            optimizer=torch.optim.AdamW,
            optimizer__lr=lr,
            optimizer__weight_decay=wd,
            batch_size=ctx.args.batch_size,
            max_epochs=epochs,
            train_split=None,
            callbacks=[("lr_scheduler", LRScheduler("CosineAnnealingLR", T_max=max(epochs, 1)))],
            device=ctx.args.device,
            classes=[0, 1],
            verbose=0,
        )
        clf.fit(scaled(X_tr), y_tr)

        def predict():
            score = positive_score(clf.predict_proba(scaled(X_te)))
            return (score > 0).astype(np.int64), score

        return predict

    return fit


def eegm2_sizes(args) -> dict:
    return dict(
        base_width=args.eegm2_width,
        expand=args.eegm2_expand,
        headdim=args.eegm2_headdim,
        d_state=args.eegm2_d_state,
    )


#: Multiplier that turns volts into units of 10 uV for ``--eegm2-scaling none``.
UNSCALED_UNIT = 1e5


def eegm2_input(X: np.ndarray, args) -> np.ndarray:
    """Windows as the EEGM2 estimators get them (only ``--eegm2-scaling none`` changes them)."""
    return X * np.float32(UNSCALED_UNIT) if args.eegm2_scaling == "none" else X


def eegm2_common(args) -> dict:
    return dict(
        scaling=None if args.eegm2_scaling == "none" else args.eegm2_scaling,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        random_state=args.seed,
        verbose=0,
    )


def fit_eegm2_classifier(pretrained: bool, variant: str = "full", head: str | None = None):
    def fit(ctx, X_tr, y_tr, X_te):
        from eegm2_sklearn import EEGM2Classifier

        clf = EEGM2Classifier(
            pretrained=ctx.pretrainer() if pretrained else None,
            finetune="full",
            head=head or ctx.args.eegm2_head,
            variant=variant,
            class_weight="balanced",
            lr=ctx.args.eegm2_lr,
            max_epochs=ctx.args.eegm2_epochs,
            **eegm2_sizes(ctx.args),
            **eegm2_common(ctx.args),
        )
        clf.fit(eegm2_input(X_tr, ctx.args), y_tr)

        def predict():
            proba = clf.predict_proba(eegm2_input(X_te, ctx.args))
            return clf.classes_[proba.argmax(1)], proba[:, 1]

        return predict

    return fit


def fit_eegm2_probe(ctx, X_tr, y_tr, X_te):
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(
        FrozenEstimator(ctx.pretrainer()),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    X_tr, X_te = eegm2_input(X_tr, ctx.args), eegm2_input(X_te, ctx.args)
    pipe.fit(X_tr, y_tr)
    return lambda: (pipe.predict(X_te), pipe.predict_proba(X_te)[:, 1])


FITTERS = {
    "bandpower": fit_bandpower,
    "shallow": fit_braindecode("shallow"),
    "eegnet": fit_braindecode("eegnet"),
    "conformer": fit_braindecode("conformer"),
    "eegm2-scratch": fit_eegm2_classifier(pretrained=False),
    "eegm2-pretrained": fit_eegm2_classifier(pretrained=True),
    "eegm2-probe": fit_eegm2_probe,
    "eegm2-light": fit_eegm2_classifier(pretrained=True, variant="light", head="pool"),
}


def model_settings(name: str, args) -> dict:
    """What a CSV row records about a model's training."""
    if name == "bandpower":
        return {"bands": BANDS, "welch_n_fft_s": 2.0, "C": 1.0}
    if name in BRAINDECODE_MODELS:
        lr, wd = BRAINDECODE_OPTIM[name]
        return {
            "lr": lr,
            "weight_decay": wd,
            "epochs": args.max_epochs,
            "schedule": "cosine",
            "batch_size": args.batch_size,
            "scaling": "robust",
        }
    settings = {
        **eegm2_sizes(args),
        "batch_size": args.batch_size,
        "precision": args.precision,
        "scaling": args.eegm2_scaling,
    }
    if name != "eegm2-probe":
        settings.update(
            epochs=args.eegm2_epochs,
            lr=args.eegm2_lr,
            head="pool" if name == "eegm2-light" else args.eegm2_head,
        )
    if name in PRETRAINED_MODELS:
        settings.update(pretrain_epochs=args.pretrain_epochs, pretrain_lr=args.pretrain_lr)
    return settings


# ----------------------------------------------------------------------------- running
class FoldContext:
    """One fold of one window setting: lazily pretrains EEGM2 on its training subjects."""

    def __init__(self, args, raws, windows: Windows, train_subjects: np.ndarray):
        self.args = args
        self.raws = raws
        self.windows = windows
        self.train_subjects = train_subjects
        self._pretrainer = None
        self._error: BaseException | None = None
        self.pretrain_seconds = float("nan")

    def pretrainer(self):
        if self._error is not None:
            raise RuntimeError(f"pretraining failed: {self._error!r}") from self._error
        if self._pretrainer is None:
            from eegm2_sklearn import EEGM2Pretrainer

            w = self.windows
            train_raws = [r for r in self.raws if _recording_label(r)[0] in self.train_subjects]
            if self.args.eegm2_scaling == "none":
                train_raws = [
                    r.copy().apply_function(lambda x: x * UNSCALED_UNIT, verbose=False)
                    for r in train_raws
                ]
            pre = EEGM2Pretrainer(
                window_seconds=w.window_s,
                window_stride_seconds=w.window_s - w.overlap_s,
                lr=self.args.pretrain_lr,
                max_epochs=self.args.pretrain_epochs,
                **eegm2_sizes(self.args),
                **eegm2_common(self.args),
            )
            cached = self._cache_folder(pre, train_raws)
            if cached is not None and (cached / "config.json").is_file():
                self._pretrainer = EEGM2Pretrainer.from_pretrained(cached, device=self.args.device)
                meta = json.loads((cached / "benchmark.json").read_text())
                self.pretrain_seconds = meta["pretrain_seconds"]
                log(f"    loaded the pretrained EEGM2 from {cached}")
                return self._pretrainer
            log(
                f"    pretraining EEGM2 on {len(train_raws)} recordings of "
                f"{len(self.train_subjects)} training subjects ..."
            )
            t0 = time.perf_counter()
            try:
                pre.fit(train_raws)
            except BaseException as exc:
                self._error = exc
                raise
            self.pretrain_seconds = time.perf_counter() - t0
            log(
                f"    pretrained in {self.pretrain_seconds:.1f} s "
                f"(final loss {pre.history_[-1, 'train_loss']:.4f})"
            )
            if cached is not None:
                save_pretrainer(pre, cached, self.pretrain_seconds)
            self._pretrainer = pre
        return self._pretrainer

    def _cache_folder(self, pre, train_raws) -> Path | None:
        """``--pretrained-cache`` folder for these recordings and settings (None: no cache)."""
        if not self.args.pretrained_cache:
            return None
        key = {
            "params": {k: v for k, v in pre.get_params().items() if k not in ("device", "verbose")},
            "recordings": [
                [*_recording_label(raw), len(raw.times), float(raw.get_data().sum())]
                for raw in train_raws
            ],
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        return Path(self.args.pretrained_cache) / f"{self.windows.window_s:g}s-{digest[:16]}"


def save_pretrainer(pre, folder: Path, pretrain_seconds: float) -> None:
    """Write ``pre`` into ``folder`` atomically (a temporary folder renamed at the end)."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    pre.save_pretrained(tmp)
    (tmp / "benchmark.json").write_text(json.dumps({"pretrain_seconds": pretrain_seconds}))
    try:
        tmp.rename(folder)
    except OSError:  # another process saved the same pretrainer first
        shutil.rmtree(tmp, ignore_errors=True)


def _subject_order(train_subjects, seed: int, fold: int, *stream: int) -> np.ndarray:
    """A fixed permutation of a fold's training subjects (``stream`` tells draws apart)."""
    return np.random.default_rng([seed, fold, *stream]).permutation(np.sort(train_subjects))


def labelled_subjects(train_subjects, fraction: float, seed: int, fold: int) -> np.ndarray:
    """The first ``ceil(fraction * n)`` of a fixed per-fold permutation (nested subsets)."""
    order = _subject_order(train_subjects, seed, fold)
    return np.sort(order[: max(1, math.ceil(fraction * len(order) - 1e-9))])


def validation_subjects(train_subjects, n: int, seed: int, fold: int) -> np.ndarray:
    """``n`` of a fold's training subjects, drawn with a fixed seed, for choosing settings."""
    if not 0 < n < len(train_subjects) - 1:
        raise SystemExit(
            f"--validation-subjects must be between 1 and {len(train_subjects) - 2} (a fold "
            f"has {len(train_subjects)} training subjects); got {n}."
        )
    return np.sort(_subject_order(train_subjects, seed, fold, 1)[:n])


def skipped(model: str, window_s: float, skips: list[str]) -> bool:
    for item in skips:
        name, _, win = item.partition("@")
        if name == model and (not win or float(win) == window_s):
            return True
    return False


def run_one(ctx, model, fraction, fold_i, test_subjects) -> dict:
    """Train and test one model on one fold; errors become a row with status 'error'."""
    import torch

    w, args = ctx.windows, ctx.args
    lab = labelled_subjects(ctx.train_subjects, fraction, args.seed, fold_i)
    train = np.flatnonzero(np.isin(w.groups, lab))
    test = np.flatnonzero(np.isin(w.groups, test_subjects))
    row = {
        "model": model,
        "model_label": MODEL_LABELS[model],
        "window_s": w.window_s,
        "overlap_s": w.overlap_s,
        "label_fraction": fraction,
        "fold": fold_i,
        "n_folds": args.n_folds,
        "test_subjects": " ".join(map(str, test_subjects)),
        "evaluation": evaluation_of(args),
        "n_train_subjects": len(lab),
        "n_train_windows": len(train),
        "n_test_windows": len(test),
        "device": args.device,
        "seed": args.seed,
        "settings": json.dumps(model_settings(model, args)),
        "pretrain_seconds": "",
        "error": "",
    }
    try:
        if model in PRETRAINED_MODELS:
            ctx.pretrainer()  # timed apart from the supervised fit
            row["pretrain_seconds"] = round(ctx.pretrain_seconds, 2)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predict = FITTERS[model](ctx, w.X[train], w.y[train], w.X[test])
            row["fit_seconds"] = round(time.perf_counter() - t0, 2)
            y_pred, score = predict()
        from sklearn.metrics import balanced_accuracy_score, roc_auc_score

        row["balanced_accuracy"] = round(balanced_accuracy_score(w.y[test], y_pred), 4)
        row["roc_auc"] = round(roc_auc_score(w.y[test], score), 4)
        row["status"] = "ok"
    except Exception as exc:  # record and go on: one failing model must not stop the run
        row.update(status="error", error=f"{type(exc).__name__}: {exc}"[:500])
        log(traceback.format_exc(limit=3))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return row


def evaluation_of(args) -> str:
    """What a run's rows score: ``"validation"`` subjects or ``"test"`` subjects."""
    return "validation" if args.validation_subjects else "test"


def row_evaluation(row: dict) -> str:
    return row.get("evaluation") or "test"  # CSVs written before the column was added


def row_key(row: dict) -> tuple:
    """(model, window s, label fraction, fold): what one CSV row stands for."""
    return row["model"], float(row["window_s"]), float(row["label_fraction"]), int(row["fold"])


def row_pair(row: dict) -> tuple[float, int]:
    """(window s, fold): the pair a ``--processes`` worker runs."""
    return float(row["window_s"]), int(row["fold"])


def write_csv(path: Path, rows: list[dict]) -> None:
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


class CsvLog:
    """Append rows to the CSV as they come (header written once)."""

    def __init__(self, path: str, resume: bool, evaluation: str = "test"):
        self.path = Path(path)
        self.rows: list[dict] = []
        self.columns = CSV_COLUMNS
        if resume and self.path.is_file():
            with self.path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.rows = list(reader)
                # a CSV written before a column was added keeps its own header
                self.columns = reader.fieldnames or CSV_COLUMNS
            found = {row_evaluation(r) for r in self.rows}
            if found - {evaluation}:
                raise SystemExit(
                    f"--resume: {path} holds {', '.join(sorted(found))} scores, this run "
                    f"makes {evaluation} scores; write them to another --out file."
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_csv(self.path, [])

    def done(self, model, window_s, fraction, fold) -> bool:
        key = (model, window_s, fraction, fold)
        return any(row_key(r) == key and r["status"] == "ok" for r in self.rows)

    def add(self, row: dict) -> None:
        row["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.rows.append(row)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(row)


def read_rows(paths: list[str]) -> list[dict]:
    """Rows of several per-fold CSVs; a (model, window, labels, fold) seen twice is an error."""
    rows, seen = [], {}
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                key = (*row_key(row), row_evaluation(row))
                if key in seen:
                    raise SystemExit(
                        f"--summarize: {path} and {seen[key]} both hold {key[0]} at "
                        f"{key[1]:g} s, labels {key[2]:g}, fold {key[3]}; pass each run once."
                    )
                seen[key] = path
                rows.append(row)
    kinds = {key[-1] for key in seen}
    if len(kinds) > 1:
        raise SystemExit(
            "--summarize: these CSVs mix test and validation scores; summarize each kind "
            "on its own."
        )
    return rows


def fractions_for(model: str, window_s: float, args) -> list[float]:
    if model in args.fraction_models and window_s in args.fraction_windows:
        return sorted(set(args.label_fractions), reverse=True)
    return [1.0]


def planned_runs(args, window_s: float) -> list[tuple[str, float]]:
    """The (model, label fraction) pairs a run scores on every fold of ``window_s``."""
    return [
        (model, fraction)
        for model in args.models
        if not skipped(model, window_s, args.skip)
        for fraction in fractions_for(model, window_s, args)
    ]


def run(args) -> list[dict]:
    raws = load_recordings(args)
    subjects = sorted({_recording_label(r)[0] for r in raws})
    folds = subject_folds(raws, args.n_folds)
    log(
        f"{len(raws)} recordings of {len(subjects)} subjects at {SFREQ:g} Hz; device "
        f"{args.device}; preset {args.preset}; {args.n_folds} folds:"
    )
    for i, test in enumerate(folds):
        log(f"  fold {i}: test subjects {test.tolist()}")
    csv_log = CsvLog(args.out, args.resume, evaluation_of(args))
    for window_s in args.windows:
        windows = make_windows(raws, window_s, args.overlap)
        log(
            f"\n== {window_s:g}-s windows (overlap {windows.overlap_s:g} s): "
            f"{len(windows.y)} windows, {int(windows.y.sum())} arithmetic =="
        )
        for fold_i, test_subjects in enumerate(folds):
            if args.folds is not None and fold_i not in args.folds:
                continue
            train_subjects = np.setdiff1d(subjects, test_subjects)
            if args.validation_subjects:
                # the fold's test subjects take no part; score on some training subjects
                test_subjects = validation_subjects(
                    train_subjects, args.validation_subjects, args.seed, fold_i
                )
                train_subjects = np.setdiff1d(train_subjects, test_subjects)
                log(f"  fold {fold_i}: validation subjects {test_subjects.tolist()}")
            ctx = FoldContext(args, raws, windows, train_subjects)
            for model, fraction in planned_runs(args, window_s):
                if csv_log.done(model, window_s, fraction, fold_i):
                    continue
                row = run_one(ctx, model, fraction, fold_i, test_subjects)
                csv_log.add(row)
                log(format_progress(row))
    return csv_log.rows


# ----------------------------------------------------------------------------- --processes
#: flags a worker process does not inherit: the parent sets them per task, or they only
#: make sense in the parent
_PARENT_ONLY = {
    "help", "processes", "out", "resume", "windows", "folds", "summarize", "export_npz",
    "quick", "smoke", "threads",
}  # fmt: skip


def worker_argv(args, window_s: float, fold: int, out: Path, threads: int) -> list[str]:
    """Command-line flags that make a worker run one (window, fold) pair of ``args``.

    Every other flag is passed with its resolved value (presets, ``--quick`` and
    ``--smoke`` already applied), so the worker computes exactly what the serial run would.
    """
    argv = []
    for action in build_parser()._actions:
        value = getattr(args, action.dest, None)
        if action.dest in _PARENT_ONLY or value is None or value is False:
            continue
        flag = action.option_strings[-1]
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]  # an empty list too: not the preset's
        else:
            argv += [flag, str(value)]
    argv += ["--windows", f"{window_s:g}", "--folds", str(fold), "--out", str(out)]
    return argv + ["--resume", "--threads", str(threads)]


def run_parallel(args) -> list[dict]:
    """Run each (window, fold) pair in a worker process, ``args.processes`` at a time.

    Workers write ``<out>.parts/<window>s_fold<k>.csv`` and resume from it; with
    ``--resume`` a part is first seeded with its rows of ``--out``. The parts are merged
    into ``--out`` at the end (also after a worker fails: its finished folds are kept),
    beside, with ``--resume``, the rows of ``--out`` for other windows and folds.
    """
    previous = CsvLog(args.out, args.resume, evaluation_of(args)).rows  # checks evaluation
    folds = args.folds if args.folds is not None else range(args.n_folds)
    # with --resume, a pair whose rows --out already holds starts no worker (and takes no
    # GPU slot from the pairs that still have work)
    finished = {row_key(r) for r in previous if r["status"] == "ok"}
    tasks = [
        (w, k)
        for w in sorted(args.windows, reverse=True)
        for k in folds
        if not all((m, w, f, k) in finished for m, f in planned_runs(args, w))
    ]
    parts = Path(f"{args.out}.parts")
    parts.mkdir(parents=True, exist_ok=True)
    gpus = visible_gpus() if args.device == "cuda" else [None]
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.processes)
    log(
        f"{len(tasks)} (window, fold) pairs in {args.processes} worker processes"
        + (f" on GPUs {', '.join(gpus)}" if gpus != [None] else "")
        + f", {threads} torch threads each; worker logs and CSVs in {parts}/"
    )
    running, failed = [], []
    interrupted = False
    previous_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        for i, (window_s, fold) in enumerate(tasks):
            part = parts / f"{window_s:g}s_fold{fold}.csv"
            if not args.resume:
                part.unlink(missing_ok=True)
            elif not part.is_file():
                write_csv(part, [r for r in previous if row_pair(r) == (window_s, fold)])
            while len(running) >= args.processes:
                running = _reap(running, failed)
            env = dict(os.environ)
            if gpus[i % len(gpus)] is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            cmd = [sys.executable, __file__, *worker_argv(args, window_s, fold, part, threads)]
            logfile = part.with_suffix(".log").open("a")
            proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env)
            running.append((proc, logfile, f"{window_s:g}-s windows, fold {fold}"))
            log(f"  started {running[-1][2]} (GPU {env.get('CUDA_VISIBLE_DEVICES', '-')})")
        while running:
            running = _reap(running, failed)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM (a time limit, say): stop the workers, keep their finished rows
        interrupted = True
        for proc, logfile, name in running:
            proc.terminate()
            proc.wait()
            logfile.close()
            failed.append(f"{name} (interrupted)")
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    done = [parts / f"{w:g}s_fold{k}.csv" for w, k in tasks]
    rows = read_rows([str(path) for path in done if path.is_file()])
    # with --resume, rows of --out outside this run's (window, fold) pairs stay in it
    pairs = set(tasks)
    rows += [r for r in previous if row_pair(r) not in pairs]
    write_csv(args.out, rows)
    if failed:
        log(f"workers FAILED for {', '.join(failed)}; see their logs in {parts}/")
    if interrupted:
        log(f"interrupted: the finished rows are in {args.out}; run again with --resume")
        raise SystemExit(130)
    return rows


def visible_gpus() -> list[str]:
    """The GPUs the workers are spread over: ``CUDA_VISIBLE_DEVICES``, else all of them."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = [g.strip() for g in visible.split(",") if g.strip()]
    else:
        gpus = [str(i) for i in range(torch.cuda.device_count())]
    if not gpus:
        raise SystemExit(
            "--processes with --device cuda: no GPU is visible (CUDA_VISIBLE_DEVICES="
            f"{visible!r}); make one visible or run with --device cpu."
        )
    return gpus


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _reap(running: list, failed: list) -> list:
    """Wait a moment; return the workers still running, logging (and noting failed) ends."""
    time.sleep(0.5)
    still = []
    for proc, logfile, name in running:
        code = proc.poll()
        if code is None:
            still.append((proc, logfile, name))
            continue
        logfile.close()
        log(f"  finished {name}" + ("" if code == 0 else f": exit status {code}"))
        if code != 0:
            failed.append(name)
    return still


def format_progress(row: dict) -> str:
    head = (
        f"  [{row['window_s']:g} s] {row['model_label']:<30} labels "
        f"{float(row['label_fraction']):>4.0%} fold {row['fold']}: "
    )
    if row["status"] != "ok":
        return head + "ERROR " + row["error"]
    pre = f" (+ pretrain {row['pretrain_seconds']} s)" if row["pretrain_seconds"] != "" else ""
    return head + (
        f"bal. acc {row['balanced_accuracy']:.3f}  AUC {row['roc_auc']:.3f}  "
        f"fit {row['fit_seconds']:.1f} s{pre}"
    )


# ----------------------------------------------------------------------------- table
def summarize(rows: list[dict]) -> list[dict]:
    """Mean and std over folds per (model, window, label fraction)."""
    keys = []
    for r in rows:
        key = (r["model"], float(r["window_s"]), float(r["label_fraction"]))
        if key not in keys:
            keys.append(key)
    out = []
    for model, window_s, fraction in keys:
        group = [
            r
            for r in rows
            if (r["model"], float(r["window_s"]), float(r["label_fraction"]))
            == (model, window_s, fraction)
        ]
        ok = [r for r in group if r["status"] == "ok"]

        def values(col, rows_=ok):
            return np.array([float(r[col]) for r in rows_ if r[col] not in ("", None)])

        errors = sorted({r["error"] for r in group if r["status"] != "ok"})
        out.append(
            {
                "model": model,
                "model_label": MODEL_LABELS.get(model, model),
                "window_s": window_s,
                "label_fraction": fraction,
                "n_ok": len(ok),
                "n_folds": len(group),
                "bacc": values("balanced_accuracy"),
                "auc": values("roc_auc"),
                "fit_s": values("fit_seconds"),
                "pretrain_s": values("pretrain_seconds"),
                "errors": errors,
            }
        )
    return out


def _mean_std(values: np.ndarray, scale: float = 1.0, digits: int = 1) -> str:
    if len(values) == 0:
        return "-"
    return f"{values.mean() * scale:.{digits}f} +- {values.std() * scale:.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
    """Markdown table of :func:`summarize` (accuracy in %, seconds per fold)."""
    lines = [
        "| model | window | labels | bal. acc (%) | ROC AUC | train s/fold | pretrain s/fold "
        "| folds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summarize(rows):
        folds = f"{s['n_ok']}/{s['n_folds']}"
        if s["errors"]:
            folds += " (error: " + "; ".join(e[:80] for e in s["errors"]) + ")"
        fit = f"{s['fit_s'].mean():.0f}" if len(s["fit_s"]) else "-"
        pre = f"{s['pretrain_s'].mean():.0f}" if len(s["pretrain_s"]) else "-"
        lines.append(
            f"| {s['model_label']} | {s['window_s']:g} s | {s['label_fraction']:.0%} "
            f"| {_mean_std(s['bacc'], 100)} | {_mean_std(s['auc'], 1, 3)} | {fit} | {pre} "
            f"| {folds} |"
        )
    return "\n".join(lines)


def describe_run(args) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    device = torch.cuda.get_device_name(0) if args.device == "cuda" else cpu
    return (
        f"device {args.device} ({device}), {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, torch {torch.__version__}, python "
        f"{platform.python_version()}"
    )


def main(argv=None) -> int:
    args = resolve_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.export_npz:
        export_npz(load_recordings(args), args.export_npz)
        return 0
    if args.summarize:
        print(markdown_table(read_rows(args.summarize)))
        return 0
    log("command: " + " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]))
    log(describe_run(args))
    t0 = time.perf_counter()
    rows = run_parallel(args) if args.processes > 1 else run(args)
    log(f"\nfinished in {(time.perf_counter() - t0) / 60:.1f} min; per-fold rows in {args.out}\n")
    if args.validation_subjects:
        log(
            f"VALIDATION scores: {args.validation_subjects} of each fold's training subjects, "
            "trained on the others; the test subjects took no part.\n"
        )
    log(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
