"""Saving and loading a fitted pretrainer, and reading the weights a classifier starts from."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from ..data import MIN_N_TIMES, SCALING_METHODS, EEGArray
from ..models import load_backbone_weights
from ..training import load_pretrained, save_pretrained
from ..training.persistence import CONFIG_NAME
from ..validation import format_allowed, invalid_param_line, is_int, is_real
from .params import ARCH_PARAMS, PARAM_CHECKS, PARAMS

#: What ``config.json`` must hold besides ``params`` and ``architecture``:
#: key -> (check, expected values as messages say them).
CONFIG_ENTRIES = {
    "n_chans": (lambda v: is_int(v) and v >= 1, "an int >= 1"),
    "n_times": (lambda v: is_int(v) and v >= MIN_N_TIMES, f"an int >= {MIN_N_TIMES}"),
    "sfreq": (lambda v: v is None or (is_real(v) and v > 0), "None or a float > 0"),
    "ch_names": (
        lambda v: v is None or (isinstance(v, list) and all(isinstance(c, str) for c in v)),
        "None or a list of str",
    ),
    "scaling": (lambda v: v in SCALING_METHODS, "one of " + format_allowed(SCALING_METHODS)),
}


def check_pretrained_config(config: dict, path, estimator: str = "EEGM2Pretrainer") -> None:
    """Raise one ``ValueError`` listing every entry of ``config.json`` that cannot rebuild
    the network saved in ``path`` (missing, of the wrong type, or inconsistent).

    Examples
    --------
    >>> check_pretrained_config({"estimator": "EEGM2Pretrainer"}, "pre")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: pre/config.json cannot rebuild the EEGM2Pretrainer saved there ...
    """
    where = f"{os.fspath(path)}/{CONFIG_NAME}"
    if config.get("estimator") != estimator:
        raise ValueError(
            f"{os.fspath(path)!r} holds a {config.get('estimator')!r}, not an {estimator}; "
            "load it with the matching class."
        )
    errors = []
    params, arch = config.get("params"), config.get("architecture")
    if not isinstance(params, dict):
        errors.append(invalid_param_line("params", params, "a JSON object of parameters"))
        params = {}
    for name, value in params.items():
        if name in PARAM_CHECKS and name in PARAMS and PARAMS[name].saved:
            check, expected = PARAM_CHECKS[name]
            if not check(value):
                errors.append(invalid_param_line(f"params.{name}", value, expected))
    if not isinstance(arch, dict):
        errors.append(invalid_param_line("architecture", arch, "a JSON object of sizes"))
        arch = {}
    for name in ARCH_PARAMS if arch or not errors else ():
        check, expected = PARAM_CHECKS[name]
        if name not in arch:
            errors.append(f"`architecture.{name}`: missing; expected {expected}.")
        elif not check(arch[name]):
            errors.append(invalid_param_line(f"architecture.{name}", arch[name], expected))
        elif name in params and params[name] != arch[name]:
            errors.append(
                f"`params.{name}` ({params[name]!r}) and `architecture.{name}` "
                f"({arch[name]!r}) differ; they must be equal."
            )
    for name, (check, expected) in CONFIG_ENTRIES.items():
        if name not in config:
            if name != "scaling":  # scaling: optional (the estimator's own is then used)
                errors.append(f"`{name}`: missing; expected {expected}.")
        elif not check(config[name]):
            errors.append(invalid_param_line(name, config[name], expected))
    names, n_chans = config.get("ch_names"), config.get("n_chans")
    if isinstance(names, list) and is_int(n_chans) and len(names) != n_chans:
        errors.append(f"`ch_names` has {len(names)} names but `n_chans` is {n_chans}.")
    if errors:
        lines = "\n".join(f"- {e}" for e in errors)
        raise ValueError(
            f"{where} cannot rebuild the {estimator} saved there (edited or incomplete?):\n"
            f"{lines}\nSave the model again with save_pretrained, or restore {CONFIG_NAME} "
            "from a copy: it must describe the network whose weights model.safetensors holds."
        )


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
        check_pretrained_config(config, path, cls.__name__)
        valid = cls().get_params(deep=False)
        kwargs = {k: v for k, v in config["params"].items() if k in valid}
        kwargs.update(config["architecture"])
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
        source = f"The weights in {os.fspath(path)!r}"
        load_backbone_weights(net.module_, state_dict, strict=True, source=source)
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
    check_pretrained_config(config, pretrained, EEGM2Pretrainer.__name__)
    return state, config
