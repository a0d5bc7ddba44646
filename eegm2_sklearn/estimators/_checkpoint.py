"""Checkpoints that survive a kill, and resuming from them to the same weights.

A checkpoint folder (the estimators' ``checkpoint_dir``) holds:

- ``latest.json``: which checkpoint is the newest complete one, with its epoch, batch and
  the settings of the run that wrote it (the *fingerprint*);
- one sub-folder per checkpoint, e.g. ``epoch00003`` (after epoch 3) or
  ``epoch00004-batch000012`` (interrupted after 12 batches of epoch 4), with skorch's files
  ``params.pt`` (module weights), ``optimizer.pt``, ``criterion.pt``, ``history.json``, and
  ``training_state.pt``: the learning-rate scheduler, early-stopping state, random
  generator states (torch CPU and CUDA, NumPy, Python), the shuffling seed and the batches
  already done in an interrupted epoch.

Writing is atomic: a checkpoint is written into a temporary folder, moved into place with
:func:`os.replace`, and only then does ``latest.json`` (itself replaced atomically) point to
it; older checkpoints are removed afterwards. A process killed at any moment (even by
SIGKILL) leaves ``latest.json`` naming a complete checkpoint.

Saving uses skorch's :class:`~skorch.callbacks.Checkpoint` (subclassed for the atomic
layout) and ``NeuralNet.save_params``; loading uses :class:`~skorch.callbacks.LoadInitState`
(subclassed to restore what skorch does not keep) and ``NeuralNet.load_params``.

Windows are shuffled per epoch from ``(seed, epoch)`` (see ``_sampler``) and data loaders
draw no numbers from the global generator, so the global generators only serve the model
itself: restoring them, the optimiser, the scheduler and the position in the epoch makes the
resumed run compute what the uninterrupted one would (bit for bit on CPU).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skorch.callbacks import Checkpoint, EarlyStopping, LoadInitState, LRScheduler

from . import _distributed

#: Layout version of a checkpoint folder.
CHECKPOINT_FORMAT = 1
POINTER_NAME = "latest.json"
STATE_NAME = "training_state.pt"
_PREFIX = "epoch"


class TrainingInterrupted(BaseException):
    """Training stopped on SIGINT/SIGTERM after a checkpoint was written.

    A ``BaseException`` (like :class:`KeyboardInterrupt`) so that ``except Exception``
    blocks and skorch's handling of ``KeyboardInterrupt`` let it through to ``fit``.
    """

    def __init__(self, signum: int, epoch: int, batch: int, path: str) -> None:
        self.signum = signum
        self.epoch = epoch
        self.batch = batch
        self.path = path
        where = f"epoch {epoch}, after batch {batch}" if batch else f"the end of epoch {epoch}"
        super().__init__(
            f"Training interrupted by {signal.Signals(signum).name} at {where}; the checkpoint "
            f"{path} holds the state. Fit again with resume=True (command line: --resume) "
            "and the same data and settings to continue."
        )


# --------------------------------------------------------------------------------------
# random generators


def rng_states(device: torch.device | str | None = None) -> dict[str, Any]:
    """States of the torch (CPU and ``device``'s CUDA), NumPy and Python generators.

    Returned in types ``torch.load(weights_only=True)`` accepts.
    """
    np_state = np.random.get_state()  # noqa: NPY002 (the global state itself)
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ),
        "python": random.getstate(),
    }
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states: dict[str, Any], device: torch.device | str | None = None) -> None:
    """Restore generator states returned by :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    device = torch.device(device) if device is not None else None
    if "cuda" in states and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"], device)


@contextlib.contextmanager
def forked_global_rng(devices: list, enabled: bool = True) -> Iterator[None]:
    """Leave the caller's torch, NumPy and Python generators as they were on exit."""
    if not enabled:
        yield
        return
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)


# --------------------------------------------------------------------------------------
# signals


