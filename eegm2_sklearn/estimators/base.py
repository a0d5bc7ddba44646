"""What EEGM2Pretrainer and EEGM2Classifier share: parameter checks, data preparation,
and the calls into the training runtime (:mod:`eegm2_sklearn.training`)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
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

from ..data import EEGArray, scale_windows, to_eeg_array
from ..data.checks import check_channels, check_sfreq
from ..ops import resolve_backend
from ..training import (
    batched_inference,
    check_checkpoint_dir,
    distributed,
    fit_net,
    make_net,
    resolve_device,
    training_callbacks,
    training_seed,
)
from .params import ARCH_PARAMS, FINGERPRINT_PARAMS, validate_params


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


def plain_values(value: Any) -> Any:
    """``value`` in JSON's types, as a checkpoint's ``latest.json`` will hold it.

    Mappings get str keys, sequences and arrays become lists, NumPy scalars Python ones,
    anything else its ``repr``; so a fingerprint compares equal to its saved copy.

    Examples
    --------
    >>> plain_values({"class_weight": {0: np.float64(2.0)}, "classes": np.array([0, 1])})
    {'class_weight': {'0': 2.0}, 'classes': [0, 1]}
    """
    if isinstance(value, Mapping):
        return {str(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain_values(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return repr(value)


def check_stratified_split(vs, y: np.ndarray, classes=None) -> None:
    """Raise if a stratified ``validation_split`` cannot give each class both sides.

    ``y`` holds the (encoded) labels; ``classes`` names them in the message.
    """
    labels, counts = np.unique(y, return_counts=True)
    n, k = len(y), len(labels)

    def name(i):
        value = labels[i] if classes is None else np.asarray(classes)[labels[i]]
        return repr(np.asarray(value).tolist())

    if isinstance(vs, float):
        n_valid = int(np.ceil(vs * n))
        if 2 * k > n:
            fix = f"{n} windows are too few for {k} classes: set validation_split=None"
        elif n_valid < k:
            fix = (
                f"set validation_split to at least {np.ceil(k / n * 100) / 100:g}, or "
                "validation_split=None to train without validation"
            )
        else:
            fix = (
                f"set validation_split to at most {np.floor((n - k) / n * 100) / 100:g}, or "
                "validation_split=None to train without validation"
            )
        if n_valid < k or n - n_valid < k:
            side = "holds out" if n_valid < k else "leaves for training"
            raise ValueError(
                f"validation_split={vs:g} {side} {min(n_valid, n - n_valid)} of the {n} "
                f"windows, but y has {k} classes and a stratified split needs at least one "
                f"window of each on both sides: {fix}."
            )
        least = int(np.argmin(counts))
        if counts[least] < 2:  # each class on both sides
            raise ValueError(
                f"validation_split={vs:g} cannot stratify: class {name(least)} has 1 window "
                f"(y has {n} windows of {k} classes), which cannot be on both sides. Add "
                "windows of that class, or set validation_split=None."
            )
    elif isinstance(vs, (int, np.integer)) and counts.max() < vs:  # scikit-learn's rule
        raise ValueError(
            f"validation_split={vs} folds need at least {vs} windows of some class, but the "
            f"largest class, {name(int(np.argmax(counts)))}, has {counts.max()} (y has {n} "
            f"windows of {k} classes). Use at most {counts.max()} folds, a fraction such "
            "as 0.2, or validation_split=None."
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.random_state is None
        return tags

    # ------------------------------------------------------------------ data
    def _validate_params(self) -> None:
        validate_params(self)
        if getattr(self, "resume", False) and getattr(self, "checkpoint_dir", None) is None:
            raise ValueError(
                "resume=True continues from the checkpoints in checkpoint_dir, but "
                "checkpoint_dir is None; set checkpoint_dir to the folder of the run to "
                "continue."
            )
        if getattr(self, "checkpoint_dir", None) is not None and distributed.is_main_process():
            check_checkpoint_dir(self.checkpoint_dir)

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

    def _split(self, n: int, y: np.ndarray | None, seed: int | None):
        """Train/validation indices for ``validation_split`` (None: all for training)."""
        vs = self.validation_split
        idx = np.arange(n)
        if vs is None:
            return idx, None
        stratify = y is not None
        if stratify:
            check_stratified_split(vs, y, getattr(self, "classes_", None))
        if isinstance(vs, float):
            cls = StratifiedShuffleSplit if stratify else ShuffleSplit
            splitter = cls(n_splits=1, test_size=vs, random_state=seed)
        elif isinstance(vs, (int, np.integer)):
            cls = StratifiedKFold if stratify else KFold
            splitter = cls(n_splits=int(vs), shuffle=True, random_state=seed)
        else:
            splitter = vs
        try:
            train, valid = next(iter(splitter.split(idx.reshape(-1, 1), y)))
        except ValueError as err:
            raise ValueError(
                f"validation_split={vs!r} cannot split the {n} training windows ({err}). "
                "Change validation_split, or set it to None to train without validation."
            ) from err
        return np.asarray(train), np.asarray(valid)

    # ------------------------------------------------------------------ training
    def _device(self) -> torch.device:
        """The training device; under ``torchrun``, this process's GPU (group joined)."""
        return distributed.setup(resolve_device(self.device))

    def _training_seed(self) -> int | None:
        """Seed of initialisation, split and shuffling for this fit (see
        :func:`eegm2_sklearn.training.training_seed`)."""
        return training_seed(
            seed_from(self.random_state),
            getattr(self, "checkpoint_dir", None),
            self.resume,
            self._device,
        )

    def _fingerprint(self, n_train: int, n_valid: int, seed: int | None) -> dict[str, Any]:
        """Settings a checkpoint must share with the run that resumes it."""
        rs = self.random_state
        int_seed = isinstance(rs, (int, np.integer)) and not isinstance(rs, bool)
        own = self.get_params(deep=False)
        fingerprint = {
            "estimator": type(self).__name__,
            "n_train": int(n_train),
            "n_valid": int(n_valid),
            "n_chans": int(self.n_chans_),
            "n_times": int(self.n_times_),
            **{name: own[name] for name in FINGERPRINT_PARAMS if name in own},
            "architecture": {k: getattr(self, k) for k in ARCH_PARAMS},
            "random_state": int(rs) if int_seed else None,
            "seed": seed,
            "world_size": distributed.world_size(),
            **self._fingerprint_extra(),
        }
        return plain_values(fingerprint)

    def _fingerprint_extra(self) -> dict[str, Any]:
        """Settings of the fitted data a subclass adds to the fingerprint."""
        return {}

    def _arch_kwargs(self) -> dict[str, Any]:
        kwargs = {name: getattr(self, name) for name in ARCH_PARAMS}
        kwargs["backend"] = self.backend
        if self.checkpointing:
            kwargs["checkpointing"] = self.checkpointing
        return kwargs

    def _cuda_graphs(self, device: torch.device) -> bool:
        """``cuda_graphs="auto"``: on with mamba-ssm's scan on CUDA; off with the PyTorch
        scan, whose graph-safe (quadratic) form costs memory on long windows, and off under
        ``compile=True``, where recording the compiled passes was not measured."""
        if self.cuda_graphs != "auto":
            return bool(self.cuda_graphs)
        if self.compile:
            return False
        return device.type == "cuda" and resolve_backend(self.backend, device) == "mamba_ssm"

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
        net_class: type | None = None,
        net_options: dict | None = None,
    ):
        n_valid = 0 if valid_dataset is None else len(valid_dataset)
        callbacks = training_callbacks(
            n_train=n_train,
            has_valid=valid_dataset is not None,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            lr=self.lr,
            lr_schedule=self.lr_schedule,
            gradient_clip_value=self.gradient_clip_value,
            patience=self.patience,
            verbose=self.verbose,
            callbacks=self.callbacks,
            checkpoint_dir=getattr(self, "checkpoint_dir", None),
            checkpoint_every=self.checkpoint_every,
            resume=self.resume,
            fingerprint=self._fingerprint(n_train, n_valid, seed),
        )
        return make_net(
            net_class or self._net_class,
            module,
            module_kwargs,
            criterion,
            criterion_kwargs,
            callbacks=callbacks,
            device=device,
            seed=seed,
            lr=self.lr,
            weight_decay=self.weight_decay,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            precision=self.precision,
            verbose=self.verbose,
            valid_dataset=valid_dataset,
            net_options={
                **(net_options or {}),
                "cuda_graphs": self._cuda_graphs(device),
                "compile_network": bool(self.compile),
            },
        )

    def _fit_net(self, net, X_train, y_train, seed: int | None):
        return fit_net(
            net,
            X_train,
            y_train,
            seed=seed,
            max_epochs=self.max_epochs,
            checkpoint_dir=getattr(self, "checkpoint_dir", None),
            resume=self.resume,
            after_initialize=self._after_initialize,
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

    def _inference(self, X: np.ndarray, fn, batch_size: int | None = None) -> np.ndarray:
        """``fn(module, batch)`` over ``X`` in batches, without autograd; numpy float32."""
        check_is_fitted(self, "net_")
        return batched_inference(self.net_, X, fn, batch_size or self.batch_size)
