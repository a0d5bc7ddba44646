"""One writer per checkpoint folder: a second live writer is refused, a dead one's lock is
taken over, and the lock is released however training ends.

The first writer is a real second process (``tests/_fault_helpers.py``) that holds the
folder while it waits at the end of epoch 2; this process is the second writer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import _fault_helpers as helpers
import _scale_out_worker as worker
import pytest
import torch

from eegm2_sklearn import CheckpointError, CheckpointInUseError, EEGM2Pretrainer
from eegm2_sklearn.training.locking import LOCK_NAME, WriterLock, holder_alive

HELPER = Path(helpers.__file__)


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted run, no checkpoints."""
    return helpers.pretrain()


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until ``path`` exists; fail if the process ends first (or after a safety limit)."""
    for _ in range(30000):
        if path.exists():
            return
        if proc.poll() is not None:
            pytest.fail(f"the writer ended early: {proc.stderr.read()[-3000:]}")
        try:
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass
    pytest.fail("the writer never reached epoch 2")


def test_a_second_live_writer_is_refused_and_the_first_run_is_unharmed(tmp_path, reference):
    ckpt, ready, go = tmp_path / "ckpt", tmp_path / "ready", tmp_path / "go"
    cmd = [sys.executable, str(HELPER), str(tmp_path / "a.pt"), str(ckpt), str(ready), str(go)]
    first = subprocess.Popen(cmd, env=helpers.subprocess_env(), stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(ready, first)
        # what the first run is writing: a checkpoint, and a temporary folder of its own
        (ckpt / ".tmp-being-written").mkdir()
        before = sorted(p.name for p in ckpt.iterdir())
        assert LOCK_NAME in before
        record = json.loads((ckpt / LOCK_NAME).read_text())
        assert record["pid"] == first.pid == int(ready.read_text())
        assert record["host"] == socket.gethostname()
        for resume in (False, True):
            with pytest.raises(CheckpointInUseError) as err:
                EEGM2Pretrainer(checkpoint_dir=ckpt, resume=resume, **helpers.SETTINGS).fit(
                    helpers.X
                )
            msg = str(err.value)
            assert f"checkpoint_dir={str(ckpt)!r} is in use" in msg
            assert f"process {first.pid} on host {socket.gethostname()!r}" in msg
            assert "another checkpoint_dir" in msg and "wait until that run has ended" in msg
            assert isinstance(err.value, CheckpointError) and isinstance(err.value, ValueError)
        with pytest.raises(CheckpointInUseError, match=f"process {first.pid}"):
            WriterLock(ckpt).acquire()  # the lock itself, not only the check before fit
        assert sorted(p.name for p in ckpt.iterdir()) == before  # nothing touched
    finally:
        go.write_text("")
        first.wait(timeout=600)
    assert first.returncode == 0, first.stderr.read()[-3000:]
    helpers.assert_same(torch.load(tmp_path / "a.pt", weights_only=True), reference)
    # the holder cleaned up at the end: its lock, the temporary folder, old checkpoints
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch00003", "epoch00004", "latest.json"]


def _signalled_worker(tmp_path: Path, signame: str) -> Path:
    """The checkpoint folder of a worker process stopped by ``signame`` in epoch 3."""
    ckpt = tmp_path / "ckpt"
    args = [sys.executable, str(worker.__file__), str(tmp_path / "a.pt"), "--ckpt", str(ckpt)]
    env = {**helpers.subprocess_env(), "EEGM2_TEST_KILL": f"3:2:{signame}"}
    ended = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert ended.returncode == -getattr(signal, "SIG" + signame), ended.stderr[-2000:]
    return ckpt


def _resume_matches_uninterrupted(tmp_path: Path, ckpt: Path) -> None:
    resumed = worker.run_in_process(tmp_path / "b.pt", "--ckpt", str(ckpt), "--resume")
    reference = worker.run_in_process(tmp_path / "ref.pt")
    helpers.assert_same(resumed["state"], reference["state"])


def test_the_lock_of_a_killed_writer_is_taken_over_with_a_warning(tmp_path):
    ckpt = _signalled_worker(tmp_path, "KILL")
    stale = json.loads((ckpt / LOCK_NAME).read_text())
    assert holder_alive(stale) is False
    with pytest.warns(UserWarning, match=f"locked by process {stale['pid']} .*no longer running"):
        _resume_matches_uninterrupted(tmp_path, ckpt)
    assert not (ckpt / LOCK_NAME).exists()


def _record(pid: int, **extra) -> str:
    return json.dumps({"pid": pid, "host": socket.gethostname(), "started": "then", **extra})


def test_a_record_of_a_live_process_is_honoured_even_without_a_lock_held(tmp_path):
    # e.g. on a file system without record locks: the process named still runs here
    parent = os.getppid()
    (tmp_path / LOCK_NAME).write_text(_record(parent))
    with pytest.raises(CheckpointInUseError, match=f"process {parent} on host"):
        EEGM2Pretrainer(checkpoint_dir=tmp_path, **helpers.SETTINGS).fit(helpers.X)
    # the same pid after a reboot (another boot id) is another process: stale
    (tmp_path / LOCK_NAME).write_text(_record(parent, boot_id="another-boot"))
    assert holder_alive(json.loads((tmp_path / LOCK_NAME).read_text())) is False


def test_a_record_of_a_finished_process_is_stale(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / LOCK_NAME).write_text(_record(gone.pid))
    with pytest.warns(UserWarning, match=f"process {gone.pid} .*no longer running"):
        helpers.pretrain(tmp_path, max_epochs=1)
    assert not (tmp_path / LOCK_NAME).exists()


def test_another_fit_in_this_process_is_refused(tmp_path):
    with WriterLock(tmp_path) as lock:
        assert lock.held
        with pytest.raises(CheckpointInUseError, match="this process"):
            helpers.pretrain(tmp_path, max_epochs=1)
    assert not lock.held and not (tmp_path / LOCK_NAME).exists()
    helpers.pretrain(tmp_path, max_epochs=1)  # free again


def test_the_lock_is_released_when_training_fails(tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash"):
        helpers.pretrain(tmp_path, callbacks=[helpers.CrashAt(2)])
    assert not (tmp_path / LOCK_NAME).exists()
    helpers.pretrain(tmp_path, resume=True)  # no warning about a stale lock, no refusal


def test_a_sigterm_releases_the_lock_before_the_process_ends(tmp_path):
    ckpt = _signalled_worker(tmp_path, "TERM")
    # the partial checkpoint and the complete one before it; no lock left behind
    listing = sorted(p.name for p in ckpt.iterdir())
    assert listing == ["epoch00002", "epoch00003-batch000002", "latest.json"]
    _resume_matches_uninterrupted(tmp_path, ckpt)
