"""Checkpoints that survive a kill, and resuming from them to the same weights.

:class:`ResumableCheckpoint` writes the training state into the estimators'
``checkpoint_dir`` (layout: :mod:`eegm2_sklearn.training.checkpoint_folder`): one
sub-folder per checkpoint, e.g. ``epoch00003`` (after epoch 3) or
``epoch00004-batch000012`` (interrupted after 12 batches of epoch 4), with skorch's files
``params.pt`` (module weights), ``optimizer.pt``, ``criterion.pt``, ``history.json``, and
``training_state.pt``: the learning-rate scheduler, early-stopping state, random generator
states (torch CPU and CUDA, NumPy, Python), the shuffling seed and the batches already done
in an interrupted epoch; ``manifest.json`` records the SHA-256 of each.

Writing is atomic: a checkpoint is written into a temporary folder, moved into place with
:func:`os.replace`, read back against its manifest, and only then does ``latest.json``
(itself replaced atomically) point to it; the checkpoint before it is kept, older ones are
removed afterwards. A process killed at any moment (even by SIGKILL) leaves ``latest.json``
naming a complete checkpoint, and a damaged newest checkpoint leaves the previous one to
resume from. Only the process holding the folder's writer lock
(:mod:`eegm2_sklearn.training.locking`) writes or cleans up there.

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

import errno
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import torch
from skorch.callbacks import Checkpoint, EarlyStopping, LoadInitState, LRScheduler

from . import checkpoint_folder as folder_io
from . import distributed
from .checkpoint_folder import (
    CHECKPOINT_FORMAT,
    POINTER_NAME,
    SKORCH_FILES,
    STATE_NAME,
    TMP_PREFIX,
    CheckpointError,
    check_checkpoint_dir,
    checkpoint_name,
    completed_epochs,
    read_latest,
    select_checkpoint,
)
from .interrupts import TrainingInterrupted
from .locking import holds_lock
from .rng import rng_states, set_rng_states

__all__ = [
    "CHECKPOINT_FORMAT",
    "POINTER_NAME",
    "STATE_NAME",
    "ResumableCheckpoint",
    "ResumeFromCheckpoint",
    "check_checkpoint_dir",
    "completed_epochs",
    "read_latest",
]

#: ``ResumableCheckpoint.selected``: the checkpoint to resume is not chosen yet.
NOT_SELECTED = "not selected"


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
    :class:`TrainingInterrupted`). With data parallelism only rank 0 writes. The newest
    checkpoint and the one before it are kept.

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

    Attributes
    ----------
    selected : dict, None or str
        The record of the checkpoint to resume (from
        :func:`~eegm2_sklearn.training.checkpoint_folder.select_checkpoint`), set by
        :func:`~eegm2_sklearn.training.fit_net` before training; None: start afresh.
    last_good_ : str or None
        Name of the newest complete checkpoint of this run (kept when the next is written).
    """

    def __init__(self, dirname, every: int = 1, fingerprint: dict | None = None, sink=print):
        super().__init__(
            monitor=None,
            **SKORCH_FILES,
            f_pickle=None,
            dirname=os.fspath(dirname),
            event_name="event_cp",
            sink=sink,
        )
        self.every = every
        self.fingerprint = fingerprint or {}
        self.selected: dict | None | str = NOT_SELECTED

    def initialize(self):
        super().initialize()
        self.saved_epoch_ = None
        self.last_good_ = None
        return self

    def _folder(self) -> Path:
        info = self.selected if isinstance(self.selected, dict) else read_latest(self.dirname)
        return Path(info["path"]) if info else Path(self.dirname)

    # ------------------------------------------------------------------ where files are
    def get_formatted_files(self, net) -> dict:
        """The files of the checkpoint to resume (what ``load_params`` reads)."""
        folder = self._folder()
        return {
            key: None if val is None else str(folder / val) for key, val in self._f_kwargs().items()
        }

    @property
    def f_history_(self):
        return str(self._folder() / self.f_history)

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
        name = checkpoint_name(epoch, partial, n_done)
        root = Path(self.dirname)
        final = root / name
        if distributed.is_main_process():
            record = {
                "checkpoint": name,
                "epoch": epoch,
                "partial": partial,
                "batches_done": n_done,
                "finished": bool(finished),
                "fingerprint": self.fingerprint,
            }
            state = {
                "format": CHECKPOINT_FORMAT,
                **{k: record[k] for k in ("epoch", "partial", "batches_done", "finished")},
                "partial_batches": [dict(b) for b in batches] if partial else None,
                "rng": rng_states(net.device),
                "shuffle_seed": int(net.shuffle_seed),
                "callbacks": _callback_states(net),
                "fingerprint": self.fingerprint,
            }
            previous = self.last_good_ if self.last_good_ != name else None
            try:
                self._write(net, root, final, record, state, previous)
            except OSError as err:
                kept = (
                    f"the checkpoint {previous} is kept"
                    if previous
                    else "no checkpoint of this run was complete yet"
                )
                err.add_note(
                    f"Writing the checkpoint {final} failed, so training stopped; {kept}. Fix "
                    "the cause (e.g. free disk space) and fit again with resume=True to "
                    "continue from the newest complete checkpoint."
                )
                raise
            self.last_good_ = name
            if partial or finished or net.interrupt_signal_ is not None:
                where = f"epoch {epoch}" + (f", batch {n_done}" if partial else "")
                self._sink(f"Checkpoint ({where}) written to {final}.", net.verbose)
        distributed.barrier()
        self.saved_epoch_ = epoch
        return str(final)

    def _write(self, net, root: Path, final: Path, record, state, previous) -> None:
        """Files into a temporary folder, manifest, rename, read back, publish, prune."""
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=root))
        try:
            for key, file in SKORCH_FILES.items():
                net.save_params(**{key: tmp / file})
            torch.save(state, tmp / STATE_NAME)
            folder_io.write_manifest(tmp, record)
            folder_io.move_into_place(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        problem = folder_io.checkpoint_problem(final)
        if problem is not None:
            shutil.rmtree(final, ignore_errors=True)
            raise OSError(errno.EIO, f"the checkpoint did not read back: {problem}")
        folder_io.publish(root, record, previous)
        if holds_lock(root):  # another writer's temporary folders are not ours to remove
            folder_io.prune(root, {final.name, previous})


class ResumeFromCheckpoint(LoadInitState):
    """skorch LoadInitState that also restores the scheduler, generators and epoch position.

    Placed after the scheduler and early-stopping callbacks (their ``on_train_begin``
    resets them) and before :class:`ResumableCheckpoint`. Loads the checkpoint that
    :func:`~eegm2_sklearn.training.checkpoint_folder.select_checkpoint` chose: the newest,
    or the previous one when the newest is damaged.

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
        saver = self.checkpoint
        if saver.selected == NOT_SELECTED:  # used outside fit_net
            saver.selected = select_checkpoint(saver.dirname)
        info = saver.selected
        if info is None:
            return
        try:
            net.load_params(checkpoint=saver)
            state = torch.load(
                Path(info["path"]) / STATE_NAME, map_location="cpu", weights_only=True
            )
        except (RuntimeError, OSError, EOFError, ValueError, KeyError) as err:
            raise CheckpointError(
                f"Cannot load the checkpoint {info['path']} ({type(err).__name__}: "
                f"{str(err).strip()[:300]}). It was written by a run with other settings or "
                "is damaged; start afresh with resume=False or another checkpoint_dir."
            ) from err
        if state["partial"] and net.history:
            net.history.pop()  # the interrupted epoch is redone from its saved batches
            self._partial = state
        net.shuffle_seed = state["shuffle_seed"]
        _restore_callbacks(net, state["callbacks"])
        set_rng_states(state["rng"], net.device)
        self.resumed_epoch_ = state["epoch"]
        saver.saved_epoch_ = state["epoch"]
        saver.last_good_ = info["checkpoint"]
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
