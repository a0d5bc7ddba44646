"""``eegm2 pretrain``, ``eegm2 finetune`` and ``eegm2 sys-info``."""

from __future__ import annotations

import json
from pathlib import Path

from ..estimators.params import ARCH_PARAMS, PARAMS, SHARED_PARAMS
from .recordings import labelled_windows, prepared_recordings, say

#: Parameters every command passes to its estimator as the options say.
COMMON_PARAMS = tuple(
    name for name in SHARED_PARAMS if PARAMS[name].flag and not PARAMS[name].architecture
)


def _param_value(args, name: str):
    """The estimator's value of parameter ``name`` from the parsed options."""
    if name == "verbose":
        return 0 if args.quiet else 1
    value = getattr(args, name)
    return None if value == "none" else value


def _params(args, names) -> dict:
    return {name: _param_value(args, name) for name in names}


def _join_process_group(args) -> None:
    from ..training import distributed, resolve_device

    distributed.setup(resolve_device(args.device))


def cmd_pretrain(args) -> int:
    """``eegm2 pretrain``: returns the exit status."""
    import mne

    from ..estimators import CSVLogger, EEGM2Pretrainer
    from ..training import distributed

    _join_process_group(args)
    default_out = Path(args.checkpoint_dir) / "model" if args.checkpoint_dir else Path("model")
    out = Path(args.out) if args.out else default_out
    base = Path(args.checkpoint_dir) if args.checkpoint_dir else out
    cache = Path(args.cache_dir) if args.cache_dir else base / "preprocessed"
    files = prepared_recordings(args, cache)
    if args.prepare_only:
        say(f"{len(files)} preprocessed recordings in {cache}.")
        return 0
    log_csv = Path(args.log_csv) if args.log_csv else base / "history.csv"
    world = distributed.world_size()
    how = "in memory" if args.in_memory else "streamed from disk"
    say(
        f"Pretraining EEGM2 on {len(files)} recordings ({how}), "
        f"{args.window_seconds:g}-s windows, {args.max_epochs} epochs, global batch "
        f"{args.batch_size}" + (f" over {world} processes" if world > 1 else "") + "."
    )
    pre = EEGM2Pretrainer(
        window_seconds=args.window_seconds,
        window_stride_seconds=args.window_stride_seconds,
        **_params(args, ("objective", "mask_ratio", "mask_span", "mask_loss")),
        **_params(args, ARCH_PARAMS),
        callbacks=[CSVLogger(log_csv)],
        **_params(args, COMMON_PARAMS),
    )
    if args.in_memory:
        X = [mne.io.read_raw(f, preload=True, verbose="error") for f in files]
    else:
        X = files
    pre.fit(X)
    if distributed.is_main_process():
        pre.save_pretrained(out)
    losses = pre.history_[:, "train_loss"]
    say(
        f"Done: {pre.n_chans_} channels x {pre.n_times_} samples at {pre.sfreq_:g} Hz, final "
        f"train loss {losses[-1]:.4g}. Model: {out}  History: {log_csv}"
    )
    return 0


def cmd_finetune(args) -> int:
    """``eegm2 finetune``: returns the exit status."""
    import joblib
    import numpy as np
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import GroupShuffleSplit

    from ..estimators import CSVLogger, EEGM2Classifier
    from ..estimators.pretrained import pretrained_weights
    from ..training import distributed

    _join_process_group(args)
    _, config = pretrained_weights(args.pretrained)  # config.json checked
    sfreq = args.sfreq if args.sfreq is not None else config.get("sfreq")
    window = args.window_seconds
    if window is None:
        window = config["n_times"] / sfreq if sfreq else None
        if window is None:
            raise ValueError("Give --window-seconds (the pretrained model has no sfreq).")
    epochs, y, groups = labelled_windows(args, window, sfreq)
    out = Path(args.out)
    log_csv = Path(args.log_csv) if args.log_csv else out / "history.csv"
    if args.test_size > 0:
        split = GroupShuffleSplit(
            n_splits=1, test_size=args.test_size, random_state=args.random_state
        )
        train, test = next(split.split(np.zeros(len(y)), y, groups))
    else:
        train, test = np.arange(len(y)), np.arange(0)
    say(
        f"Fine-tuning {args.pretrained} on {len(train)} windows of {window:g} s "
        f"({len(np.unique(groups[train]))} groups); {len(test)} held-out windows "
        f"({len(np.unique(groups[test]))} groups); classes {sorted(set(y.tolist()))}."
    )
    clf = EEGM2Classifier(
        pretrained=args.pretrained,
        **_params(args, ("finetune", "head", "variant", "hidden", "class_weight")),
        callbacks=[CSVLogger(log_csv)],
        **_params(args, COMMON_PARAMS),
    )
    clf.fit(epochs[train], y[train])
    metrics = {"n_train": int(len(train)), "n_test": int(len(test))}
    if len(test):
        pred = clf.predict(epochs[test])
        metrics["accuracy"] = float(accuracy_score(y[test], pred))
        metrics["balanced_accuracy"] = float(balanced_accuracy_score(y[test], pred))
        if len(clf.classes_) == 2 and len(np.unique(y[test])) == 2:
            proba = clf.predict_proba(epochs[test])[:, 1]
            metrics["auroc"] = float(roc_auc_score(y[test] == clf.classes_[1], proba))
    if distributed.is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(clf, out / "classifier.joblib")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    say(f"Done. Held-out: {shown or 'none'}. Classifier: {out / 'classifier.joblib'}")
    return 0


def cmd_sys_info(args) -> int:
    """``eegm2 sys-info``: print :func:`eegm2_sklearn.sys_info`; returns 0."""
    from ..environment import sys_info

    sys_info()
    return 0
