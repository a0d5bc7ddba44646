"""What EEGM2Pretrainer and EEGM2Classifier share: parameters, data preparation, the
skorch net's construction and training, and batched inference."""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import (
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import (
    EarlyStopping,
    GradientNormClipping,
    LRScheduler,
    ProgressBar,
)
from skorch.helper import predefined_split
from skorch.utils import noop

from . import _distributed
from ._checkpoint import (
    ResumableCheckpoint,
    ResumeFromCheckpoint,
    TrainingInterrupted,
    completed_epochs,
    deferred_interrupts,
    forked_global_rng,
    read_latest,
    redeliver,
)
from ._device import resolve_device
from ._inputs import EEGArray, to_eeg_array
from ._net import NonFiniteLossError
from ._scaling import scale_windows
from ._validation import (
    PARAM_CHECKS,
    _one_of,
    check_channels,
    check_sfreq,
    validate_params,
)

#: Names of the architecture parameters, shared with the models' constructors.
ARCH_PARAMS = ("base_width", "d_state", "d_conv", "expand", "headdim", "chunk_size")

#: Parameter checks of the estimators (the shared table plus estimator-only options).
ESTIMATOR_CHECKS = {
    **PARAM_CHECKS,
    "lr_schedule": _one_of(("onecycle", "constant")),
    "checkpointing": (lambda v: isinstance(v, bool), "True or False"),
    "num_workers": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "an int >= 0",
    ),
    "features": _one_of(("stats", "mean")),
    "hidden": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an int >= 1"),
    "base_width": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an int >= 1",
    ),
    "checkpoint_dir": (
        lambda v: v is None or isinstance(v, (str, os.PathLike)),
        "None or a folder path (str or os.PathLike)",
    ),
    "checkpoint_every": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an int >= 1 (epochs)",
    ),
    "resume": (lambda v: isinstance(v, bool), "True or False"),
}

#: Fingerprint keys that may differ between a checkpoint and the run resuming it.
RESUME_MAY_DIFFER = ("seed", "world_size")

#: Mamba-2 parameters that mamba-ssm excludes from weight decay.
NO_WEIGHT_DECAY = ("*A_log", "*.D", "*dt_bias")

#: Fewest optimiser steps for the one-cycle schedule (below: constant learning rate).
MIN_ONECYCLE_STEPS = 4

#: Batches per epoch from which ``verbose=1`` adds a progress bar.
PROGRESS_BAR_MIN_BATCHES = 20


def warn_unused_window_params(est, data: EEGArray) -> None:
    """Warn when ``window_seconds``/``window_stride_seconds`` were set but the input was
    already cut into windows, so they were not used."""
    unused = [
        f"{name}={getattr(est, name)!r}"
        for name in ("window_seconds", "window_stride_seconds")
        if getattr(est, name, None) is not None
    ]
    if not unused:
        return
    length = (
        f"{data.n_times / data.sfreq:g} s ({data.n_times} samples)"
        if data.sfreq
        else f"{data.n_times} samples"
    )
    warnings.warn(
        f"{' and '.join(unused)} cut continuous recordings (mne.io.Raw) into windows, but "
        f"the input is already windowed ({data.source}); its own windows of {length} were "
        "used. Pass Raw recordings to cut other windows, or leave these parameters None.",
        UserWarning,
        stacklevel=4,
    )


def seed_from(random_state) -> int | None:
    """An int seed from ``random_state`` (None stays None: unseeded)."""
    if random_state is None:
        return None
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


