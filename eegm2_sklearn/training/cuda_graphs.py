"""Training forward and backward passes replayed as CUDA graphs.

At short windows a training step of EEGM2 is a few hundred small kernels (the Mamba-2
layers' projections, convolutions, scans and norms, in both directions), and launching them
one by one from Python takes longer than the GPU needs to run them. A CUDA graph records the
kernels of one forward and one backward pass once and launches them again as one unit, so
the GPU no longer waits for Python between kernels.

:class:`TrainingGraphs` holds one such pair for the batches of one shape (all full training
batches); batches of another shape (the last, smaller one) run eagerly. The loss, the
gradient clipping and the optimiser step stay eager and unchanged. What a graph assumes,
and how it is checked:

- inputs of the recorded shape, dtype and device (checked on every call; other batches
  run eagerly);
- the same parameter tensors with the same ``requires_grad`` (checked on every call; a
  changed set, e.g. after a new module, is recorded anew);
- no host synchronisation inside the module (the pure-PyTorch scan switches to its
  synchronisation-free form while a graph is recorded, see ``ops/ssd_torch.py``);
- gradients not accumulated across steps into tensors the graph owns (skorch sets them to
  ``None`` before each step; where one is still the graph's buffer it is copied out).

Recording can fail for reasons outside this package (a kernel that synchronises, an old
driver); training then continues eagerly with a warning.

Why not :func:`torch.cuda.make_graphed_callables`, which records the same pair: given a
module, it replaces the module's ``forward`` in place (the fitted network would keep the
graphs, and recording again would wrap them), its outputs and gradients are the graphs'
own buffers (overwritten by the next replay while skorch still holds the previous
output), and a failed recording is not undone.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

__all__ = ["GraphedPasses", "TrainingGraphs"]


def _signature(x: Tensor) -> tuple:
    return tuple(x.shape), x.dtype, x.device


def _parameters_key(params: list[nn.Parameter]) -> tuple:
    return tuple((p.data_ptr(), p.requires_grad) for p in params)


class _Replay(torch.autograd.Function):
    """Autograd node whose forward and backward passes are the recorded graphs."""

    @staticmethod
    def forward(ctx, passes: GraphedPasses, x: Tensor, *params: Tensor) -> Tensor:
        ctx.passes = passes
        ctx.params = params
        passes.static_input.copy_(x)
        with torch.cuda.device(passes.device):  # replays run on the current device's stream
            passes.forward_graph.replay()
        # a copy: the next replay overwrites the static output, which skorch may still hold
        return passes.static_output.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        passes = ctx.passes
        passes.static_grad_output.copy_(grad_output)
        with torch.cuda.device(passes.device):
            passes.backward_graph.replay()
        grads = []
        for p, g in zip(ctx.params, passes.static_grads, strict=True):
            # a .grad that still is the graph's buffer would be added to itself
            if g is not None and p.grad is not None and p.grad.data_ptr() == g.data_ptr():
                g = g.clone()
            grads.append(g)
        return (None, None, *grads)


class GraphedPasses:
    """The forward and backward pass of ``module`` on inputs of one shape, as CUDA graphs.

    Parameters
    ----------
    module : torch.nn.Module
        In training mode, on a CUDA device, returning one tensor. Randomness inside it
        (dropout) uses CUDA's graph-safe generator; host synchronisation is not allowed.
    sample : Tensor, shape (batch, ...)
        An input of the shape, dtype and device of the batches to replay.
    autocast_dtype : torch.dtype or None
        Run the recorded forward pass under :func:`torch.autocast` with this dtype.
    warmup : int
        Eager passes on a side stream before recording (kernel autotuning, lazy
        initialisation).

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.training import GraphedPasses
    >>> if torch.cuda.is_available():  # doctest: +SKIP
    ...     net = torch.nn.Linear(8, 2).cuda()
    ...     passes = GraphedPasses(net, torch.randn(4, 8, device="cuda"))
    ...     passes(torch.randn(4, 8, device="cuda")).sum().backward()
    """

    def __init__(
        self,
        module: nn.Module,
        sample: Tensor,
        autocast_dtype: torch.dtype | None = None,
        warmup: int = 3,
    ) -> None:
        self.module = module
        self.autocast_dtype = autocast_dtype
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.signature = _signature(sample)
        self._weights = _parameters_key(list(module.parameters()))
        self.static_input = sample.detach().clone()
        self.device = sample.device
        self.forward_graph = torch.cuda.CUDAGraph()
        self.backward_graph = torch.cuda.CUDAGraph()
        with torch.cuda.device(self.device):  # "cuda:1" need not be the current device
            self._record(warmup)

    def _autocast(self):
        # autocast's weight-cast cache must be off while recording (casts are part of it)
        return torch.autocast(
            "cuda", dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None, cache_enabled=False,
        )  # fmt: skip

    def _grads(self, out: Tensor, grad_out: Tensor):
        return torch.autograd.grad(out, self.params, grad_out, allow_unused=True)

    def _record(self, warmup: int) -> None:
        # 1. eager passes on a side stream: autotuning and lazy initialisation happen here,
        #    outside the recording
        torch.cuda.synchronize()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                with self._autocast():
                    out = self.module(self.static_input)
                self._grads(out, torch.ones_like(out))
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        del out
        # 2. the forward pass, then 3. the backward pass, in one memory pool, in the order
        #    in which they are replayed. "thread_local": a DataLoader's pinning thread may
        #    use CUDA while this thread records.
        pool = torch.cuda.graph_pool_handle()
        generator = torch.cuda.default_generators[torch.cuda.current_device()]  # self.device
        before = generator.clone_state()
        try:
            with torch.cuda.graph(self.forward_graph, pool=pool, capture_error_mode="thread_local"):
                with self._autocast():
                    self.static_output = self.module(self.static_input)
            self.static_grad_output = torch.zeros_like(self.static_output)
            with torch.cuda.graph(
                self.backward_graph, pool=pool, capture_error_mode="thread_local"
            ):
                self.static_grads = self._grads(self.static_output, self.static_grad_output)
        except Exception:
            # a failed recording leaves the CUDA generator in recording mode: give it back
            # its state from before, so that random numbers can be drawn again
            generator.graphsafe_set_state(before)
            raise

    def fits_shape(self, x: Tensor) -> bool:
        """Whether ``x`` has the shape, dtype and device the graphs were recorded for."""
        return _signature(x) == self.signature

    def matches(self, x: Tensor) -> bool:
        """Whether ``x`` and the module's parameters are those the graphs were recorded for."""
        return self.fits_shape(x) and (
            _parameters_key(list(self.module.parameters())) == self._weights
        )

    def __call__(self, x: Tensor) -> Tensor:
        """Forward pass by replay; its backward pass replays the recorded one."""
        return _Replay.apply(self, x, *self.params)


