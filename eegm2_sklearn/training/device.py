"""Turn the estimators' ``device`` parameter into a :class:`torch.device`."""

from __future__ import annotations

from typing import Any

import torch

from ..validation import invalid_param_line

#: What the ``device`` parameter accepts, as error messages say it.
DEVICE_VALUES = "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device"


def is_device(v: Any) -> bool:
    """Whether ``v`` is a value of the ``device`` parameter (see :data:`DEVICE_VALUES`).

    Examples
    --------
    >>> is_device("cuda:1"), is_device("tpu")
    (True, False)
    """
    if isinstance(v, torch.device):
        return v.type in ("cpu", "cuda")
    if not isinstance(v, str):
        return False
    if v in ("auto", "cpu", "cuda"):
        return True
    prefix, _, index = v.partition(":")
    return prefix == "cuda" and index.isdigit()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``device`` to a usable :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device
        ``"auto"`` picks the current CUDA GPU when PyTorch sees one, else the CPU.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        The value is not one of the above, CUDA is asked for but not available, or the
        GPU index does not exist.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if not is_device(device):
        raise ValueError(f"Invalid value for {invalid_param_line('device', device, DEVICE_VALUES)}")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cpu":
        return device
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). "
            "Use device='cpu', or device='auto' to take a GPU only when there is one."
        )
    n_gpus = torch.cuda.device_count()
    if device.index is not None and device.index >= n_gpus:
        raise ValueError(
            f"device={str(device)!r} was requested but only {n_gpus} CUDA GPU(s) exist "
            f"(indices 0 to {n_gpus - 1}). Use device='cuda' or a valid index."
        )
    return device
