"""The checkpoint folder: its layout, the manifests, the pointer, and what to resume from.

A checkpoint folder (format 2) holds::

    latest.json        the newest complete checkpoint and the one before it
    epoch00012/        the newest: params.pt optimizer.pt criterion.pt history.json
                       training_state.pt manifest.json
    epoch00011/        the previous complete checkpoint, kept as a fall-back
    .lock              while a run writes there (see :mod:`.locking`)

Each checkpoint's ``manifest.json`` repeats what ``latest.json`` says of it (epoch, batch,
settings) and records the size and SHA-256 of each of its files. A checkpoint is published
(named in ``latest.json``) only once it has been moved into place and read back against its
manifest; the previous one is removed only after that. On resume, :func:`select_checkpoint`
checks the newest checkpoint file by file and falls back to the previous one, with a
warning saying what was wrong, when the newest is damaged.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from .persistence import file_sha256

#: Layout version of a checkpoint folder (1: no manifests, only the newest checkpoint kept).
CHECKPOINT_FORMAT = 2
POINTER_NAME = "latest.json"
STATE_NAME = "training_state.pt"
MANIFEST_NAME = "manifest.json"
CHECKPOINT_PREFIX = "epoch"
TMP_PREFIX = ".tmp-"

#: skorch's ``save_params`` arguments and the file each writes in a checkpoint.
SKORCH_FILES = {
    "f_params": "params.pt",
    "f_optimizer": "optimizer.pt",
    "f_criterion": "criterion.pt",
    "f_history": "history.json",
}
CHECKPOINT_FILES = (*SKORCH_FILES.values(), STATE_NAME)

#: The fields of a checkpoint's record (in ``latest.json`` and its manifest).
RECORD_KEYS = ("checkpoint", "epoch", "partial", "batches_done", "finished", "fingerprint")


class CheckpointError(ValueError):
    """A checkpoint folder cannot be used as asked.

    Raised when no checkpoint in ``checkpoint_dir`` can be resumed (the message names each
    damaged file), when the checkpoint was written by a run with other settings (old and
    new values listed), or when the folder cannot hold checkpoints. A subclass of
    :class:`ValueError`.
    """


def checkpoint_name(epoch: int, partial: bool, batches_done: int) -> str:
    """Folder name of a checkpoint, e.g. ``epoch00003`` or ``epoch00004-batch000012``.

    Examples
    --------
    >>> checkpoint_name(4, True, 12)
    'epoch00004-batch000012'
    """
    return f"{CHECKPOINT_PREFIX}{epoch:05d}" + (f"-batch{batches_done:06d}" if partial else "")


def completed_epochs(info: dict[str, Any]) -> int:
    """Epochs fully done according to a checkpoint record."""
    return info["epoch"] - 1 if info["partial"] else info["epoch"]


def fsync_path(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk; ignored where unsupported."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def move_into_place(tmp: Path, final: Path) -> None:
    """Rename the complete folder ``tmp`` to ``final`` (replacing a stale one)."""
    if final.exists():  # left by a run stopped before it could publish it
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_path(final.parent)


# --------------------------------------------------------------------------------------
# manifests and checks


def write_manifest(folder: Path, record: dict[str, Any]) -> None:
    """Write ``manifest.json``: ``record`` plus the size and SHA-256 of every file."""
    files = {}
    for name in CHECKPOINT_FILES:
        path = folder / name
        fsync_path(path)
        files[name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    manifest = {"format": CHECKPOINT_FORMAT, **record, "files": files}
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=1))


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else ""
    line = line if len(line) <= 200 else line[:197] + "..."
    return f"{type(err).__name__}: {line}".rstrip(": ")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a checkpoint; raises ``OSError`` or ``ValueError`` when unreadable."""
    manifest = _read_json(folder / MANIFEST_NAME)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError("not a checkpoint manifest")
    return manifest


def checkpoint_problem(folder: Path, with_manifest: bool = True) -> str | None:
    """What is wrong with the checkpoint in ``folder`` (None: it can be loaded).

    Checks each file against the manifest (present, size, SHA-256) and reads each one
    (``torch.load`` of the ``.pt`` files, JSON of the history). ``with_manifest=False``
    (format-1 folders) only reads the files.
    """
    if not folder.is_dir():
        return f"its folder {folder.name} is missing"
    if with_manifest:
        try:
            files = read_manifest(folder)["files"]
        except (OSError, ValueError) as err:
            return f"{MANIFEST_NAME} is missing or unreadable ({_first_line(err)})"
        for name in CHECKPOINT_FILES:
            path, want = folder / name, files.get(name, {})
            if not path.is_file():
                return f"{name} is missing"
            size = path.stat().st_size
            if size != want.get("bytes"):
                return f"{name} has {size} bytes, {want.get('bytes')} were written (truncated?)"
            if file_sha256(path) != want.get("sha256"):
                return f"{name} does not match its SHA-256 in {MANIFEST_NAME} (changed since)"
    for name in CHECKPOINT_FILES:
        path = folder / name
        try:
            if name.endswith(".json"):
                if not isinstance(_read_json(path), list):
                    raise ValueError("not a skorch history (a JSON list)")
            else:
                torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any reader error means a damaged file
            return f"{name} cannot be read ({_first_line(err)})"
    return None


# --------------------------------------------------------------------------------------
# the pointer and the choice of checkpoint