class TrainingGraphs:
    """Training passes of one module replayed as CUDA graphs for the batches of one shape.

    The first training batch of a ``fit`` is recorded (its shape is the full per-process
    batch); later batches of that shape are replayed, others run eagerly.

    Parameters
    ----------
    autocast_dtype : torch.dtype or None
        The forward pass's autocast dtype (``torch.bfloat16`` for ``precision="bf16"``).

    Attributes
    ----------
    replays : int
        Forward passes run by replay so far.
    failed : str or None
        Why recording failed (then every pass runs eagerly).
    """

    def __init__(self, autocast_dtype: torch.dtype | None = None) -> None:
        self.autocast_dtype = autocast_dtype
        self.passes: GraphedPasses | None = None
        self.replays = 0
        self.failed: str | None = None

    def __call__(self, module: nn.Module, x: Tensor) -> Tensor | None:
        """The training forward pass of ``module`` on ``x`` by replay, or ``None``.

        ``None`` means: run this batch eagerly (another shape than the recorded one, or
        recording failed).
        """
        if self.failed is not None:
            return None
        held = self.passes
        if held is not None and held.module is module and not held.fits_shape(x):
            return None  # another shape than the recorded one (the last, smaller batch)
        if held is None or held.module is not module or not held.matches(x):
            self.passes = None  # new parameters (or a new module): record anew
            try:
                self.passes = GraphedPasses(module, x, self.autocast_dtype)
            except Exception as err:  # a synchronising kernel, an old driver, ...
                self.failed = f"{type(err).__name__}: {err}"
                warnings.warn(
                    f"Recording the training step as a CUDA graph failed ({self.failed}); "
                    "training continues without CUDA graphs. Set cuda_graphs=False to run "
                    "without them from the start.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return None
        self.replays += 1
        return self.passes(x)
