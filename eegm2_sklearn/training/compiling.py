"""``torch.compile`` of a network's passes, with room for each of its Mamba-2 blocks.

mamba-ssm's Triton scan is opaque to the compiler (:mod:`eegm2_sklearn.ops.scan`), so
each Mamba-2 block's forward pass is compiled as frames of its own around the scan. One
Python function then serves blocks of several widths and lengths, and each one is a new
compilation of the same code: the U-Net needs more of them than Dynamo's default limit
of 8 allows, and beyond it the remaining blocks would silently run uncompiled.
"""

from __future__ import annotations

import torch
from torch import nn

#: Compilations allowed per function while a compiled network runs: one per block shape
#: (encoder, bottleneck, decoder), for training and evaluation, full and last batch.
RECOMPILE_LIMIT = 64


class CompiledNetwork(nn.Module):
    """``module`` under :func:`torch.compile`, sharing its parameters.

    The module itself stays uncompiled (its ``state_dict`` keys and type are unchanged);
    this wrapper is what the training loop calls.

    Parameters
    ----------
    module : torch.nn.Module
        The network (or its DistributedDataParallel wrapper).
    **options
        Passed to :func:`torch.compile` (``mode``, ``dynamic``, ...).

    Examples
    --------
    >>> import torch
    >>> net = CompiledNetwork(torch.nn.Linear(3, 2))
    >>> net(torch.ones(4, 3)).shape
    torch.Size([4, 2])
    """

    def __init__(self, module: nn.Module, **options) -> None:
        super().__init__()
        self.compiled = torch.compile(module, **options)

    def forward(self, *args, **kwargs):
        import torch._dynamo  # the limit is read when a call misses the compiled cache

        limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        with torch._dynamo.config.patch(recompile_limit=limit):
            return self.compiled(*args, **kwargs)
