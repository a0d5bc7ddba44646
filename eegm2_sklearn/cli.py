"""Command line: ``eegm2 pretrain``, ``eegm2 finetune`` and ``eegm2 sys-info``.

``eegm2 pretrain`` pretrains EEGM2 on a folder of recordings, streaming windows from disk
(corpora larger than memory), with checkpoints, ``--resume``, progress output and a CSV log,
and saves the model with ``save_pretrained``::

    eegm2 pretrain --data RECORDINGS/ --window-seconds 60 --sfreq 128 --epochs 100 \\
        --checkpoint-dir runs/ckpt --out runs/model

``eegm2 finetune`` fine-tunes a pretrained model on labelled recordings: a folder plus a
CSV file with columns ``file,label`` (and optionally ``group``, e.g. the subject, for the
held-out split), every window of a recording taking its label; or the EEGMAT dataset
(``--dataset eegmat``, labels rest/arithmetic, groups = subjects)::

    eegm2 finetune --pretrained runs/model --data RECORDINGS/ --labels labels.csv \\
        --epochs 30 --out runs/classifier

Both run data-parallel under ``torchrun`` (``torchrun --nproc_per_node 2 -m
eegm2_sklearn.cli pretrain ...``). See ``docs/scaling_out.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from .estimators.params import ARCH_PARAMS, PARAMS, SHARED_PARAMS

#: File patterns searched in ``--data`` folders (recursively) by default.
DEFAULT_PATTERNS = ("*.edf", "*.EDF", "*.bdf", "*.BDF", "*.fif", "*.vhdr", "*.set")


# --------------------------------------------------------------------------------------
# arguments


def _add_data_args(p: argparse.ArgumentParser, *, pretrain: bool) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, help="folder of recordings (searched recursively)")
    g.add_argument(
        "--dataset",
        choices=("files", "eegmat"),
        default="files",
        help="'files': recordings matching --pattern in --data; 'eegmat': the EEGMAT "
        "dataset's EDF files in --data (labels rest/arithmetic, 19 EEG channels)",
    )
    g.add_argument(
        "--pattern",
        nargs="+",
        default=list(DEFAULT_PATTERNS),
        help="file name patterns of recordings",
    )
    g.add_argument(
        "--subjects", type=int, nargs="+", default=None, help="EEGMAT subject ids (None: all 36)"
    )
    _add_param(
        g,
        "window_seconds",
        default=None if not pretrain else 60.0,
        help=PARAMS["window_seconds"].doc + ("" if pretrain else " (None: the pretrained model's)"),
    )
    _add_param(g, "window_stride_seconds")
    g.add_argument(
        "--sfreq", type=float, default=None, help="resample to this rate in Hz (None: keep)"
    )
    g.add_argument("--l-freq", type=float, default=None, help="high-pass edge in Hz (None: none)")
    g.add_argument("--h-freq", type=float, default=None, help="low-pass edge in Hz (None: none)")
    g.add_argument(
        "--picks",
        default="data",
        help="channels to keep, as MNE picks: 'data' (EEG, MEG, ...; not EOG/ECG/misc), 'eeg', ...",
    )
    g.add_argument(
        "--channels",
        default=None,
        help="comma-separated channel names to keep, in this order (after --picks)",
    )
    if pretrain:
        g.add_argument(
            "--cache-dir",
            default=None,
            help="where preprocessed recordings (FIF) go when --sfreq/--l-freq/--h-freq/"
            "--channels/--picks change them (default: CHECKPOINT_DIR/preprocessed or "
            "OUT/preprocessed)",
        )
        g.add_argument(
            "--in-memory",
            action="store_true",
            help="load all windows into memory instead of streaming them from disk",
        )
        g.add_argument(
            "--prepare-only",
            action="store_true",
            help="only write the preprocessed recordings into the cache, then exit",
        )
    else:
        g.add_argument(
            "--labels",
            default=None,
            help="CSV with columns file,label[,group]; files relative to --data",
        )


#: ``argparse`` types of the parameters whose default (None) does not tell it.
_FLAG_TYPES = {
    "validation_split": float,
    "patience": int,
    "checkpoint_dir": str,
    "window_seconds": float,
    "window_stride_seconds": float,
}


def _flag_value(value):
    return "none" if value is None else value


def _add_param(g, name: str, **overrides) -> None:
    """The option of parameter ``name``: flag, default, choices and help from the table."""
    p = PARAMS[name]
    if isinstance(p.default, bool):
        kwargs = {"action": "store_true", "help": p.doc}
    elif p.choices is not None:
        kwargs = {
            "choices": tuple(_flag_value(c) for c in p.choices),
            "default": _flag_value(p.default),
            "help": p.doc,
        }
    else:
        kwargs = {"type": _FLAG_TYPES.get(name, type(p.default)), "default": p.default}
        kwargs["help"] = p.doc
    kwargs["dest"] = name
    kwargs.update(overrides)
    if not isinstance(p.default, bool) and "choices" not in kwargs:
        kwargs["metavar"] = p.flag.lstrip("-").replace("-", "_").upper()  # not the dest
    g.add_argument(p.flag, **kwargs)


def _add_training_args(p: argparse.ArgumentParser, *, pretrain: bool) -> None:
    g = p.add_argument_group("training")
    _add_param(g, "max_epochs", default=100 if pretrain else 30)
    for name in ("batch_size", "lr", "weight_decay", "lr_schedule", "validation_split"):
        _add_param(g, name)
    for name in ("patience", "scaling", "device", "precision", "backend", "num_workers"):
        _add_param(g, name)
    _add_param(g, "random_state", type=int, default=0)
    for name in ("checkpoint_dir", "checkpoint_every", "resume"):
        _add_param(g, name)
    g.add_argument("--log-csv", default=None, help="CSV log of the history (default: OUT/...)")
    g.add_argument(PARAMS["verbose"].flag, action="store_true", help="no per-epoch output")
    if pretrain:
        a = p.add_argument_group("architecture (paper defaults)")
        for name in ARCH_PARAMS:
            _add_param(a, name)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default and keeps the examples' line breaks.

    A required option, a flag (default False) and an option whose help already says what
    its default does (``"(default: ..."`` or ``"(None: ..."``) get no second default.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required or action.default is False or "(default" in text or "(None:" in text:
            return text
        return super()._get_help_string(action)


#: Shown at the end of ``eegm2 --help``.
EXAMPLES = """examples:
  eegm2 pretrain --data RECORDINGS/ --window-seconds 30 --sfreq 128 --l-freq 0.5 \\
      --h-freq 40 --epochs 50 --checkpoint-dir runs/ckpt --out runs/model
  eegm2 finetune --pretrained runs/model --dataset eegmat --data EEGMAT/ --head pool \\
      --class-weight balanced --epochs 30 --out runs/classifier

