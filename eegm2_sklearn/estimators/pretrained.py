"""Saving and loading a fitted pretrainer, and reading the weights a classifier starts from."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from ..data import EEGArray
from ..training import load_pretrained, save_pretrained
from .params import ARCH_PARAMS, PARAMS


class SavePretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` of :class:`~eegm2_sklearn.EEGM2Pretrainer`
    (a folder with ``model.safetensors`` and ``config.json``)."""

    def _config(self) -> dict:
        params = {k: v for k, v in self.get_params(deep=False).items() if PARAMS[k].saved}
        return {
            "estimator": type(self).__name__,
            "params": params,
            "architecture": {k: getattr(self, k) for k in ARCH_PARAMS},
            "n_chans": self.n_chans_,
            "n_times": self.n_times_,
            "sfreq": self.sfreq_,
            "ch_names": self.ch_names_,
            "scaling": self.scaling,
        }

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Save the weights and settings to a folder.

        The folder holds ``model.safetensors`` (the EEGM2 state dict) and ``config.json``
        (parameters, architecture, channels, sampling rate, scaling, package version).

        Parameters
        ----------
        path : str or os.PathLike
            Folder to write (created if needed).

        Returns
        -------
        path : pathlib.Path
        """
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        return save_pretrained(path, state, self._config())

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **params) -> SavePretrainedMixin:
        """Load a pretrainer saved with :meth:`save_pretrained`, ready to transform.

        Parameters
        ----------
        path : str or os.PathLike
            Folder written by :meth:`save_pretrained`.
        **params
            Parameters to override (e.g. ``device="cpu"``, ``max_epochs`` for refitting).

        Returns
        -------
        pretrainer : EEGM2Pretrainer
            Fitted: :meth:`transform`, :meth:`reconstruct`, :meth:`score` work. Calling
            :meth:`fit` trains from scratch; pass it as ``pretrained=`` to a classifier to
            fine-tune.
        """
        state_dict, config = load_pretrained(path)
        if config.get("estimator") != cls.__name__:
            raise ValueError(
                f"{os.fspath(path)!r} holds a {config.get('estimator')!r}, not an "
                f"{cls.__name__}; load it with the matching class."
            )
        valid = cls().get_params(deep=False)
        kwargs = {k: v for k, v in config["params"].items() if k in valid}
        kwargs.update(params)
        est = cls(**kwargs)
        est._validate_params()
        est._record_shapes(
            EEGArray(
                np.empty((0, config["n_chans"], config["n_times"]), np.float32),
                config["sfreq"],
                config["ch_names"],
            )
        )
        net = est._build_net(n_train=1)
        net.initialize()
        net.module_.load_state_dict(state_dict, strict=True)
        est.net_ = net
        return est


def pretrained_weights(pretrained, device="cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """State dict and config of a fitted :class:`EEGM2Pretrainer` or a saved folder."""
    if isinstance(pretrained, FrozenEstimator):
        pretrained = pretrained.estimator
    from .pretrainer import EEGM2Pretrainer  # the module that imports this one

    if isinstance(pretrained, EEGM2Pretrainer):
        if not hasattr(pretrained, "net_"):
            raise ValueError(
                "pretrained is an EEGM2Pretrainer that has not been fitted; call its fit() "
                "first, or pass the folder written by save_pretrained."
            )
        state = {k: v.detach().to(device) for k, v in pretrained.module_.state_dict().items()}
        return state, pretrained._config()
    state, config = load_pretrained(pretrained, device=device)
    if config.get("estimator") != EEGM2Pretrainer.__name__:
        raise ValueError(
            f"{os.fspath(pretrained)!r} does not hold EEGM2Pretrainer weights (it holds "
            f"{config.get('estimator')!r})."
        )
    return state, config