@contextlib.contextmanager
def deferred_interrupts(net, enabled: bool = True) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into a request to checkpoint and stop after the current batch.

    The handler only records the signal on ``net`` (``net.interrupt_signal_``); the
    checkpoint callback saves at the next batch boundary, where the model, optimiser and
    scheduler agree, and raises :class:`TrainingInterrupted`. A second signal while waiting
    is handled the way it was before ``fit``. Handlers can only be set in the main thread;
    elsewhere this does nothing.
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum, frame):
        if net.interrupt_signal_ is not None:  # asked twice: stop waiting for the batch
            signal.signal(signum, previous[signum])
            signal.raise_signal(signum)
            return
        net.interrupt_signal_ = signum
        if _distributed.is_main_process():
            print(
                f"{signal.Signals(signum).name} received: writing a checkpoint after the "
                "current batch, then stopping (send it again to stop at once).",
                file=sys.stderr,
                flush=True,
            )

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def redeliver(stop: TrainingInterrupted) -> None:
    """After checkpointing, let the signal do what it did before ``fit``, then stop.

    SIGINT raises :class:`KeyboardInterrupt` (with where the checkpoint is); SIGTERM ends
    the process as it would have (unless the caller handles it). If a previous handler
    returns, ``KeyboardInterrupt`` is raised anyway, so that ``fit`` never returns an
    unfinished model silently.
    """
    if _distributed.is_main_process():
        print(str(stop), file=sys.stderr, flush=True)
    if signal.getsignal(stop.signum) is not signal.default_int_handler:
        signal.raise_signal(stop.signum)
    raise KeyboardInterrupt(str(stop)) from None


# --------------------------------------------------------------------------------------
# the folder


def read_latest(dirname: str | os.PathLike) -> dict[str, Any] | None:
    """What ``latest.json`` in ``dirname`` says, with ``path`` (the checkpoint folder).

    Returns None when the folder holds no checkpoint.

    Raises
    ------
    ValueError
        ``latest.json`` is unreadable or names a folder that is missing.
    """
    pointer = Path(dirname) / POINTER_NAME
    if not pointer.is_file():
        return None
    try:
        info = json.loads(pointer.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{pointer} is not a readable checkpoint pointer ({err}); delete the folder "
            "to start afresh."
        ) from err
    if info.get("format", 0) > CHECKPOINT_FORMAT:
        raise ValueError(
            f"{pointer} has checkpoint format {info.get('format')}, newer than this "
            f"version reads ({CHECKPOINT_FORMAT}); update eegm2_sklearn."
        )
    path = Path(dirname) / info["checkpoint"]
    if not (path / STATE_NAME).is_file():
        raise ValueError(
            f"{pointer} names the checkpoint {path}, which is missing or incomplete; "
            "delete the folder to start afresh."
        )
    info["path"] = str(path)
    return info


def completed_epochs(info: dict[str, Any]) -> int:
    """Epochs fully done according to a ``latest.json`` record."""
    return info["epoch"] - 1 if info["partial"] else info["epoch"]


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _callback_states(net) -> dict[str, Any]:
    """What the scheduler and early-stopping callbacks need to continue."""
    states: dict[str, Any] = {}
    for name, cb in net.callbacks_:
        if isinstance(cb, LRScheduler) and getattr(cb, "lr_scheduler_", None) is not None:
            states[name] = {"lr_scheduler": cb.lr_scheduler_.state_dict()}
        elif isinstance(cb, EarlyStopping) and hasattr(cb, "misses_"):
            weights = cb.best_model_weights_
            states[name] = {
                "misses_": int(cb.misses_),
                "dynamic_threshold_": float(cb.dynamic_threshold_),
                "best_epoch_": int(cb.best_epoch_),
                "best_model_weights_": None
                if weights is None
                else {k: v.detach().cpu() for k, v in weights.items()},
            }
    return states


