"""The skorch callbacks of a training run, and a CSV logger of its history."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import torch
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    GradientNormClipping,
    LRScheduler,
    ProgressBar,
)
from skorch.utils import noop

from . import distributed
from .checkpoint import ResumableCheckpoint, ResumeFromCheckpoint
from .checkpoint_folder import atomic_write_text

#: Fewest optimiser steps for the one-cycle schedule (below: constant learning rate).
MIN_ONECYCLE_STEPS = 4

#: Batches per epoch from which ``verbose=1`` adds a progress bar.
PROGRESS_BAR_MIN_BATCHES = 20

#: Columns written when present in the history, in this order.
CSV_COLUMNS = ("epoch", "train_loss", "valid_loss", "lr", "dur")


class CSVLogger(Callback):
    """Write skorch's per-epoch history to a CSV file after every epoch.

    The whole file is rewritten (atomically) from the history, so after a resume it holds
    the epochs of the interrupted run too. Columns: ``epoch``, ``train_loss``,
    ``valid_loss`` (with validation), ``lr`` (learning rate at the epoch's last batch),
    and ``dur`` (seconds), when present. Under
    ``torchrun`` only rank 0 writes.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file (its folder is created).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from eegm2_sklearn import EEGM2Pretrainer
    >>> from eegm2_sklearn.estimators import CSVLogger
    >>> path = os.path.join(tempfile.mkdtemp(), "history.csv")
    >>> X = np.random.default_rng(0).standard_normal((8, 2, 32)).astype("float32")
    >>> _ = EEGM2Pretrainer(max_epochs=2, batch_size=4, base_width=8, expand=2, headdim=8,
    ...                     d_state=4, callbacks=[CSVLogger(path)]).fit(X)
    >>> open(path).readline().strip()
    'epoch,train_loss,lr,dur'
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path

    def on_epoch_end(self, net, **kwargs):
        if not distributed.is_main_process():
            return
        rows = []
        for row in net.history:
            out = {k: row[k] for k in CSV_COLUMNS if k in row}
            lrs = [b["event_lr"] for b in row.get("batches", []) if "event_lr" in b]
            if lrs:
                out["lr"] = lrs[-1]
            elif "event_lr" in row:
                out["lr"] = row["event_lr"]
            rows.append(out)
        columns = [c for c in CSV_COLUMNS if any(c in r for r in rows)]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, buf.getvalue())


def training_callbacks(
    *,
    n_train: int,
    has_valid: bool,
    batch_size: int,
    max_epochs: int,
    lr: float,
    lr_schedule: str,
    gradient_clip_value: float | None,
    patience: int | None,
    verbose: int,
    callbacks=None,
    checkpoint_dir=None,
    checkpoint_every: int = 1,
    resume: bool = False,
    fingerprint: dict | None = None,
) -> list:
    """``(name, callback)`` pairs of one training run, in the order skorch must call them.

    Gradient clipping, the one-cycle schedule (per batch), early stopping (on the validation
    loss, else the training loss), a progress bar for long epochs, the user's callbacks,
    then resuming and checkpointing.
    """
    n_batches = math.ceil(n_train / batch_size)
    out: list = []
    if gradient_clip_value is not None:
        out.append(("grad_clip", GradientNormClipping(gradient_clip_value=gradient_clip_value)))
    total_steps = max_epochs * n_batches
    # One-cycle needs a warm-up and an annealing phase of at least one step each; with
    # fewer than MIN_ONECYCLE_STEPS steps in all, the learning rate stays constant.
    if lr_schedule == "onecycle" and total_steps >= MIN_ONECYCLE_STEPS:
        schedule = LRScheduler(
            policy=torch.optim.lr_scheduler.OneCycleLR,
            max_lr=lr,
            total_steps=total_steps,
            pct_start=max(0.1, 2.0 / total_steps),
            step_every="batch",
            last_epoch=-1,  # a resumed run restores the schedule from its checkpoint
        )
        out.append(("lr_schedule", schedule))
    if patience is not None:
        monitor = "valid_loss" if has_valid else "train_loss"
        out.append(
            ("early_stopping", EarlyStopping(monitor=monitor, patience=patience, load_best=True))
        )
    main = distributed.is_main_process()
    if verbose >= 1 and main and n_batches >= PROGRESS_BAR_MIN_BATCHES:
        out.append(("progress", ProgressBar()))
    for i, cb in enumerate(callbacks or []):
        out.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
    if checkpoint_dir is not None:
        # after the scheduler and early stopping, whose on_train_begin resets them
        saver = ResumableCheckpoint(
            checkpoint_dir,
            every=checkpoint_every,
            fingerprint=fingerprint,
            sink=print if verbose >= 1 and main else noop,
        )
        if resume:
            out.append(("resume", ResumeFromCheckpoint(saver)))
        out.append(("checkpoint", saver))
    return out
