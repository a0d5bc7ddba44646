"""SIGINT/SIGTERM during training: checkpoint after the current batch, then stop."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from . import distributed


class TrainingInterrupted(BaseException):
    """Training stopped on SIGINT/SIGTERM after a checkpoint was written.

    A ``BaseException`` (like :class:`KeyboardInterrupt`) so that ``except Exception``
    blocks and skorch's handling of ``KeyboardInterrupt`` let it through to ``fit``.
    """

    def __init__(self, signum: int, epoch: int, batch: int, path: str) -> None:
        self.signum = signum
        self.epoch = epoch
        self.batch = batch
        self.path = path
        where = f"epoch {epoch}, after batch {batch}" if batch else f"the end of epoch {epoch}"
        super().__init__(
            f"Training interrupted by {signal.Signals(signum).name} at {where}; the checkpoint "
            f"{path} holds the state. Fit again with resume=True (command line: --resume) "
            "and the same data and settings to continue."
        )


@contextlib.contextmanager
def deferred_interrupts(net, enabled: bool = True) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into a request to checkpoint and stop after the current batch.

    The handler only records the signal on ``net`` (``net.interrupt_signal_``); the
    checkpoint callback saves at the next batch boundary, where the model, optimiser and
    scheduler agree, and raises :class:`TrainingInterrupted`. A second signal while waiting
    is handled the way it was before ``fit``. Handlers can only be set in the main thread;
    elsewhere this does nothing.
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum, frame):
        if net.interrupt_signal_ is not None:  # asked twice: stop waiting for the batch
            signal.signal(signum, previous[signum])
            signal.raise_signal(signum)
            return
        net.interrupt_signal_ = signum
        if distributed.is_main_process():
            print(
                f"{signal.Signals(signum).name} received: writing a checkpoint after the "
                "current batch, then stopping (send it again to stop at once).",
                file=sys.stderr,
                flush=True,
            )

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def redeliver(stop: TrainingInterrupted) -> None:
    """After checkpointing, let the signal do what it did before ``fit``, then stop.

    SIGINT raises :class:`KeyboardInterrupt` (with where the checkpoint is); SIGTERM ends
    the process as it would have (unless the caller handles it). If a previous handler
    returns, ``KeyboardInterrupt`` is raised anyway, so that ``fit`` never returns an
    unfinished model silently.
    """
    if distributed.is_main_process():
        print(str(stop), file=sys.stderr, flush=True)
    if signal.getsignal(stop.signum) is not signal.default_int_handler:
        signal.raise_signal(stop.signum)
    raise KeyboardInterrupt(str(stop)) from None
