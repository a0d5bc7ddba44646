"""EEGMAT recordings, subject folds, labelled subjects and windows of the benchmark."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import LONG_WINDOW_S, N_SUBJECTS, SFREQ, log


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
        subject, state, quality = recording_label(raw)
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


def recording_label(raw) -> tuple[int, str, float]:
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
        subject = recording_label(raw)[0]
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
