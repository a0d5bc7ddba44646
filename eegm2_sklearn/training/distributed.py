"""Data parallelism with ``torchrun`` and PyTorch's DistributedDataParallel.

The estimators need no option for it: launched by ``torchrun`` (which sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``), ``fit`` joins the process group (NCCL on GPUs, Gloo on
CPUs), puts each process on its own GPU (``cuda:LOCAL_RANK``), and trains through
:class:`torch.nn.parallel.DistributedDataParallel`, which averages the gradients. Each
process draws its share of every global batch (``batch_size`` is the global batch size),
only rank 0 prints, writes checkpoints and CSV logs, and every process ends with the same
weights.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist


def launched_world_size() -> int:
    """Number of processes ``torchrun`` started (1 outside ``torchrun``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without data parallelism)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes training together (1 without data parallelism)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on the process that logs and saves (rank 0)."""
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join ``torchrun``'s process group if there is one; return this process's device.

    Outside ``torchrun`` (or with one process) ``device`` is returned unchanged. Under
    ``torchrun`` a CUDA device without an index becomes ``cuda:LOCAL_RANK``, the process
    group is initialised once (NCCL for CUDA, Gloo for CPU) unless the caller already did.

    Parameters
    ----------
    device : torch.device
        The device from the estimator's ``device`` parameter.

    Returns
    -------
    device : torch.device
    """
    if launched_world_size() <= 1 and not is_distributed():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return device


def barrier() -> None:
    """Wait for every process (no-op without data parallelism)."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: list[float], device) -> list[float]:
    """Sum ``values`` over the processes (returned unchanged without data parallelism)."""
    if not is_distributed():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()