class EEGM2Base(BaseEstimator):
    """Shared machinery; not public. Subclasses define ``__init__`` with the parameters."""

    _net_class: type
    _estimator_type_name = "EEGM2"

    # ------------------------------------------------------------------ sklearn tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.random_state is None
        return tags

    # ------------------------------------------------------------------ data
    def _validate_params(self) -> None:
        validate_params(self, ESTIMATOR_CHECKS)
        if getattr(self, "resume", False) and getattr(self, "checkpoint_dir", None) is None:
            raise ValueError(
                "resume=True continues from the checkpoints in checkpoint_dir, but "
                "checkpoint_dir is None; set checkpoint_dir to the folder of the run to "
                "continue."
            )

    def _to_data(self, X, y=None, *, allow_raw: bool = False) -> EEGArray:
        """Every input of fit/predict/transform passes here (one hook to override)."""
        data = to_eeg_array(
            X,
            y,
            allow_raw=allow_raw,
            window_seconds=getattr(self, "window_seconds", None),
            window_stride_seconds=getattr(self, "window_stride_seconds", None),
        )
        if allow_raw and data.source != "raw":
            warn_unused_window_params(self, data)
        return data

    def _record_shapes(self, data: EEGArray) -> None:
        self.n_chans_ = data.n_chans
        self.n_times_ = data.n_times
        self.n_features_in_ = data.n_chans
        self.sfreq_ = data.sfreq
        self.ch_names_ = list(data.ch_names) if data.ch_names is not None else None

    def _check_predict_data(self, X) -> EEGArray:
        check_is_fitted(self)
        data = self._to_data(X)
        check_channels(self.n_chans_, self.ch_names_, data.n_chans, data.ch_names)
        check_sfreq(self.sfreq_, data.sfreq)
        return data

    def _scale(self, X: np.ndarray):
        return scale_windows(X, self.scaling)

    # ------------------------------------------------------------------ training
    def _device(self) -> torch.device:
        """The training device; under ``torchrun``, this process's GPU (group joined)."""
        return _distributed.setup(resolve_device(self.device))

    def _training_seed(self) -> int | None:
        """Seed of initialisation, split and shuffling for this fit.

        ``random_state`` as an int; when resuming, the seed of the checkpointed run; when
        checkpointing or training data-parallel without ``random_state``, a fresh seed
        (the same on every process), so that resuming and sharding stay consistent.
        """
        seed = seed_from(self.random_state)
        ckpt = getattr(self, "checkpoint_dir", None)
        if ckpt is not None and self.resume:
            info = read_latest(ckpt)
            if info is not None:
                return info["fingerprint"]["seed"]
        if seed is None and (ckpt is not None or _distributed.is_distributed()):
            seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
            if _distributed.is_distributed():  # rank 0's draw for everyone
                own = seed if _distributed.is_main_process() else 0
                seed = int(_distributed.all_reduce_sum([float(own)], self._device())[0])
        return seed

    def _fingerprint(self, n_train: int, n_valid: int, seed: int | None) -> dict[str, Any]:
        """Settings a checkpoint must share with the run that resumes it."""
        return {
            "estimator": type(self).__name__,
            "n_train": int(n_train),
            "n_valid": int(n_valid),
            "n_chans": int(self.n_chans_),
            "n_times": int(self.n_times_),
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "lr": self.lr,
            "lr_schedule": self.lr_schedule,
            "weight_decay": self.weight_decay,
            "gradient_clip_value": self.gradient_clip_value,
            "scaling": self.scaling,
            "architecture": {k: getattr(self, k) for k in ARCH_PARAMS},
            "random_state": int(self.random_state)
            if isinstance(self.random_state, (int, np.integer))
            and not isinstance(self.random_state, bool)
            else None,
            "seed": seed,
            "world_size": _distributed.world_size(),
        }

    def _check_resumable(self, info: dict, fingerprint: dict) -> None:
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
                f"checkpoint_dir={os.fspath(self.checkpoint_dir)!r} holds a checkpoint of a "
                f"run with {then}, but this fit has {now}. Resume with the same data and "
                "settings, or start afresh with resume=False or another checkpoint_dir."
            )

    def _arch_kwargs(self) -> dict[str, Any]:
        kwargs = {name: getattr(self, name) for name in ARCH_PARAMS}
        kwargs["backend"] = self.backend
        if self.checkpointing:
            kwargs["checkpointing"] = True
        return kwargs

    def _split(self, n: int, y: np.ndarray | None, seed: int | None):
        """Train/validation indices for ``validation_split`` (None: all for training)."""
        vs = self.validation_split
        idx = np.arange(n)
        if vs is None:
            return idx, None
        stratify = y is not None
        if isinstance(vs, float):
            cls = StratifiedShuffleSplit if stratify else ShuffleSplit
            splitter = cls(n_splits=1, test_size=vs, random_state=seed)
        elif isinstance(vs, (int, np.integer)):
            cls = StratifiedKFold if stratify else KFold
            splitter = cls(n_splits=int(vs), shuffle=True, random_state=seed)
        else:
            splitter = vs
        train, valid = next(iter(splitter.split(idx.reshape(-1, 1), y)))
        return np.asarray(train), np.asarray(valid)

    def _callbacks(self, n_train: int, has_valid: bool, fingerprint: dict | None = None) -> list:
        n_batches = math.ceil(n_train / self.batch_size)
        callbacks: list = []
        if self.gradient_clip_value is not None:
            callbacks.append(
                ("grad_clip", GradientNormClipping(gradient_clip_value=self.gradient_clip_value))
            )
        total_steps = self.max_epochs * n_batches
        # One-cycle needs a warm-up and an annealing phase of at least one step each; with
        # fewer than MIN_ONECYCLE_STEPS steps in all, the learning rate stays constant.
        if self.lr_schedule == "onecycle" and total_steps >= MIN_ONECYCLE_STEPS:
            schedule = LRScheduler(
                policy=torch.optim.lr_scheduler.OneCycleLR,
                max_lr=self.lr,
                total_steps=total_steps,
                pct_start=max(0.1, 2.0 / total_steps),
                step_every="batch",
                last_epoch=-1,  # a resumed run restores the schedule from its checkpoint
            )
            callbacks.append(("lr_schedule", schedule))
        if self.patience is not None:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss" if has_valid else "train_loss",
                        patience=self.patience,
                        load_best=True,
                    ),
                )
            )
        main = _distributed.is_main_process()
        if self.verbose >= 1 and main and n_batches >= PROGRESS_BAR_MIN_BATCHES:
            callbacks.append(("progress", ProgressBar()))
        for i, cb in enumerate(self.callbacks or []):
            callbacks.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        ckpt = getattr(self, "checkpoint_dir", None)
        if ckpt is not None:
            # after the scheduler and early stopping, whose on_train_begin resets them
            saver = ResumableCheckpoint(
                ckpt,
                every=self.checkpoint_every,
                fingerprint=fingerprint,
                sink=print if self.verbose >= 1 and main else noop,
            )
            if self.resume:
                callbacks.append(("resume", ResumeFromCheckpoint(saver)))
            callbacks.append(("checkpoint", saver))
        return callbacks

    def _make_net(
        self,
        module,
        module_kwargs,
        criterion,
        criterion_kwargs,
        *,
        n_train: int,
        valid_dataset=None,
        device: torch.device,
        seed: int | None = None,
    ):
        net_kwargs = {f"module__{k}": v for k, v in module_kwargs.items()}
        n_valid = 0 if valid_dataset is None else len(valid_dataset)
        fingerprint = self._fingerprint(n_train, n_valid, seed)
        if seed is None:  # unseeded: shuffling from the global generator's next number
            shuffle_seed = int(torch.randint(0, 2**31 - 1, ()).item())
        else:
            shuffle_seed = seed
        net_kwargs.update({f"criterion__{k}": v for k, v in criterion_kwargs.items()})
        return self._net_class(
            module,
            criterion=criterion,
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            optimizer__param_groups=[(p, {"weight_decay": 0.0}) for p in NO_WEIGHT_DECAY],
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None if valid_dataset is None else predefined_split(valid_dataset),
            callbacks=self._callbacks(n_train, valid_dataset is not None, fingerprint),
            device=str(device),
            verbose=self.verbose if _distributed.is_main_process() else 0,
            shuffle_seed=shuffle_seed,
            iterator_train__shuffle=True,
            iterator_train__num_workers=self.num_workers,
            iterator_train__pin_memory=device.type == "cuda",
            iterator_valid__num_workers=self.num_workers,
            precision=self.precision,
            **net_kwargs,
        )

    def _fit_net(self, net, X_train, y_train, seed: int | None):
        """Initialise and train ``net`` under ``seed`` without touching global RNG state.

        With ``checkpoint_dir``: resume from its newest checkpoint when ``resume=True``,
        checkpoint on SIGINT/SIGTERM and stop, and say which checkpoint is kept when the
        loss becomes non-finite.
        """
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        ckpt = getattr(self, "checkpoint_dir", None)
        epochs = self.max_epochs
        if ckpt is not None:
            info = read_latest(ckpt)
            if info is not None and self.resume:
                self._check_resumable(info, dict(net.callbacks)["checkpoint"].fingerprint)
                epochs = 0 if info["finished"] else max(0, epochs - completed_epochs(info))
            elif info is not None and _distributed.is_main_process():
                warnings.warn(
                    f"checkpoint_dir={os.fspath(ckpt)!r} holds a checkpoint of an earlier run "
                    f"(epoch {info['epoch']}); this fit starts afresh and replaces it. Pass "
                    "resume=True to continue that run instead.",
                    UserWarning,
                    stacklevel=3,
                )
        try:
            with (
                forked_global_rng(devices, enabled=seed is not None or ckpt is not None),
                deferred_interrupts(net, enabled=ckpt is not None),
            ):
                if seed is not None:
                    torch.manual_seed(seed)
                net.initialize()
                self._after_initialize(net)
                net.partial_fit(X_train, y_train, epochs=epochs)
        except TrainingInterrupted as stop:
            redeliver(stop)
        except NonFiniteLossError as err:
            raise NonFiniteLossError(f"{err} {self._checkpoint_note()}".strip()) from None
        return net

    def _checkpoint_note(self) -> str:
        ckpt = getattr(self, "checkpoint_dir", None)
        if ckpt is None:
            return "(Set checkpoint_dir to keep checkpoints of long runs.)"
        info = read_latest(ckpt)
        if info is None:
            return f"No checkpoint had been written to {os.fspath(ckpt)!r} yet."
        return (
            f"The last checkpoint written before it (epoch {info['epoch']}) is kept in "
            f"{info['path']}; resuming with the same settings would repeat the same steps, "
            "so change lr or scaling and train afresh."
        )

    def _after_initialize(self, net) -> None:
        """Hook between initialisation and training (e.g. loading pretrained weights)."""

    # ------------------------------------------------------------------ fitted state
    @property
    def module_(self) -> torch.nn.Module:
        """The trained PyTorch module (the skorch net's ``module_``)."""
        check_is_fitted(self, "net_")
        return self.net_.module_

    @property
    def history_(self):
        """skorch History: per-epoch ``train_loss`` (and ``valid_loss``), durations, ..."""
        check_is_fitted(self, "net_")
        return self.net_.history

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")

    # ------------------------------------------------------------------ inference
    def _inference(self, X: np.ndarray, fn, batch_size: int | None = None) -> np.ndarray:
        """``fn(module, batch)`` over ``X`` in batches, without autograd; numpy float32."""
        module = self.module_
        module.eval()
        device = torch.device(self.net_.device)
        bs = batch_size or self.batch_size
        outs = []
        with torch.inference_mode(), self.net_.autocast():
            for start in range(0, len(X), bs):
                xb = torch.as_tensor(X[start : start + bs], device=device)
                outs.append(fn(module, xb).float().cpu().numpy())
        return np.concatenate(outs, axis=0)
