"""One fold of one model, and the serial loop over windows, folds and label fractions."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from .config import CALIBRATED, PRETRAINED_MODELS, SFREQ, base_model, log, model_label
from .data import (
    Windows,
    labelled_subjects,
    load_recordings,
    make_windows,
    recording_label,
    subject_folds,
    validation_subjects,
)
from .models import (
    FITTERS,
    UNSCALED_UNIT,
    eegm2_common,
    eegm2_input,
    eegm2_sizes,
    model_settings,
)
from .report import CsvLog, evaluation_of, format_progress


class FoldContext:
    """One fold of one window setting: lazily pretrains EEGM2 on its training subjects."""

    def __init__(self, args, raws, windows: Windows, train_subjects: np.ndarray):
        self.args = args
        self.raws = raws
        self.windows = windows
        self.train_subjects = train_subjects
        self._pretrainers: dict[bool, object] = {}
        self._errors: dict[bool, BaseException] = {}
        self.pretrain_seconds = float("nan")
        # set by run_one for the model being run
        self.calibrated = False
        self.groups_train = self.groups_test = None

    def _pretraining_data(self):
        """Unlabelled training data: the training subjects' recordings, or (calibrated)
        their windows aligned per subject."""
        w = self.windows
        if self.calibrated:
            rows = np.isin(w.groups, self.train_subjects)
            return eegm2_input(w.X[rows], self.args, w.groups[rows]), {}
        train_raws = [r for r in self.raws if recording_label(r)[0] in self.train_subjects]
        if self.args.eegm2_scaling == "none":
            train_raws = [
                r.copy().apply_function(lambda x: x * UNSCALED_UNIT, verbose=False)
                for r in train_raws
            ]
        return train_raws, dict(
            window_seconds=w.window_s, window_stride_seconds=w.window_s - w.overlap_s
        )

    def pretrainer(self):
        key = self.calibrated
        if key in self._errors:
            raise RuntimeError(f"pretraining failed: {self._errors[key]!r}") from self._errors[key]
        if key not in self._pretrainers:
            from eegm2_sklearn import EEGM2Pretrainer

            train_data, windowing = self._pretraining_data()
            pre = EEGM2Pretrainer(
                **windowing,
                objective=self.args.pretrain_objective,
                lr=self.args.pretrain_lr,
                max_epochs=self.args.pretrain_epochs,
                **eegm2_sizes(self.args),
                **eegm2_common(self.args, self.calibrated),
            )
            cached = self._cache_folder(pre, train_data)
            if cached is not None and (cached / "config.json").is_file():
                loaded = EEGM2Pretrainer.from_pretrained(cached, device=self.args.device)
                self._pretrainers[key] = loaded
                meta = json.loads((cached / "benchmark.json").read_text())
                self.pretrain_seconds = meta["pretrain_seconds"]
                log(f"    loaded the pretrained EEGM2 from {cached}")
                return loaded
            what = "aligned windows" if self.calibrated else "recordings"
            log(
                f"    pretraining EEGM2 on {len(train_data)} {what} of "
                f"{len(self.train_subjects)} training subjects ..."
            )
            t0 = time.perf_counter()
            try:
                pre.fit(train_data)
            except BaseException as exc:
                self._errors[key] = exc
                raise
            self.pretrain_seconds = time.perf_counter() - t0
            log(
                f"    pretrained in {self.pretrain_seconds:.1f} s "
                f"(final loss {pre.history_[-1, 'train_loss']:.4f})"
            )
            if cached is not None:
                save_pretrainer(pre, cached, self.pretrain_seconds)
            self._pretrainers[key] = pre
        return self._pretrainers[key]

    def _cache_folder(self, pre, train_data) -> Path | None:
        """``--pretrained-cache`` folder for these data and settings (None: no cache)."""
        if not self.args.pretrained_cache:
            return None
        if isinstance(train_data, np.ndarray):
            data = [list(train_data.shape), float(train_data.astype(np.float64).sum())]
        else:
            data = [
                [*recording_label(raw), len(raw.times), float(raw.get_data().sum())]
                for raw in train_data
            ]
        key = {
            "params": {k: v for k, v in pre.get_params().items() if k not in ("device", "verbose")},
            "recordings": data,
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
    name, calibrated = base_model(model)
    ctx.calibrated, ctx.groups_train, ctx.groups_test = calibrated, w.groups[train], w.groups[test]
    row = {
        "model": model,
        "model_label": model_label(model),
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
        "settings": json.dumps(model_settings(name, args, calibrated)),
        "pretrain_seconds": "",
        "error": "",
    }
    try:
        if name in PRETRAINED_MODELS:
            ctx.pretrainer()  # timed apart from the supervised fit
            row["pretrain_seconds"] = round(ctx.pretrain_seconds, 2)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predict = FITTERS[name](ctx, w.X[train], w.y[train], w.X[test])
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


def fractions_for(model: str, window_s: float, args) -> list[float]:
    if model in args.fraction_models and window_s in args.fraction_windows:
        return sorted(set(args.label_fractions), reverse=True)
    return [1.0]


def planned_runs(args, window_s: float) -> list[tuple[str, float]]:
    """The (model, label fraction) pairs a run scores on every fold of ``window_s``; a
    model run under the calibrated protocol is named ``<model>+calibrated``."""
    suffixes = ["" if p == "none" else CALIBRATED for p in args.protocols]
    return [
        (model + suffix, fraction)
        for model in args.models
        if not skipped(model, window_s, args.skip)
        for suffix in suffixes
        for fraction in fractions_for(model, window_s, args)
    ]


def run(args) -> list[dict]:
    raws = load_recordings(args)
    subjects = sorted({recording_label(r)[0] for r in raws})
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