def _restore_callbacks(net, states: dict[str, Any]) -> None:
    for name, cb in net.callbacks_:
        state = states.get(name)
        if isinstance(cb, LRScheduler) and state is not None:
            cb.lr_scheduler_.load_state_dict(state["lr_scheduler"])
        elif isinstance(cb, EarlyStopping) and state is not None:
            cb.misses_ = state["misses_"]
            cb.dynamic_threshold_ = state["dynamic_threshold_"]
            cb.best_epoch_ = state["best_epoch_"]
            weights = state["best_model_weights_"]
            cb.best_model_weights_ = None if weights is None else dict(weights)
        # skorch's loss scorers remember their best value only from their first epoch on
        best = getattr(cb, "best_score_", None)
        key = getattr(cb, "name", None)
        if best is not None and isinstance(key, str) and net.history:
            values = [row[key] for row in net.history if key in row]
            if values and getattr(cb, "lower_is_better", True) is not None:
                cb.best_score_ = min(values) if cb.lower_is_better else max(values)


class ResumableCheckpoint(Checkpoint):
    """skorch Checkpoint that writes the whole training state atomically.

    Saves every ``every`` epochs, after the last epoch, when early stopping ends training,
    and when a SIGINT/SIGTERM was received (then after the current batch, raising
    :class:`TrainingInterrupted`). With data parallelism only rank 0 writes.

    Parameters
    ----------
    dirname : str or os.PathLike
        The checkpoint folder.
    every : int
        Save after every ``every``-th epoch.
    fingerprint : dict
        Settings of the run, stored with each checkpoint and compared on resume.
    sink : callable
        Where to report saves (``print`` with ``verbose``).
    """

    def __init__(self, dirname, every: int = 1, fingerprint: dict | None = None, sink=print):
        super().__init__(
            monitor=None,
            f_params="params.pt",
            f_optimizer="optimizer.pt",
            f_criterion="criterion.pt",
            f_history="history.json",
            f_pickle=None,
            dirname=os.fspath(dirname),
            event_name="event_cp",
            sink=sink,
        )
        self.every = every
        self.fingerprint = fingerprint or {}

    def initialize(self):
        super().initialize()
        self.saved_epoch_ = None
        return self

    # ------------------------------------------------------------------ where files are
    def get_formatted_files(self, net) -> dict:
        """The files of the newest complete checkpoint (what ``load_params`` reads)."""
        info = read_latest(self.dirname)
        folder = Path(info["path"]) if info else Path(self.dirname)
        return {
            key: None if val is None else str(folder / val) for key, val in self._f_kwargs().items()
        }

    @property
    def f_history_(self):
        info = read_latest(self.dirname)
        folder = Path(info["path"]) if info else Path(self.dirname)
        return str(folder / self.f_history)

    # ------------------------------------------------------------------ when to save
    def on_batch_end(self, net, training=False, **kwargs):
        if training and net.stop_agreed():
            epoch = len(net.history)
            batch = sum("train_loss" in b for b in net.history[-1]["batches"])
            path = self.save_state(net, partial=True)
            raise TrainingInterrupted(net.interrupt_signal_ or signal.SIGTERM, epoch, batch, path)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        stop = net.agree_stop()
        due = stop or epoch % self.every == 0 or epoch >= net.max_epochs
        net.history.record(self.event_name, bool(due))
        path = self.save_state(net, partial=False) if due else None
        if stop:
            raise TrainingInterrupted(net.interrupt_signal_ or signal.SIGTERM, epoch, 0, path)

    def on_train_end(self, net, **kwargs):
        # early stopping ends training with KeyboardInterrupt before this callback's
        # on_epoch_end: record the end state, marked finished
        stopped_early = any(
            isinstance(cb, EarlyStopping) and getattr(cb, "misses_", 0) >= cb.patience
            for _, cb in net.callbacks_
        )
        if stopped_early and net.history:
            self.save_state(net, partial=False, finished=True)

    def save_model(self, net):  # skorch's hook, used by Checkpoint.on_epoch_end
        self.save_state(net, partial=False)

    # ------------------------------------------------------------------ writing
    def save_state(self, net, partial: bool, finished: bool | None = None) -> str:
        """Write a checkpoint atomically (rank 0); return its folder."""
        epoch = len(net.history)
        batches = net.history[-1]["batches"] if net.history else []
        n_done = sum("train_loss" in b for b in batches) if partial else 0
        if finished is None:
            finished = not partial and epoch >= net.max_epochs
        name = f"{_PREFIX}{epoch:05d}" + (f"-batch{n_done:06d}" if partial else "")
        root = Path(self.dirname)
        final = root / name
        if _distributed.is_main_process():
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
            try:
                net.save_params(
                    f_params=tmp / self.f_params,
                    f_optimizer=tmp / self.f_optimizer,
                    f_criterion=tmp / self.f_criterion,
                    f_history=tmp / self.f_history,
                )
                state = {
                    "format": CHECKPOINT_FORMAT,
                    "epoch": epoch,
                    "partial": partial,
                    "batches_done": n_done,
                    "finished": bool(finished),
                    "partial_batches": [dict(b) for b in batches] if partial else None,
                    "rng": rng_states(net.device),
                    "shuffle_seed": int(net.shuffle_seed),
                    "callbacks": _callback_states(net),
                    "fingerprint": self.fingerprint,
                }
                torch.save(state, tmp / STATE_NAME)
                if final.exists():  # left by a run killed before it updated the pointer
                    shutil.rmtree(final)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            pointer = {
                "format": CHECKPOINT_FORMAT,
                "checkpoint": name,
                "epoch": epoch,
                "partial": partial,
                "batches_done": n_done,
                "finished": bool(finished),
                "fingerprint": self.fingerprint,
            }
            _atomic_write_text(root / POINTER_NAME, json.dumps(pointer, indent=1))
            for old in root.iterdir():
                stale = old.name.startswith(_PREFIX) or old.name.startswith(".tmp-")
                if stale and old.name != name and old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            if partial or finished or net.interrupt_signal_ is not None:
                where = f"epoch {epoch}" + (f", batch {n_done}" if partial else "")
                self._sink(f"Checkpoint ({where}) written to {final}.", net.verbose)
        _distributed.barrier()
        self.saved_epoch_ = epoch
        return str(final)


