"""skorch nets behind the estimators: the training loop is skorch's.

Each training step is a small method of skorch's :class:`~skorch.NeuralNet` (``infer``,
``get_loss``, ``train_step_single``, ...), so a subclass can change one of them. What is
added here:

- ``precision="bf16"``: the forward pass runs under :func:`torch.autocast`; losses are
  computed in float32 (the temporal-spectral loss casts itself, cross-entropy is on
  autocast's float32 list).
- :class:`ReconstructionNet`: the target of the loss is the input batch itself;
  :class:`MaskedReconstructionNet` hides random spans of time in the input first.
- ``_TrainingMixin``: windows shuffled per epoch from ``(seed, epoch)`` (resumable, and
  shared out between processes under ``torchrun``), the forward pass of training through
  :class:`~torch.nn.parallel.DistributedDataParallel` when there are several processes, a
  check that stops training on a non-finite loss before the bad update, the agreement
  of all processes on stopping after a SIGINT/SIGTERM, with ``cuda_graphs=True`` the
  training passes of full batches replayed as CUDA graphs (:mod:`.cuda_graphs`), and with
  ``compile_network=True`` the passes of ``fit`` run under :func:`torch.compile`
  (:mod:`.compiling`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from ..models import masked_loss, span_mask
from . import distributed
from .compiling import CompiledNetwork
from .cuda_graphs import TrainingGraphs
from .sampler import EpochShuffleSampler


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training stopped before that update.

    The message names the epoch and batch and what to change. With ``checkpoint_dir``
    the last checkpoint written before the bad batch is kept.
    """


