"""One writer per checkpoint folder: a lock file naming the process that writes there.

While a run trains into ``checkpoint_dir``, the folder holds ``.lock``: a POSIX record lock
(:func:`fcntl.lockf`) taken on it, and inside it the writer's process id, host, start time
and (on Linux) boot id and process start tick. A second process (or a second fit in the
same process) that wants to write there is refused with :class:`CheckpointInUseError`,
which names the holder. The operating system drops the lock when the holder dies, even by
SIGKILL; the record it leaves behind is then stale and the next writer takes it over with
a warning. Where the file system has no record locks, the record alone decides: a record
of a process that is gone from this host is stale; one of another host is honoured (it
cannot be checked from here).

The lock is released (and the file removed) when training ends, normally or by an
exception. Only the holder cleans up temporary folders of the checkpoint folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: the record alone is the lock
    fcntl = None

from .checkpoint_folder import CheckpointError

LOCK_NAME = ".lock"

#: Folders whose lock this process holds (resolved path -> lock).
_HELD: dict[str, WriterLock] = {}


class CheckpointInUseError(CheckpointError):
    """Another live process (or another fit in this one) is writing to the checkpoint folder.

    The message names the folder, the holder's process id, host and start time, and what to
    do: wait for that run to end, or use another ``checkpoint_dir``. A subclass of
    :class:`CheckpointError` (so of :class:`ValueError`).
    """


def _read_first_line(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _start_tick(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux), or ``""``."""
    stat = _read_first_line(f"/proc/{pid}/stat")
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces
    return fields[19] if len(fields) > 19 else ""


def _own_record() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "boot_id": _read_first_line("/proc/sys/kernel/random/boot_id"),
        "start_tick": _start_tick(os.getpid()),
    }


def holder_alive(record: dict[str, Any]) -> bool | None:
    """Whether the process of a lock record still runs: True, False, or None (another host).

    A process id that now belongs to another process (another start tick, or another boot)
    counts as gone.
    """
    if record.get("host") != socket.gethostname():
        return None
    boot = _read_first_line("/proc/sys/kernel/random/boot_id")
    if boot and record.get("boot_id") and record["boot_id"] != boot:
        return False
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    tick = _start_tick(pid)
    return not (tick and record.get("start_tick") and tick != record["start_tick"])


def _describe(record: dict[str, Any]) -> str:
    if record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
        return f"this process (pid {os.getpid()}: another fit in this Python session)"
    return (
        f"process {record.get('pid', '?')} on host {record.get('host', '?')!r}, started "
        f"{record.get('started', 'at an unknown time')}"
    )


def _in_use(root: Path, record: dict[str, Any]) -> CheckpointInUseError:
    return CheckpointInUseError(
        f"checkpoint_dir={os.fspath(root)!r} is in use: {_describe(record)} is training "
        f"into it (lock file {os.fspath(root / LOCK_NAME)}). Two runs writing one folder "
        "would delete each other's checkpoints. Use another checkpoint_dir for this run, or "
        "wait until that run has ended (then resume=True continues from its checkpoints)."
    )


def _try_lock(fd: int) -> str:
    """``"locked"``, ``"busy"`` (held by another process) or ``"unsupported"``."""
    if fcntl is None:
        return "unsupported"
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EAGAIN):
            return "busy"
        if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            return "unsupported"
        raise
    return "locked"


def _read_record(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
    try:
        record = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        record = {"pid": None, "host": "?", "started": "(unreadable lock record)"}
    return record if isinstance(record, dict) else {}


def _key(root: Path) -> str:
    return os.path.realpath(root)


class WriterLock:
    """The lock of one checkpoint folder, held by this process between acquire and release.

    Parameters
    ----------
    dirname : str or os.PathLike
        The checkpoint folder (created if needed).

    Examples
    --------
    >>> import tempfile
    >>> with WriterLock(tempfile.mkdtemp()) as lock:
    ...     lock.held
    True
    """

    def __init__(self, dirname) -> None:
        self.root = Path(dirname)
        self.path = self.root / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> WriterLock:
        """Take the lock, or raise :class:`CheckpointInUseError` naming its live holder.

        A stale lock (its holder is gone) is taken over with a ``UserWarning``.
        """
        other = _HELD.get(_key(self.root))
        if other is not None:
            raise _in_use(self.root, _own_record())
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(20):  # the file may be removed by its holder between open and lock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                stale = self._claim(fd)
            except BaseException:
                os.close(fd)
                raise
            if stale is not False:
                break
            os.close(fd)
        else:  # pragma: no cover - a folder whose lock file keeps changing
            raise CheckpointInUseError(f"Could not take the lock {self.path}; try again.")
        self._fd = fd
        _HELD[_key(self.root)] = self
        if stale:
            warnings.warn(
                f"checkpoint_dir={os.fspath(self.root)!r} was locked by {_describe(stale)}, "
                "which is no longer running or no longer holds the lock (it ended without "
                "releasing it, e.g. killed); this run takes the folder over.",
                UserWarning,
                stacklevel=4,
            )
        return self

    def _claim(self, fd: int) -> dict | None | bool:
        """Lock ``fd`` and write this process's record; the stale record taken over (or
        None), or False when the lock file was replaced meanwhile (retry)."""
        state = _try_lock(fd)
        record = _read_record(fd)
        if state == "busy":
            raise _in_use(self.root, record or {"pid": "?", "host": "?"})
        stale = None
        if record:
            alive = holder_alive(record)
            # a record lock taken proves its holder gone, unless the process still runs here
            if alive or (alive is None and state == "unsupported"):
                raise _in_use(self.root, record)
            stale = record
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:
            return False
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(_own_record()).encode("utf-8"))
        os.fsync(fd)
        return stale

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _HELD.pop(_key(self.root), None)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # while still locked: a waiting process re-opens
        finally:
            os.close(fd)  # drops the record lock

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holds_lock(dirname) -> bool:
    """Whether this process holds the lock of ``dirname``."""
    return _key(Path(dirname)) in _HELD


def check_not_in_use(dirname) -> None:
    """Raise :class:`CheckpointInUseError` if a live writer holds the lock of ``dirname``.

    Takes nothing: a stale lock is left for the next writer to take over.
    """
    root = Path(dirname)
    if holds_lock(root):
        raise _in_use(root, _own_record())
    try:
        fd = os.open(root / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        state = _try_lock(fd)
        record = _read_record(fd)
    finally:
        os.close(fd)  # drops the probe's lock, if it took one
    if state == "busy":
        raise _in_use(root, record or {"pid": "?", "host": "?"})
    alive = holder_alive(record) if record else False
    if alive or (alive is None and state == "unsupported"):
        raise _in_use(root, record)