Run 'eegm2 sys-info' to see the versions and devices in use (include it in bug reports)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``eegm2`` argument parser (subcommands ``pretrain``, ``finetune``, ``sys-info``)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="eegm2",
        description="Pretrain and fine-tune EEGM2 (Mamba-2 EEG model) on recordings.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser(
        "pretrain",
        help="self-supervised pretraining on a folder of recordings",
        description="Pretrain EEGM2 by reconstruction, streaming windows from disk.",
        formatter_class=HelpFormatter,
    )
    _add_data_args(pre, pretrain=True)
    _add_training_args(pre, pretrain=True)
    pre.add_argument("--out", default=None, help="model folder (default: CKPT/model or ./model)")

    fin = sub.add_parser(
        "finetune",
        help="fine-tune a pretrained model on labelled recordings",
        description="Fine-tune EEGM2 for classification; report held-out accuracy.",
        formatter_class=HelpFormatter,
    )
    _add_param(fin, "pretrained", type=str, required=True)
    _add_data_args(fin, pretrain=False)
    _add_training_args(fin, pretrain=False)
    h = fin.add_argument_group("classifier")
    for name in ("finetune", "head", "variant", "hidden"):
        _add_param(h, name)
    _add_param(h, "class_weight", type=str, choices=("none", "balanced"), default="none")
    h.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="fraction of groups (subjects/recordings) held out for the reported scores; "
        "0 trains on everything",
    )
    fin.add_argument("--out", default="classifier", help="output folder")
    sub.add_parser(
        "sys-info",
        help="print versions, devices and the scan backend in use",
        description="Print Python, torch (and CUDA), torchaudio (and whether it loads), "
        "braindecode, MNE, skorch, scikit-learn, mamba-ssm and the visible GPUs.",
    )
    return parser


# --------------------------------------------------------------------------------------
# recordings


def _say(*args) -> None:
    from .training import distributed

    if distributed.is_main_process():
        print(*args, flush=True)


