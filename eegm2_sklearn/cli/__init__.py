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

import sys

from .commands import cmd_finetune, cmd_pretrain, cmd_sys_info
from .parser import DEFAULT_PATTERNS, HelpFormatter, build_parser
from .recordings import find_recordings, prepare_raw, prepared_recordings

__all__ = [
    "DEFAULT_PATTERNS",
    "HelpFormatter",
    "build_parser",
    "cmd_finetune",
    "cmd_pretrain",
    "cmd_sys_info",
    "find_recordings",
    "main",
    "prepare_raw",
    "prepared_recordings",
]


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
