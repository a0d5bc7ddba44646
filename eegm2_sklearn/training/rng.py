"""Save, restore and fork the global random generators (torch, NumPy, Python)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def rng_states(device: torch.device | str | None = None) -> dict[str, Any]:
    """States of the torch (CPU and ``device``'s CUDA), NumPy and Python generators.

    Returned in types ``torch.load(weights_only=True)`` accepts.
    """
    np_state = np.random.get_state()  # noqa: NPY002 (the global state itself)
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ),
        "python": random.getstate(),
    }
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states: dict[str, Any], device: torch.device | str | None = None) -> None:
    """Restore generator states returned by :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    device = torch.device(device) if device is not None else None
    if "cuda" in states and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"], device)


@contextlib.contextmanager
def forked_global_rng(devices: list, enabled: bool = True) -> Iterator[None]:
    """Leave the caller's torch, NumPy and Python generators as they were on exit."""
    if not enabled:
        yield
        return
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
