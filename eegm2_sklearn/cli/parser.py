"""The ``eegm2`` argument parser; estimator options come from the parameter table."""

from __future__ import annotations

import argparse

from ..estimators.params import ARCH_PARAMS, PARAMS

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
    for name in ("patience", "scaling", "device", "precision", "backend", "compile", "num_workers"):
        _add_param(g, name)
    _add_param(g, "random_state", type=int, default=0)
    for name in ("checkpoint_dir", "checkpoint_every", "resume"):
        _add_param(g, name)
    g.add_argument("--log-csv", default=None, help="CSV log of the history (default: OUT/...)")
    g.add_argument(PARAMS["verbose"].flag, action="store_true", help="no per-epoch output")
    if pretrain:
        o = p.add_argument_group("objective")
        for name in ("objective", "mask_ratio", "mask_span", "mask_loss"):
            _add_param(o, name)
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
    from .. import __version__

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
    _add_param(h, "class_weight", type=str, choices=("none", "balanced"), default="balanced")
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
