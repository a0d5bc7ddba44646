"""Save and load pretrained weights: a folder with ``model.safetensors`` and ``config.json``.

``model.safetensors`` holds the network's state dict (safetensors format: no pickle, so
loading a downloaded folder runs no code). ``config.json`` holds whatever the estimator needs
to rebuild the network (hyper-parameters, ``n_chans``, ``sfreq``, channel names, scaling)
plus keys written here: ``"eegm2_sklearn_version"`` (the writer's package version),
``"format_version"`` (the layout of the folder, :data:`FORMAT_VERSION`) and
``"weights_sha256"`` (the checksum of ``model.safetensors``, verified on load).

Saving is all or nothing: both files are written into a temporary folder beside the target,
which then takes the target's place, so a failure at any write (a full disk, a kill) leaves
the previous model whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

# the one check of weights against a network, beside the functions that read them
from ..models import check_state_dict_compatible as check_state_dict_compatible

#: Version of the folder layout written by :func:`save_pretrained`; bump it when the layout
#: changes in a way older readers cannot handle.
FORMAT_VERSION = 1

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def _package_version() -> str:
    # imported at call time: the package's __init__ may import this module
    from .. import __version__

    return __version__


class PretrainedNotFoundError(FileNotFoundError, ValueError):
    """A pretrained folder or one of its files is missing.

    Subclasses both :class:`FileNotFoundError` and :class:`ValueError`, so either
    ``except`` clause catches it.
    """


def _to_json(value: Any, key: str) -> Any:
    """Convert NumPy, tuple and path values to plain JSON types; refuse the rest."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"config key {k!r} in {key!r} is a {type(k).__name__}; JSON needs str keys."
                )
            out[k] = _to_json(v, f"{key}.{k}" if key else k)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(v, key) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(
        f"config[{key!r}] is a {type(value).__name__} ({value!r:.60}), which JSON cannot "
        "store; convert it to str, number, bool, None, list or dict."
    )


