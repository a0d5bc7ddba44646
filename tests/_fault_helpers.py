"""Tiny pretraining runs for the checkpoint fault tests; also a script (not a test file).

Usage: ``python tests/_fault_helpers.py OUT CKPT READY GO``: pretrains into ``CKPT``;
at the end of epoch 2 it writes its pid to ``READY`` and waits until ``GO`` exists, then
finishes and saves the weights to ``OUT`` (``torch.save`` of the state dict).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

X = np.random.default_rng(0).standard_normal((48, 4, 64)).astype("float32")
SETTINGS = dict(
    max_epochs=4, batch_size=8, base_width=8, expand=2, headdim=8, d_state=4, mask_span=16,
    random_state=0, device="cpu", verbose=0,
)  # fmt: skip


class CrashAt(Callback):
    """Raise at the start of an epoch (after the checkpoint of the one before it)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise RuntimeError(f"simulated crash at the start of epoch {self.epoch}")


class WaitAt(Callback):
    """At the end of an epoch, write this pid to ``ready`` and wait until ``go`` exists."""

    def __init__(self, epoch: int, ready: str, go: str):
        self.epoch, self.ready, self.go = epoch, ready, go

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            Path(self.ready).write_text(str(os.getpid()))
            while not Path(self.go).exists():
                time.sleep(0.02)


def pretrain(ckpt=None, *, resume=False, callbacks=(), **params):
    """The tiny pretraining on ``X``; its weights (CPU state dict)."""
    from eegm2_sklearn import EEGM2Pretrainer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        est = EEGM2Pretrainer(
            checkpoint_dir=ckpt, resume=resume, callbacks=list(callbacks), **{**SETTINGS, **params}
        ).fit(X)
    finally:
        torch.set_num_threads(threads)
    return {k: v.detach().cpu().clone() for k, v in est.module_.state_dict().items()}


def assert_same(a: dict, b: dict) -> None:
    """The two state dicts are equal, tensor for tensor, bit for bit."""
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def subprocess_env() -> dict:
    """Environment for a child Python (conftest puts this checkout on its PYTHONPATH)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


if __name__ == "__main__":
    out, ckpt, ready, go = sys.argv[1:5]
    torch.save(pretrain(ckpt, callbacks=[WaitAt(2, ready, go)]), out)
