"""Run a skorch net's training: seeds, resume planning, interrupts, batched inference.

The functions take plain values (seeds, folders, epochs), not estimators, so the
scikit-learn face decides what to pass and this layer how to train with it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import distributed
from .allocator import cpu_training_allocator
from .checkpoint import completed_epochs, read_latest
from .interrupts import TrainingInterrupted, deferred_interrupts, redeliver
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
        info = read_latest(checkpoint_dir)
        if info is not None:
            return info["fingerprint"]["seed"]
    if seed is None and (checkpoint_dir is not None or distributed.is_distributed()):
        seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
        if distributed.is_distributed():  # rank 0's draw for everyone
            own = seed if distributed.is_main_process() else 0
            seed = int(distributed.all_reduce_sum([float(own)], device())[0])
    return seed


def check_resumable(info: dict, fingerprint: dict, checkpoint_dir) -> None:
    """Raise if the checkpoint in ``info`` was written by a run with other settings."""
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
        then = ", ".join(f"{k}={saved.get(k)!r}" for k in diff)
        now = ", ".join(f"{k}={fingerprint.get(k)!r}" for k in diff)
        raise ValueError(
            f"checkpoint_dir={os.fspath(checkpoint_dir)!r} holds a checkpoint of a "
            f"run with {then}, but this fit has {now}. Resume with the same data and "
            "settings, or start afresh with resume=False or another checkpoint_dir."
        )


def checkpoint_note(checkpoint_dir) -> str:
    """What a user can do with the checkpoints after training failed."""
    if checkpoint_dir is None:
        return "(Set checkpoint_dir to keep checkpoints of long runs.)"
    info = read_latest(checkpoint_dir)
    if info is None:
        return f"No checkpoint had been written to {os.fspath(checkpoint_dir)!r} yet."
    return (
        f"The last checkpoint written before it (epoch {info['epoch']}) is kept in "
        f"{info['path']}; resuming with the same settings would repeat the same steps, "
        "so change lr or scaling and train afresh."
    )


def epochs_to_run(net, max_epochs: int, checkpoint_dir, resume: bool) -> int:
    """Epochs left to train: all of them, or what the checkpoint to resume has not done.

    Warns when ``checkpoint_dir`` holds an earlier run that this fit replaces.
    """
    if checkpoint_dir is None:
        return max_epochs
    info = read_latest(checkpoint_dir)
    if info is not None and resume:
        check_resumable(info, dict(net.callbacks)["checkpoint"].fingerprint, checkpoint_dir)
        return 0 if info["finished"] else max(0, max_epochs - completed_epochs(info))
    if info is not None and distributed.is_main_process():
        warnings.warn(
            f"checkpoint_dir={os.fspath(checkpoint_dir)!r} holds a checkpoint of an earlier "
            f"run (epoch {info['epoch']}); this fit starts afresh and replaces it. Pass "
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

    With ``checkpoint_dir``: resume from its newest checkpoint when ``resume=True``,
    checkpoint on SIGINT/SIGTERM and stop, and say which checkpoint is kept when the
    loss becomes non-finite. ``after_initialize(net)`` runs between initialisation and
    training (e.g. to load pretrained weights).
    """
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    epochs = epochs_to_run(net, max_epochs, checkpoint_dir, resume)
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
        redeliver(stop)
    except NonFiniteLossError as err:
        raise NonFiniteLossError(f"{err} {checkpoint_note(checkpoint_dir)}".strip()) from None
    return net


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