def save_pretrained(
    path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> Path:
    """Write ``state_dict`` and ``config`` into the folder ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Folder to write; created with its parents if needed. Existing
        ``model.safetensors`` and ``config.json`` in it are replaced together (other files
        in it are kept); if any write fails, the folder is left as it was.
    state_dict : dict of str to torch.Tensor
        The network's weights; stored as contiguous CPU tensors (tied tensors are copied).
    config : dict
        JSON-serialisable settings (NumPy scalars, arrays, tuples and paths are converted).
        ``"eegm2_sklearn_version"`` and ``"format_version"`` are set here.

    Returns
    -------
    path : pathlib.Path
        The folder written.

    Examples
    --------
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_pretrained(folder, {"w": torch.ones(2, 3)}, {"n_chans": 2})
    >>> weights, config = load_pretrained(folder)
    >>> weights["w"].shape, config["n_chans"], config["format_version"]
    (torch.Size([2, 3]), 2, 1)
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"save_pretrained needs a folder path; {str(path)!r} is an existing file. "
            "Choose a new folder name."
        )
    tensors = {}
    for name, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"state_dict[{name!r}] is a {type(tensor).__name__}, not a torch.Tensor."
            )
        # clone: safetensors refuses tensors that share memory (tied weights, views)
        tensors[name] = tensor.detach().to("cpu").contiguous().clone()
    config = _to_json(dict(config), "")
    config["eegm2_sklearn_version"] = _package_version()
    config["format_version"] = FORMAT_VERSION

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        tmp.mkdir()
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        config["weights_sha256"] = file_sha256(tmp / WEIGHTS_NAME)
        text = json.dumps(config, sort_keys=True, indent=2) + "\n"
        (tmp / CONFIG_NAME).write_text(text, encoding="utf-8")
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = f.write_bytes(b"abc")
    >>> file_sha256(f)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _swap_in(new: Path, path: Path) -> None:
    """Put the complete folder ``new`` at ``path``; files of ``path`` that ``new`` lacks stay.

    A new target is one rename. An existing one is renamed aside first and removed only
    once ``new`` is in place, so at every moment the old model or the new one is whole.
    """
    if not path.exists():
        os.replace(new, path)
        return
    for item in path.iterdir():  # keep what else the folder holds (notes, metrics, ...)
        if item.name not in (WEIGHTS_NAME, CONFIG_NAME) and not (new / item.name).exists():
            copy = shutil.copytree if item.is_dir() else shutil.copy2
            copy(item, new / item.name)
    old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:12]}")
    os.replace(path, old)
    try:
        os.replace(new, path)
    except BaseException:
        os.replace(old, path)  # put the previous model back
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_pretrained(
    path: str | os.PathLike, *, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a folder written by :func:`save_pretrained`.

    Parameters
    ----------
    path : str or os.PathLike
        The folder.
    device : str or torch.device
        Where to put the tensors.

    Returns
    -------
    state_dict : dict of str to torch.Tensor
        The weights.
    config : dict
        The saved config, including ``"eegm2_sklearn_version"`` and ``"format_version"``.

    Raises
    ------
    PretrainedNotFoundError
        The folder or one of its two files is missing (a ``FileNotFoundError`` and a
        ``ValueError``).
    ValueError
        ``config.json`` is not valid JSON or not an eegm2_sklearn config, its
        ``format_version`` is newer than this package reads, the weights file does not
        match the checksum saved beside it, or the weights are unreadable or not finite.

    Examples
    --------
    >>> import tempfile, torch
    >>> folder = save_pretrained(tempfile.mkdtemp(), {"b": torch.zeros(4)}, {})
    >>> sorted(load_pretrained(folder)[0])
    ['b']
    """
    path = Path(path)
    if not path.exists():
        raise PretrainedNotFoundError(
            f"No pretrained folder at {str(path)!r}. Pass the folder written by "
            "save_pretrained (it holds model.safetensors and config.json)."
        )
    if not path.is_dir():
        hint = (
            f" Pass its folder {str(path.parent)!r} instead."
            if path.name in (WEIGHTS_NAME, CONFIG_NAME)
            else ""
        )
        raise ValueError(
            f"{str(path)!r} is a file; expected the folder written by save_pretrained "
            f"(holding {WEIGHTS_NAME} and {CONFIG_NAME}).{hint}"
        )
    missing = [n for n in (WEIGHTS_NAME, CONFIG_NAME) if not (path / n).is_file()]
    if missing:
        raise PretrainedNotFoundError(
            f"The folder {str(path)!r} lacks {' and '.join(missing)}; expected both "
            f"{WEIGHTS_NAME} and {CONFIG_NAME}, as written by save_pretrained. Save the "
            "model again, or point to the right folder."
        )

    config_file = path / CONFIG_NAME
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{str(config_file)!r} is not valid JSON ({err}). Save the model again with "
            "save_pretrained."
        ) from err
    if not isinstance(config, dict) or "format_version" not in config:
        raise ValueError(
            f"{str(config_file)!r} is not an eegm2_sklearn config (expected a JSON object "
            "with a 'format_version' key). Save the model with save_pretrained."
        )
    version = config["format_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{str(config_file)!r} has format_version {version!r}; expected an int.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} was written by eegm2_sklearn "
            f"{config.get('eegm2_sklearn_version', '(unknown version)')} in format version "
            f"{version}; this eegm2_sklearn ({_package_version()}) reads format versions up to "
            f"{FORMAT_VERSION}. Upgrade eegm2_sklearn (pip install -U eegm2_sklearn)."
        )

    weights_file = path / WEIGHTS_NAME
    expected = config.get("weights_sha256")
    if expected is not None and file_sha256(weights_file) != expected:
        raise ValueError(
            f"{str(weights_file)!r} does not match the checksum that {CONFIG_NAME} recorded "
            "when it was saved: the file was changed or damaged after saving (or the two "
            "files come from different saves). Save the model again, or restore the folder "
            "from a copy."
        )
    try:
        state_dict = load_file(str(weights_file), device=str(device))
    except (SafetensorError, OSError) as err:
        raise ValueError(
            f"Cannot read the weights in {str(weights_file)!r} ({err}). The file is damaged "
            "or not a safetensors file; save the model again with save_pretrained."
        ) from err
    bad = [
        name for name, t in state_dict.items() if t.is_floating_point() and not t.isfinite().all()
    ]
    if bad:
        raise ValueError(
            f"{str(weights_file)!r} holds NaN or infinite weights ({', '.join(bad[:5])}"
            f"{', ...' if len(bad) > 5 else ''}); a model trained to non-finite weights cannot "
            "be used. Train again (lower lr, keep gradient clipping), or load another folder."
        )
    return state_dict, config