def find_recordings(folder: str | os.PathLike, patterns) -> list[Path]:
    """Recordings under ``folder`` matching any of ``patterns``, sorted.

    BrainVision and EEGLAB keep data beside the header (``.eeg``/``.fdt``): only headers
    (``.vhdr``, ``.set``) are listed.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"--data {folder} is not a folder.")
    found = sorted({p for pat in patterns for p in root.rglob(pat) if p.is_file()})
    if not found:
        raise ValueError(f"No recordings matching {' '.join(patterns)} under {root}.")
    return found


def _needs_preprocessing(args) -> bool:
    return (
        args.dataset == "eegmat"
        or args.sfreq is not None
        or args.l_freq is not None
        or args.h_freq is not None
        or args.channels is not None
        or args.picks != "data"
    )


def _channel_names(args) -> list[str]:
    return [c.strip() for c in (args.channels or "").split(",") if c.strip()]


def prepare_raw(raw, args):
    """Pick, select channels, filter and resample one recording as the options say.

    The work is :class:`~eegm2_sklearn.preprocessing.EEGPreprocessor`'s; ``--picks`` is
    applied first to the recording itself, which may not be loaded yet, so that only those
    channels are ever read.
    """
    from .preprocessing import EEGPreprocessor

    raw.pick(args.picks)
    names = _channel_names(args)
    missing = [c for c in names if c not in raw.ch_names]
    if missing:
        raise ValueError(
            f"{raw.filenames[0] if raw.filenames else 'A recording'} lacks channels "
            f"{missing}; it has {raw.ch_names}."
        )
    prep = EEGPreprocessor(args.l_freq, args.h_freq, args.sfreq, names or None, verbose="error")
    return prep.transform(raw)


def _sources(args) -> list[tuple[str, object]]:
    """(name, loader) per recording; ``loader()`` returns a Raw (lazy where possible)."""
    import mne

    if args.dataset == "eegmat":
        from .datasets import fetch_eegmat

        subjects = args.subjects if args.subjects is not None else list(range(36))
        out = []
        for s in subjects:
            for i, state in enumerate(("rest", "arithmetic")):

                def load(s=s, i=i):
                    return fetch_eegmat(subjects=[s], path=args.data, download=False)[i]

                out.append((f"Subject{s:02d}_{state}", load))
        return out
    files = find_recordings(args.data, args.pattern)
    return [(str(f), lambda f=f: mne.io.read_raw(f, preload=False, verbose="error")) for f in files]


def _cache_name(name: str, args) -> str:
    settings = [name, args.picks, args.channels, args.l_freq, args.h_freq, args.sfreq]
    if os.path.isfile(name):
        st = os.stat(name)
        settings += [st.st_size, st.st_mtime_ns]
    digest = hashlib.sha1(json.dumps(settings, default=str).encode()).hexdigest()[:10]
    return f"{Path(name).stem}-{digest}_raw.fif"


def prepared_recordings(args, cache_dir: Path) -> list[str]:
    """Files to stream: the recordings themselves, or preprocessed FIF copies in the cache.

    Preprocessing reads one recording at a time (memory bounded by the largest one), skips
    recordings already in the cache (so an interrupted run redoes only what is missing) and
    writes each file atomically. Under ``torchrun`` every process does its share.
    """
    from .training import distributed

    sources = _sources(args)
    if not _needs_preprocessing(args):
        return [name for name, _ in sources]
    cache_dir.mkdir(parents=True, exist_ok=True)
    targets = [cache_dir / _cache_name(name, args) for name, _ in sources]
    todo = [i for i, t in enumerate(targets) if not t.is_file()]
    rank, world = distributed.rank(), distributed.world_size()
    if todo:
        _say(f"Preprocessing {len(todo)} of {len(targets)} recordings into {cache_dir} ...")
    for n, i in enumerate(todo):
        if n % world != rank:
            continue
        raw = prepare_raw(sources[i][1](), args)
        tmp = targets[i].with_name(targets[i].name.replace("_raw.fif", ".tmp_raw.fif"))
        raw.save(tmp, overwrite=True, verbose="error")
        os.replace(tmp, targets[i])
    distributed.barrier()
    return [str(t) for t in targets]


# --------------------------------------------------------------------------------------
# commands


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
    from .training import distributed, resolve_device

    distributed.setup(resolve_device(args.device))


def cmd_pretrain(args) -> int:
    """``eegm2 pretrain``: returns the exit status."""
    import mne

    from .estimators import CSVLogger, EEGM2Pretrainer
    from .training import distributed

    _join_process_group(args)
    default_out = Path(args.checkpoint_dir) / "model" if args.checkpoint_dir else Path("model")
    out = Path(args.out) if args.out else default_out
    base = Path(args.checkpoint_dir) if args.checkpoint_dir else out
    cache = Path(args.cache_dir) if args.cache_dir else base / "preprocessed"
    files = prepared_recordings(args, cache)
    if args.prepare_only:
        _say(f"{len(files)} preprocessed recordings in {cache}.")
        return 0
    log_csv = Path(args.log_csv) if args.log_csv else base / "history.csv"
    world = distributed.world_size()
    how = "in memory" if args.in_memory else "streamed from disk"
    _say(
        f"Pretraining EEGM2 on {len(files)} recordings ({how}), "
        f"{args.window_seconds:g}-s windows, {args.max_epochs} epochs, global batch "
        f"{args.batch_size}" + (f" over {world} processes" if world > 1 else "") + "."
    )
    pre = EEGM2Pretrainer(
        window_seconds=args.window_seconds,
        window_stride_seconds=args.window_stride_seconds,
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
    _say(
        f"Done: {pre.n_chans_} channels x {pre.n_times_} samples at {pre.sfreq_:g} Hz, final "
        f"train loss {losses[-1]:.4g}. Model: {out}  History: {log_csv}"
    )
    return 0


def _labelled_windows(args, window_seconds: float, sfreq: float | None):
    """``(X, y, groups, ch_names, sfreq)`` of the labelled recordings, in memory."""
    import mne
    import numpy as np
    import pandas as pd

    if args.dataset == "eegmat":
        from .datasets import fetch_eegmat, make_eegmat_epochs

        raws = fetch_eegmat(subjects=args.subjects, path=args.data, download=False)
        epochs, y, groups = make_eegmat_epochs(
            raws,
            window_seconds=window_seconds,
            sfreq=sfreq,
            picks=args.picks,
            l_freq=args.l_freq,
            h_freq=args.h_freq,
        )
        if args.channels:
            epochs.pick(_channel_names(args))
        return epochs, y, groups
    if args.labels is None:
        raise ValueError("finetune on files needs --labels CSV (columns file,label[,group]).")
    table = pd.read_csv(args.labels)
    missing = {"file", "label"} - set(table.columns)
    if missing:
        raise ValueError(
            f"{args.labels} lacks the column(s) {sorted(missing)}; expected file,label"
            f"[,group]; it has {list(table.columns)}."
        )
    args.sfreq = sfreq  # prepare_raw resamples to the pretrained model's rate
    Xs, ys, gs, ref = [], [], [], None
    for row in table.itertuples(index=False):
        path = Path(row.file) if Path(row.file).is_absolute() else Path(args.data) / row.file
        raw = prepare_raw(mne.io.read_raw(path, preload=True, verbose="error"), args)
        epochs = mne.make_fixed_length_epochs(
            raw,
            duration=window_seconds,
            overlap=0.0
            if args.window_stride_seconds is None
            else window_seconds - args.window_stride_seconds,
            preload=True,
            verbose="error",
        )
        if ref is None:
            ref = epochs
        Xs.append(epochs.get_data(picks="all"))
        ys += [row.label] * len(epochs)
        gs += [getattr(row, "group", row.file)] * len(epochs)
    info = ref.info
    X = np.concatenate(Xs)
    epochs = mne.EpochsArray(X, info, verbose="error")
    return epochs, np.asarray(ys), np.asarray(gs)


def cmd_finetune(args) -> int:
    """``eegm2 finetune``: returns the exit status."""
    import joblib
    import numpy as np
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import GroupShuffleSplit

    from .estimators import CSVLogger, EEGM2Classifier
    from .training import distributed, load_pretrained

    _join_process_group(args)
    _, config = load_pretrained(args.pretrained)
    sfreq = args.sfreq if args.sfreq is not None else config.get("sfreq")
    window = args.window_seconds
    if window is None:
        window = config["n_times"] / sfreq if sfreq else None
        if window is None:
            raise ValueError("Give --window-seconds (the pretrained model has no sfreq).")
    epochs, y, groups = _labelled_windows(args, window, sfreq)
    out = Path(args.out)
    log_csv = Path(args.log_csv) if args.log_csv else out / "history.csv"
    if args.test_size > 0:
        split = GroupShuffleSplit(
            n_splits=1, test_size=args.test_size, random_state=args.random_state
        )
        train, test = next(split.split(np.zeros(len(y)), y, groups))
    else:
        train, test = np.arange(len(y)), np.arange(0)
    _say(
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
    _say(f"Done. Held-out: {shown or 'none'}. Classifier: {out / 'classifier.joblib'}")
    return 0


def cmd_sys_info(args) -> int:
    """``eegm2 sys-info``: print :func:`eegm2_sklearn.sys_info`; returns 0."""
    from .environment import sys_info

    sys_info()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``eegm2`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str or None
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 for an input or setting error (message on stderr), 130 after an
        interruption that wrote a checkpoint.

    Examples
    --------
    >>> main(["pretrain", "--help"])  # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    command = {"pretrain": cmd_pretrain, "finetune": cmd_finetune, "sys-info": cmd_sys_info}[
        args.command
    ]
    try:
        return command(args)
    except (ValueError, FileNotFoundError, FloatingPointError, ImportError) as err:
        print(f"eegm2 {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the message (where the checkpoint is) is already printed
        return 130


if __name__ == "__main__":
    sys.exit(main())
