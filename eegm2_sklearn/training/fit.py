"""Run a skorch net's training: seeds, resume planning, interrupts, batched inference.

The functions take plain values (seeds, folders, epochs), not estimators, so the
scikit-learn face decides what to pass and this layer how to train with it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import distributed
from .allocator import cpu_training_allocator
from .checkpoint import NOT_SELECTED
from .checkpoint_folder import (
    CheckpointError,
    completed_epochs,
    find_checkpoints,
    read_latest,
    select_checkpoint,
)
from .interrupts import TrainingInterrupted, deferred_interrupts, redeliver
from .locking import WriterLock
from .net import NonFiniteLossError
from .rng import forked_global_rng

#: Fingerprint keys that may differ between a checkpoint and the run resuming it.
RESUME_MAY_DIFFER = ("seed", "world_size")


def training_seed(
    seed: int | None, checkpoint_dir, resume: bool, device: Callable[[], torch.device]
) -> int | None:
    """Seed of initialisation, split and shuffling for one fit.

    ``seed`` itself when given; when resuming, the seed of the checkpointed run; when
    checkpointing or training data-parallel without a seed, a fresh seed (the same on every
    process), so that resuming and sharding stay consistent. ``device()`` gives the device
    for the all-reduce that shares rank 0's draw.
    """
    if checkpoint_dir is not None and resume:
        records, _ = find_checkpoints(checkpoint_dir)  # the newest and previous: one run
        if records:
            return records[0]["fingerprint"].get("seed")
    if seed is None and (checkpoint_dir is not None or distributed.is_distributed()):
        seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
        if distributed.is_distributed():  # rank 0's draw for everyone
            own = seed if distributed.is_main_process() else 0
            seed = int(distributed.all_reduce_sum([float(own)], device())[0])
    return seed


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_resumable(info: dict, fingerprint: dict, checkpoint_dir) -> None:
    """Raise :class:`CheckpointError` if the checkpoint in ``info`` was written by a run
    with other settings, listing the old and new values."""
    saved = info["fingerprint"]
    keys = sorted(set(saved) | set(fingerprint))
    diff = [
        k
        for k in keys
        if k not in RESUME_MAY_DIFFER
        and saved.get(k) != fingerprint.get(k)
        and not (k == "random_state" and fingerprint.get(k) is None)
    ]
    if diff:
        then = ", ".join(f"{k}={_short(saved.get(k))}" for k in diff)
        now = ", ".join(f"{k}={_short(fingerprint.get(k))}" for k in diff)
        raise CheckpointError(
            f"checkpoint_dir={os.fspath(checkpoint_dir)!r} holds a checkpoint of a "
            f"run with {then}, but this fit has {now}. Resume with the same data and "
            "settings, or start afresh with resume=False or another checkpoint_dir."
        )


def checkpoint_note(checkpoint_dir) -> str:
    """What a user can do with the checkpoints after training failed."""
    if checkpoint_dir is None:
        return "(Set checkpoint_dir to keep checkpoints of long runs.)"
    try:
        info = read_latest(checkpoint_dir)
    except CheckpointError:
        info = None
    if info is None:
        return f"No checkpoint had been written to {os.fspath(checkpoint_dir)!r} yet."
    return (
        f"The last checkpoint written before it (epoch {info['epoch']}) is kept in "
        f"{info['path']}; resuming with the same settings would repeat the same steps, "
        "so change lr or scaling and train afresh."
    )


def epochs_to_run(net, max_epochs: int, checkpoint_dir, resume: bool, selected=NOT_SELECTED) -> int:
    """Epochs left to train: all of them, or what the checkpoint to resume has not done.

    ``selected`` is the checkpoint chosen by
    :func:`~eegm2_sklearn.training.checkpoint_folder.select_checkpoint` (chosen here when
    not given). Warns when ``checkpoint_dir`` holds an earlier run that this fit replaces.
    """
    if checkpoint_dir is None:
        return max_epochs
    if resume:
        info = select_checkpoint(checkpoint_dir) if selected == NOT_SELECTED else selected
        if info is None:
            return max_epochs
        check_resumable(info, dict(net.callbacks)["checkpoint"].fingerprint, checkpoint_dir)
        return 0 if info["finished"] else max(0, max_epochs - completed_epochs(info))
    try:
        records, problems = find_checkpoints(checkpoint_dir)
    except CheckpointError as err:  # e.g. a newer format: replaced all the same
        records, problems = [], [str(err)]
    if (records or problems) and distributed.is_main_process():
        what = f"epoch {records[0]['epoch']}" if records else "damaged"
        warnings.warn(
            f"checkpoint_dir={os.fspath(checkpoint_dir)!r} holds a checkpoint of an earlier "
            f"run ({what}); this fit starts afresh and replaces it. Pass "
            "resume=True to continue that run instead.",
            UserWarning,
            stacklevel=5,  # the caller of the estimator's fit
        )
    return max_epochs


def fit_net(
    net,
    X_train,
    y_train,
    *,
    seed: int | None,
    max_epochs: int,
    checkpoint_dir=None,
    resume: bool = False,
    after_initialize: Callable[[Any], None] | None = None,
):
    """Initialise and train ``net`` under ``seed`` without touching global RNG state.

    With ``checkpoint_dir``: hold its writer lock while training (another live writer is
    refused with :class:`~eegm2_sklearn.training.locking.CheckpointInUseError`), resume
    from its newest usable checkpoint when ``resume=True``, checkpoint on SIGINT/SIGTERM
    and stop, and say which checkpoint is kept when the loss becomes non-finite.
    ``after_initialize(net)`` runs between initialisation and training (e.g. to load
    pretrained weights).
    """
    writes = checkpoint_dir is not None and distributed.is_main_process()
    with WriterLock(checkpoint_dir) if writes else contextlib.nullcontext():
        selected = None
        if checkpoint_dir is not None and resume:
            selected = select_checkpoint(checkpoint_dir, warn=distributed.is_main_process())
        if checkpoint_dir is not None:
            dict(net.callbacks)["checkpoint"].selected = selected
        epochs = epochs_to_run(net, max_epochs, checkpoint_dir, resume, selected)
        stop = _train(net, X_train, y_train, seed, epochs, checkpoint_dir, after_initialize)
    if stop is not None:  # the lock is released first: the signal may end the process
        redeliver(stop)
    return net


def _train(
    net, X_train, y_train, seed, epochs, checkpoint_dir, after_initialize
) -> TrainingInterrupted | None:
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with (
            forked_global_rng(devices, enabled=seed is not None or checkpoint_dir is not None),
            deferred_interrupts(net, enabled=checkpoint_dir is not None),
            cpu_training_allocator(enabled=str(net.device).startswith("cpu")),
        ):
            if seed is not None:
                torch.manual_seed(seed)
            net.initialize()
            if after_initialize is not None:
                after_initialize(net)
            net.partial_fit(X_train, y_train, epochs=epochs)
    except TrainingInterrupted as stop:
        return stop
    except NonFiniteLossError as err:
        raise NonFiniteLossError(f"{err} {checkpoint_note(checkpoint_dir)}".strip()) from None
    return None


def batched_inference(net, X: np.ndarray, fn, batch_size: int) -> np.ndarray:
    """``fn(module, batch)`` over ``X`` in batches, without autograd; numpy float32."""
    module = net.module_
    module.eval()
    device = torch.device(net.device)
    outs = []
    with torch.inference_mode(), net.autocast():
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(X[start : start + batch_size], device=device)
            outs.append(fn(module, xb).float().cpu().numpy())
    return np.concatenate(outs, axis=0)
