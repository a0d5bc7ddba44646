"""skorch nets behind the estimators: the training loop is skorch's.

Each training step is a small method of skorch's :class:`~skorch.NeuralNet` (``infer``,
``get_loss``, ``train_step_single``, ...), so a subclass can change one of them. What is
added here:

- ``precision="bf16"``: the forward pass runs under :func:`torch.autocast`; losses are
  computed in float32 (the temporal-spectral loss casts itself, cross-entropy is on
  autocast's float32 list).
- :class:`ReconstructionNet`: the target of the loss is the input batch itself.
"""

from __future__ import annotations

import contextlib

import torch
from skorch import NeuralNet
from skorch.utils import to_tensor


class _PrecisionMixin:
    """Run ``infer`` under bf16 autocast when ``precision == "bf16"``."""

    def __init__(self, *args, precision: str = "32", **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision

    def autocast(self):
        """Context manager of the forward pass (autocast for bf16, nothing for 32)."""
        if self.precision != "bf16":
            return contextlib.nullcontext()
        device_type = torch.device(self.device).type
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)

    def infer(self, x, **fit_params):
        with self.autocast():
            return super().infer(x, **fit_params)


class ReconstructionNet(_PrecisionMixin, NeuralNet):
    """skorch net for self-supervised reconstruction: ``loss = criterion(module(X), X)``."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, to_tensor(X, device=self.device))


class ClassificationNet(_PrecisionMixin, NeuralNet):
    """skorch net for classification with integer-encoded targets and logits output."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device).long()
        return self.criterion_(y_pred.float(), y_true)