def read_latest(dirname) -> dict[str, Any] | None:
    """What ``latest.json`` in ``dirname`` says, with ``path`` (the newest checkpoint folder).

    Returns None when the folder holds no ``latest.json``. Does not check the checkpoint
    itself (see :func:`select_checkpoint`).

    Raises
    ------
    CheckpointError
        ``latest.json`` is unreadable, lacks a field, or has a newer format than this
        version reads.
    """
    pointer = Path(dirname) / POINTER_NAME
    if not pointer.is_file():
        return None
    try:
        info = _read_json(pointer)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{pointer} is unreadable ({_first_line(err)})") from err
    missing = [k for k in RECORD_KEYS if not isinstance(info, dict) or k not in info]
    if missing:
        raise CheckpointError(f"{pointer} lacks {', '.join(map(repr, missing))}")
    if info.get("format", 1) > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{pointer} has checkpoint format {info.get('format')}, newer than this version "
            f"reads ({CHECKPOINT_FORMAT}); update eegm2_sklearn to resume it."
        )
    info["path"] = str(Path(dirname) / info["checkpoint"])
    return info


def _folder_record(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = read_manifest(folder)
    except (OSError, ValueError):
        return None
    if any(k not in manifest for k in RECORD_KEYS):
        return None
    return {**{k: manifest[k] for k in RECORD_KEYS}, "format": manifest.get("format", 2)}


def _progress(record: dict[str, Any]) -> tuple[int, float]:
    return (record["epoch"], record["batches_done"] if record["partial"] else float("inf"))


def find_checkpoints(dirname) -> tuple[list[dict[str, Any]], list[str]]:
    """Checkpoint records to try, newest first, and what is wrong with ``latest.json``.

    From ``latest.json``: its newest checkpoint and the previous one. When ``latest.json``
    is damaged: every checkpoint folder with a readable manifest. No ``latest.json``: none.
    """
    root = Path(dirname)
    try:
        info = read_latest(root)
    except CheckpointError as err:
        if "newer than this version" in str(err):
            raise
        found = [r for p in root.glob(f"{CHECKPOINT_PREFIX}*") if (r := _folder_record(p))]
        found.sort(key=_progress, reverse=True)
        return [{**r, "path": str(root / r["checkpoint"])} for r in found], [str(err)]
    if info is None:
        return [], []
    records = [info]
    previous = info.get("previous")
    if previous and (record := _folder_record(root / previous)) is not None:
        records.append({**record, "path": str(root / previous)})
    elif previous:  # its manifest is damaged: tried anyway, so the problem is reported
        records.append({**info, "checkpoint": previous, "path": str(root / previous)})
    return records, []


def select_checkpoint(dirname, *, warn: bool = True) -> dict[str, Any] | None:
    """The newest checkpoint in ``dirname`` that can be loaded, or None for a new folder.

    The newest checkpoint is checked file by file (:func:`checkpoint_problem`); when it is
    damaged, the previous one is taken, with a ``UserWarning`` (``warn=True``) naming what
    was wrong.

    Raises
    ------
    CheckpointError
        No checkpoint in the folder can be loaded; the message names each damaged file.
    """
    records, problems = find_checkpoints(dirname)
    if not records and not problems:
        return None
    for record in records:
        problem = checkpoint_problem(Path(record["path"]), record.get("format", 1) >= 2)
        if problem is None:
            if problems and warn:
                warnings.warn(
                    f"checkpoint_dir={os.fspath(dirname)!r}: {'; '.join(problems)}. Resuming "
                    f"from {record['checkpoint']} (epoch {record['epoch']}) instead.",
                    UserWarning,
                    stacklevel=3,
                )
            return record
        problems.append(f"the checkpoint {record['checkpoint']} is damaged: {problem}")
    raise CheckpointError(
        f"checkpoint_dir={os.fspath(dirname)!r} holds no checkpoint that can be resumed: "
        f"{'; '.join(problems)}. Restore the folder from a copy, or start afresh with "
        "resume=False (the folder is then overwritten) or another checkpoint_dir."
    )


def publish(root: Path, record: dict[str, Any], previous: str | None) -> None:
    """Point ``latest.json`` at the checkpoint of ``record``, the ``previous`` one behind it."""
    pointer = {"format": CHECKPOINT_FORMAT, **record, "previous": previous}
    atomic_write_text(root / POINTER_NAME, json.dumps(pointer, indent=1))


def prune(root: Path, keep: set[str]) -> None:
    """Remove checkpoint and temporary folders other than ``keep`` (the lock holder only)."""
    for old in root.iterdir():
        stale = old.name.startswith(CHECKPOINT_PREFIX) or old.name.startswith(TMP_PREFIX)
        if stale and old.name not in keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def check_checkpoint_dir(dirname) -> None:
    """Make sure checkpoints can be written to ``dirname`` before any training is spent.

    Creates the folder if needed, writes (then removes) a probe file in it, and checks that
    no live run holds its writer lock.

    Raises
    ------
    CheckpointError
        When ``dirname`` is a file, cannot be created, or is not writable; the message
        names the folder and the reason.
    CheckpointInUseError
        When another live process (or fit) is training into ``dirname``.

    Examples
    --------
    >>> import tempfile
    >>> check_checkpoint_dir(tempfile.mkdtemp())
    """
    from .locking import check_not_in_use  # the module that imports this one

    root = Path(dirname)
    try:
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(f"{os.fspath(root)!r} is a file")
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=root)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise CheckpointError(
            f"checkpoint_dir={os.fspath(dirname)!r} cannot hold checkpoints ({err}); "
            "checked before training so that no epoch is lost. Choose a folder you can "
            "write to, or checkpoint_dir=None."
        ) from err
    check_not_in_use(root)
