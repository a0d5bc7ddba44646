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

Windows are shuffled per epoch from ``(seed, epoch)`` (see
:mod:`eegm2_sklearn.training.sampler`) and data loaders draw no numbers from the global
generator, so the global generators only serve the model itself: restoring them, the
optimiser, the scheduler and the position in the epoch makes the resumed run compute what
the uninterrupted one would (bit for bit on CPU).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import torch
from skorch.callbacks import Checkpoint, EarlyStopping, LoadInitState, LRScheduler

from . import distributed
from .interrupts import TrainingInterrupted
from .rng import rng_states, set_rng_states

#: Layout version of a checkpoint folder.
CHECKPOINT_FORMAT = 1
POINTER_NAME = "latest.json"
STATE_NAME = "training_state.pt"
_PREFIX = "epoch"


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


def check_checkpoint_dir(dirname) -> None:
    """Make sure checkpoints can be written to ``dirname`` before any training is spent.

    Creates the folder if needed and writes (then removes) a probe file in it.

    Raises
    ------
    ValueError
        When ``dirname`` is a file, cannot be created, or is not writable; the message
        names the folder and the reason.

    Examples
    --------
    >>> import tempfile
    >>> check_checkpoint_dir(tempfile.mkdtemp())
    """
    root = Path(dirname)
    try:
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(f"{os.fspath(root)!r} is a file")
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=root)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ValueError(
            f"checkpoint_dir={os.fspath(dirname)!r} cannot hold checkpoints ({err}); "
            "checked before training so that no epoch is lost. Choose a folder you can "
            "write to, or checkpoint_dir=None."
        ) from err


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
        if distributed.is_main_process():
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
        distributed.barrier()
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
        if net.verbose and distributed.is_main_process():
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
