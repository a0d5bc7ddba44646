"""Training runs that tests start in subprocesses (kill/resume, torchrun); not a test file.

Usage: python tests/_scale_out_worker.py OUT [--ckpt DIR] [--resume] [--epochs N]
[--files F1 F2 ...] [--classifier] [--valid FRACTION] [--patience N].

Environment: ``EEGM2_TEST_KILL=EPOCH:BATCH:SIGNAL[:RANK]`` sends SIGNAL (``KILL``,
``TERM``, ``INT``) to this process after BATCH training batches of EPOCH (under torchrun:
on rank RANK only, when given); ``EEGM2_TEST_INF=EPOCH:BATCH`` makes that batch's loss
infinite. The final weights go to OUT (``torch.save`` of the state dict) with the history,
on rank 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import numpy as np
import torch
from skorch.callbacks import Callback

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4)


class SignalAt(Callback):
    """Send a signal to this process after a given training batch."""

    def __init__(self, epoch: int, batch: int, signame: str, rank: int | None = None):
        self.epoch, self.batch, self.signame, self.rank = epoch, batch, signame, rank

    def on_batch_end(self, net, training=False, **kwargs):
        done = sum("train_loss" in b for b in net.history[-1]["batches"])
        here = self.rank is None or int(os.environ.get("RANK", "0")) == self.rank
        if training and here and len(net.history) == self.epoch and done == self.batch:
            os.kill(os.getpid(), getattr(signal, "SIG" + self.signame))


class InfAt(Callback):
    """Poison the weights before a given training batch so that its loss is infinite."""

    def __init__(self, epoch: int, batch: int):
        self.epoch, self.batch = epoch, batch

    def on_batch_begin(self, net, training=False, **kwargs):
        done = sum("train_loss" in b for b in net.history[-1]["batches"])
        if training and len(net.history) == self.epoch and done == self.batch - 1:
            with torch.no_grad():
                next(net.module_.parameters()).fill_(float("inf"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--ckpt", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--windows", type=int, default=48)
    parser.add_argument("--files", nargs="*", default=None)
    parser.add_argument("--window-seconds", type=float, default=1.0)
    parser.add_argument("--classifier", action="store_true")
    parser.add_argument("--valid", type=float, default=None)
    parser.add_argument("--patience", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer

    callbacks = []
    if os.environ.get("EEGM2_TEST_KILL"):
        epoch, batch, signame, *rank = os.environ["EEGM2_TEST_KILL"].split(":")
        callbacks.append(SignalAt(int(epoch), int(batch), signame, *map(int, rank)))
    if os.environ.get("EEGM2_TEST_INF"):
        epoch, batch = os.environ["EEGM2_TEST_INF"].split(":")
        callbacks.append(InfAt(int(epoch), int(batch)))
    common = dict(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        random_state=0,
        device="cpu",
        checkpoint_dir=args.ckpt,
        resume=args.resume,
        callbacks=callbacks,
        validation_split=args.valid,
        patience=args.patience,
        verbose=1,
        **TINY,
    )
    rng = np.random.default_rng(0)
    if args.classifier:
        X = rng.standard_normal((args.windows, 4, 64)).astype("float32")
        y = np.array(["a", "b"] * (args.windows // 2))
        est = EEGM2Classifier(head="pool", **common).fit(X, y)
    elif args.files:
        est = EEGM2Pretrainer(window_seconds=args.window_seconds, **common).fit(args.files)
    else:
        X = rng.standard_normal((args.windows, 4, 64)).astype("float32")
        est = EEGM2Pretrainer(**common).fit(X)
    from eegm2_sklearn.training import distributed as _distributed

    if _distributed.is_main_process():
        state = {k: v.detach().cpu() for k, v in est.module_.state_dict().items()}
        torch.save({"state": state, "history": est.history_.to_list()}, args.out)
    return 0


def run_in_process(out, *args: str) -> dict:
    """:func:`main` in the calling process, one thread as in the subprocesses; its output."""
    threads = torch.get_num_threads()
    try:
        main([str(out), *args])
    finally:
        torch.set_num_threads(threads)
    return torch.load(out, weights_only=False)


if __name__ == "__main__":
    sys.exit(main())