class ResumeFromCheckpoint(LoadInitState):
    """skorch LoadInitState that also restores the scheduler, generators and epoch position.

    Placed after the scheduler and early-stopping callbacks (their ``on_train_begin``
    resets them) and before :class:`ResumableCheckpoint`.

    Parameters
    ----------
    checkpoint : ResumableCheckpoint
        The callback that writes the checkpoints.
    """

    def initialize(self):
        super().initialize()
        self.resumed_epoch_ = None
        self._partial: dict | None = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.did_load_:
            return
        self.did_load_ = True
        info = read_latest(self.checkpoint.dirname)
        if info is None:
            return
        net.load_params(checkpoint=self.checkpoint)
        state = torch.load(Path(info["path"]) / STATE_NAME, map_location="cpu", weights_only=True)
        if state["partial"] and net.history:
            net.history.pop()  # the interrupted epoch is redone from its saved batches
            self._partial = state
        net.shuffle_seed = state["shuffle_seed"]
        _restore_callbacks(net, state["callbacks"])
        set_rng_states(state["rng"], net.device)
        self.resumed_epoch_ = state["epoch"]
        self.checkpoint.saved_epoch_ = state["epoch"]
        if net.verbose and _distributed.is_main_process():
            where = f"epoch {state['epoch']}" + (
                f", batch {state['batches_done']}" if state["partial"] else ""
            )
            print(f"Resuming from {info['path']} ({where}).", flush=True)

    def on_epoch_begin(self, net, **kwargs):
        if self._partial is None:
            return
        for batch in self._partial["partial_batches"]:
            if "train_loss" not in batch:
                continue
            net.history.new_batch()
            for key, value in batch.items():
                net.history.record_batch(key, value)
        sampler = net.train_sampler_
        sampler.skip_next(self._partial["batches_done"] * net.train_batch_size_)

    def on_epoch_end(self, net, **kwargs):
        if self._partial is None:
            return
        count = sum("train_loss" in b for b in net.history[-1]["batches"])
        net.history.record("train_batch_count", count)
        self._partial = None