class _PrecisionMixin:
    """Run ``infer`` under bf16 autocast when ``precision == "bf16"``."""

    def __init__(self, *args, precision: str = "32", **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The forward pass's autocast dtype (``None``: no autocast)."""
        return torch.bfloat16 if self.precision == "bf16" else None

    def autocast(self):
        """Context manager of the forward pass (autocast for bf16, nothing for 32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        device_type = torch.device(self.device).type
        return torch.autocast(device_type=device_type, dtype=self.autocast_dtype)

    def infer(self, x, **fit_params):
        with self.autocast():
            return super().infer(x, **fit_params)


class _TrainingMixin:
    """Resumable shuffling, data parallelism, non-finite loss and interrupt handling."""

    def __init__(
        self,
        *args,
        shuffle_seed: int = 0,
        cuda_graphs: bool = False,
        compile_network: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.shuffle_seed = shuffle_seed
        self.cuda_graphs = cuda_graphs
        # not skorch's own ``compile``: that one replaces module_ by the compiled module,
        # whose state_dict keys and type differ from the network's
        self.compile_network = compile_network
        self.interrupt_signal_ = None  # set by the SIGINT/SIGTERM handler during fit
        self.train_sampler_ = None
        self.train_batch_size_ = None
        self._stop_agreed = False

    # ------------------------------------------------------------------ data
    def get_iterator(self, dataset, training=False):
        """Training: this process's share of each global batch, in a resumable order."""
        kwargs = dict(self.get_params_for("iterator_valid" if not training else "iterator_train"))
        # loaders draw their worker seeds from their own generator, never from the global
        # one (which then serves the model only, so that resuming restores it exactly)
        kwargs.setdefault("generator", torch.Generator().manual_seed(self.shuffle_seed))
        batch_size = kwargs.pop("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = len(dataset)
        if not training:
            return self.iterator_valid(dataset, batch_size=batch_size, **kwargs)
        shuffle = bool(kwargs.pop("shuffle", False))
        world = distributed.world_size()
        if batch_size % world:
            raise ValueError(
                f"batch_size={batch_size} is the global batch, shared by {world} processes; "
                f"it must be a multiple of {world}. Use e.g. batch_size="
                f"{max(world, batch_size // world * world)}."
            )
        self.train_sampler_ = EpochShuffleSampler(
            len(dataset), self.shuffle_seed, shuffle, distributed.rank(), world
        )
        self.train_batch_size_ = batch_size // world
        return self.iterator_train(
            dataset, batch_size=self.train_batch_size_, sampler=self.train_sampler_, **kwargs
        )

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        if self.train_sampler_ is not None:
            self.train_sampler_.set_epoch(len(self.history) - 1)

    # ------------------------------------------------------------------ data parallelism
    def _ddp_module(self):
        """The module wrapped in DistributedDataParallel (None with one process)."""
        if not distributed.is_distributed():
            return None
        ddp = self.__dict__.get("_ddp")
        if ddp is None or ddp.module is not self.module_:
            from torch.nn.parallel import DistributedDataParallel

            device = torch.device(self.device)
            ddp = DistributedDataParallel(
                self.module_,
                device_ids=[device.index] if device.type == "cuda" else None,
                broadcast_buffers=False,
                # the same parameters take part in every step; some never do (e.g. the
                # decoder under a pooling head), which a static graph allows
                static_graph=True,
            )
            object.__setattr__(self, "_ddp", ddp)  # not a skorch-registered module
        return ddp

    # ------------------------------------------------------------------ CUDA graphs
    def _graphs(self):
        """The training passes' CUDA graphs, or None where they do not apply.

        They apply with ``cuda_graphs=True`` to training passes with gradients on a CUDA
        device in one process (several processes go through DistributedDataParallel).
        """
        if not (self.cuda_graphs and self.module_.training and torch.is_grad_enabled()):
            return None
        if torch.device(self.device).type != "cuda" or distributed.is_distributed():
            return None
        graphs = self.__dict__.get("_training_graphs")
        if graphs is None:
            graphs = TrainingGraphs(autocast_dtype=self.autocast_dtype)
            object.__setattr__(self, "_training_graphs", graphs)  # not a skorch attribute
        return graphs

    # ------------------------------------------------------------------ torch.compile
    def _network(self, module: torch.nn.Module) -> torch.nn.Module:
        """What a pass calls: ``module``, or during ``fit`` with ``compile_network=True``
        its compiled wrapper (one per module: the DDP wrapper in training, the module
        itself in validation)."""
        compiled = self.__dict__.get("_compiled")  # a dict from on_train_begin to its end
        if compiled is None:
            return module
        held = compiled.get(id(module))
        if held is None or held[0] is not module:
            held = compiled[id(module)] = (module, CompiledNetwork(module))
        return held[1]

    def infer(self, x, **fit_params):
        ddp = self._ddp_module() if self.module_.training else None
        network = self._network(self.module_ if ddp is None else ddp)
        graphs = None if ddp is not None or fit_params else self._graphs()
        if graphs is not None:
            x = to_tensor(x, device=self.device)
            out = graphs(network, x)
            if out is not None:
                return out
            # another batch shape, or recording failed: this pass runs eagerly
        if network is self.module_:
            return super().infer(x, **fit_params)
        x = to_tensor(x, device=self.device)
        with self.autocast():
            return network(x, **fit_params)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        object.__setattr__(self, "_compiled", {} if self.compile_network else None)

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        # after fit, predictions run the module itself; the graphs' memory is freed
        for name in ("_ddp", "_training_graphs", "_compiled"):
            object.__setattr__(self, name, None)

    def __getstate__(self):
        state = super().__getstate__()
        for name in ("_ddp", "_training_graphs", "_compiled"):
            state.pop(name, None)
        return state

    # ------------------------------------------------------------------ one step
    def train_step_single(self, batch, **fit_params):
        """skorch's step, with the loss checked (and averaged over processes) first."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        logged = self._check_loss(loss, len(Xi))
        loss.backward()
        return {"loss": logged, "y_pred": y_pred}

    def _check_loss(self, loss: torch.Tensor, n: int) -> torch.Tensor:
        value = float(loss.detach())
        finite = bool(torch.isfinite(torch.tensor(value)))
        stop = self.interrupt_signal_ is not None
        logged = loss
        if distributed.is_distributed():
            total, count, n_bad, n_stop = distributed.all_reduce_sum(
                [value * n if finite else 0.0, float(n), float(not finite), float(stop)],
                self.device,
            )
            finite, stop = n_bad == 0, n_stop > 0
            logged = torch.tensor(total / count)  # the loss of the global batch
        self._stop_agreed = stop
        if not finite:
            raise NonFiniteLossError(self._non_finite_message(value))
        return logged

    def _non_finite_message(self, value: float) -> str:
        epoch = len(self.history)
        batch = sum("train_loss" in b for b in self.history[-1]["batches"]) + 1
        per_epoch = len(self.train_sampler_) // self.train_batch_size_ if self.train_sampler_ else 0
        lr = self.optimizer_.param_groups[0]["lr"]
        return (
            f"The training loss is {value} at epoch {epoch}, batch {batch} (of about "
            f"{max(per_epoch, batch)}); training stopped before this batch's update. Lower "
            f"the learning rate (lr={self.lr:g}, {lr:.3g} at this step), keep gradient "
            "clipping on (gradient_clip_value), or check the input: scaling='robust' or "
            "'percentile95' puts every window on one scale; with scaling=None data in "
            "volts or with saturated channels can give extreme values."
        )

    # ------------------------------------------------------------------ stopping
    def stop_agreed(self) -> bool:
        """After a step: did any process receive SIGINT/SIGTERM (all agree)?"""
        if distributed.is_distributed():
            return self._stop_agreed
        return self.interrupt_signal_ is not None

    def agree_stop(self) -> bool:
        """At an epoch end: did any process receive SIGINT/SIGTERM (collective)?"""
        stop = self.interrupt_signal_ is not None
        if distributed.is_distributed():
            stop = distributed.all_reduce_sum([float(stop)], self.device)[0] > 0
        return stop


class ReconstructionNet(_TrainingMixin, _PrecisionMixin, NeuralNet):
    """skorch net for self-supervised reconstruction: ``loss = criterion(module(X), X)``."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, to_tensor(X, device=self.device))


class MaskedReconstructionNet(ReconstructionNet):
    """Reconstruction of windows whose random spans of time are hidden (set to zero).

    The masks of a training batch are a function of ``(shuffle_seed, epoch, batch)``
    alone, drawn for the whole global batch, of which each process takes the rows of its
    windows: like the window order (:class:`EpochShuffleSampler`), they are the same after
    a resume and with any number of processes. Validation batches get the same masks
    every epoch, so their losses compare across epochs.

    Parameters
    ----------
    mask_ratio : float
        Fraction of spans hidden per window.
    mask_span : int
        Span length in samples.
    mask_loss : {"all", "masked"}
        Loss over the whole window, or over the hidden spans only.
    *args, **kwargs
        As :class:`skorch.NeuralNet`.
    """

    def __init__(self, *args, mask_ratio=0.5, mask_span=64, mask_loss="all", **kwargs):
        super().__init__(*args, **kwargs)
        self.mask_ratio = mask_ratio
        self.mask_span = mask_span
        self.mask_loss = mask_loss

    def _hide(self, batch, key: tuple[int, ...], share: bool):
        """``(X, X with spans hidden, mask)``; masks from a generator seeded by ``key``."""
        Xi, _ = unpack_data(batch)
        X = to_tensor(Xi, device=self.device)
        world = distributed.world_size() if share else 1
        state = np.random.SeedSequence([self.shuffle_seed % 2**63, *key]).generate_state(2)
        generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        # process r holds rows r, r + world, ... of the global batch (EpochShuffleSampler)
        full = span_mask(len(X) * world, X.shape[-1], self.mask_ratio, self.mask_span,
                         generator=generator)  # fmt: skip
        rank = distributed.rank() if share else 0
        mask = full[rank::world].to(X.device)
        return X, X * (1 - mask).to(X.dtype), mask

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        epoch = len(self.history) - 1
        step = sum("train_loss" in b for b in self.history[-1]["batches"])
        X, hidden, mask = self._hide(batch, (epoch, step, 1), share=True)
        y_pred = self.infer(hidden, **fit_params)
        loss = masked_loss(self.criterion_, y_pred, X, mask, self.mask_loss)
        logged = self._check_loss(loss, len(X))
        loss.backward()
        return {"loss": logged, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        step = sum("valid_loss" in b for b in self.history[-1]["batches"])
        X, hidden, mask = self._hide(batch, (step, 2), share=False)
        with torch.no_grad():
            y_pred = self.infer(hidden, **fit_params)
            loss = masked_loss(self.criterion_, y_pred, X, mask, self.mask_loss)
        return {"loss": loss, "y_pred": y_pred}


class ClassificationNet(_TrainingMixin, _PrecisionMixin, NeuralNet):
    """skorch net for classification with integer-encoded targets and logits output."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device).long()
        return self.criterion_(y_pred.float(), y_true)


#: Mamba-2 parameters that mamba-ssm excludes from weight decay.
NO_WEIGHT_DECAY = ("*A_log", "*.D", "*dt_bias")


def make_net(
    net_class: type,
    module,
    module_kwargs: dict,
    criterion,
    criterion_kwargs: dict,
    *,
    callbacks: list,
    device: torch.device,
    seed: int | None,
    lr: float,
    weight_decay: float,
    max_epochs: int,
    batch_size: int,
    num_workers: int,
    precision: str,
    verbose: int,
    valid_dataset=None,
    net_options: dict | None = None,
):
    """A skorch net of ``net_class``: AdamW (no decay on ``A_log``, ``D``, ``dt_bias``),
    seeded per-epoch shuffling and the validation set given (None: no validation);
    ``net_options`` are further keyword arguments of ``net_class``."""
    from skorch.helper import predefined_split

    net_kwargs = {f"module__{k}": v for k, v in module_kwargs.items()}
    if seed is None:  # unseeded: shuffling from the global generator's next number
        shuffle_seed = int(torch.randint(0, 2**31 - 1, ()).item())
    else:
        shuffle_seed = seed
    net_kwargs.update({f"criterion__{k}": v for k, v in criterion_kwargs.items()})
    return net_class(
        module,
        criterion=criterion,
        optimizer=torch.optim.AdamW,
        optimizer__weight_decay=weight_decay,
        optimizer__param_groups=[(p, {"weight_decay": 0.0}) for p in NO_WEIGHT_DECAY],
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        train_split=None if valid_dataset is None else predefined_split(valid_dataset),
        callbacks=callbacks,
        device=str(device),
        verbose=verbose if distributed.is_main_process() else 0,
        shuffle_seed=shuffle_seed,
        iterator_train__shuffle=True,
        iterator_train__num_workers=num_workers,
        iterator_train__pin_memory=device.type == "cuda",
        iterator_valid__num_workers=num_workers,
        precision=precision,
        **(net_options or {}),
        **net_kwargs,
    )
