"""A failed write or a damaged file never loses the run: the previous checkpoint is kept
until the next one is complete, and resume falls back to it.

Every resumed run here ends with the weights of the uninterrupted run, bit for bit (CPU:
the restored state determines the rest of the run, whichever checkpoint it came from).
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import _fault_helpers as helpers
import pytest
import torch
from skorch.callbacks import Callback
from skorch.history import History

from eegm2_sklearn import CheckpointError
from eegm2_sklearn.training import checkpoint_folder as folder_io
from eegm2_sklearn.training.checkpoint_folder import CHECKPOINT_FILES, MANIFEST_NAME, POINTER_NAME
from eegm2_sklearn.training.locking import LOCK_NAME


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted run, no checkpoints."""
    return helpers.pretrain()


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """A run that crashed at the start of epoch 4: checkpoints of epochs 3 and 2."""
    ckpt = tmp_path_factory.mktemp("crashed") / "ckpt"
    with pytest.raises(RuntimeError, match="simulated crash"):
        helpers.pretrain(ckpt, callbacks=[helpers.CrashAt(4)])
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch00002", "epoch00003", POINTER_NAME]
    assert json.loads((ckpt / POINTER_NAME).read_text())["previous"] == "epoch00002"
    return ckpt


@pytest.fixture
def ckpt(crashed, tmp_path):
    """A copy of the crashed run's folder, for one test to damage."""
    return Path(shutil.copytree(crashed, tmp_path / "ckpt"))


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "missing":
        path.unlink()
    else:  # garbage of the same size
        path.write_bytes(bytes((b * 7 + 3) % 256 for b in data))


# ------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize(
    "name, how",
    [(name, "truncated") for name in (*CHECKPOINT_FILES, MANIFEST_NAME)]
    + [("params.pt", "missing"), ("params.pt", "garbage"), ("history.json", "empty")],
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(ckpt, reference, name, how):
    _damage(ckpt / "epoch00003" / name, how)
    warning = f"checkpoint epoch00003 is damaged: {name}.*Resuming from epoch00002 .epoch 2."
    with pytest.warns(UserWarning, match=warning):
        resumed = helpers.pretrain(ckpt, resume=True)
    helpers.assert_same(resumed, reference)
    # the damaged checkpoint was replaced by the redone epoch 3, then pruned
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch00003", "epoch00004", POINTER_NAME]


@pytest.mark.parametrize("how", ["without its key", "empty"])
def test_a_damaged_pointer_resumes_from_the_newest_checkpoint_found(ckpt, reference, how):
    pointer = ckpt / POINTER_NAME
    if how == "empty":
        pointer.write_text("")
    else:
        info = json.loads(pointer.read_text())
        del info["checkpoint"]
        pointer.write_text(json.dumps(info))
    with pytest.warns(UserWarning, match=f"{POINTER_NAME}.*Resuming from epoch00003 .epoch 3."):
        resumed = helpers.pretrain(ckpt, resume=True)
    helpers.assert_same(resumed, reference)


def test_with_both_checkpoints_damaged_the_error_names_each_file(ckpt):
    _damage(ckpt / "epoch00003" / "params.pt", "truncated")
    _damage(ckpt / "epoch00002" / "optimizer.pt", "garbage")
    with pytest.raises(CheckpointError) as err:
        helpers.pretrain(ckpt, resume=True)
    msg = str(err.value)
    assert f"checkpoint_dir={str(ckpt)!r} holds no checkpoint that can be resumed" in msg
    assert "epoch00003 is damaged: params.pt has" in msg and "(truncated?)" in msg
    assert "epoch00002 is damaged: optimizer.pt does not match its SHA-256" in msg
    assert "resume=False" in msg and "another checkpoint_dir" in msg
    assert not (ckpt / LOCK_NAME).exists()


def _as_format_1(ckpt: Path) -> None:
    """The folder as the first layout wrote it: no manifest, the newest checkpoint only."""
    shutil.rmtree(ckpt / "epoch00002")
    (ckpt / "epoch00003" / MANIFEST_NAME).unlink()
    info = json.loads((ckpt / POINTER_NAME).read_text())
    info.update(format=1)
    del info["previous"]
    (ckpt / POINTER_NAME).write_text(json.dumps(info))


def test_a_first_format_folder_still_resumes(ckpt, reference):
    _as_format_1(ckpt)
    helpers.assert_same(helpers.pretrain(ckpt, resume=True), reference)


@pytest.mark.parametrize(
    "name, how, reader",
    [
        ("params.pt", "truncated", "PytorchStreamReader failed"),
        ("optimizer.pt", "truncated", "PytorchStreamReader failed"),
        ("training_state.pt", "truncated", "OSError"),
        ("history.json", "empty", "JSONDecodeError"),
    ],
)
def test_a_damaged_file_with_nothing_to_fall_back_to_is_named(ckpt, name, how, reader):
    _as_format_1(ckpt)  # no manifest: the file is read to find the damage
    _damage(ckpt / "epoch00003" / name, how)
    with pytest.raises(CheckpointError) as err:
        helpers.pretrain(ckpt, resume=True)
    msg = str(err.value)
    assert f"epoch00003 is damaged: {name} cannot be read (" in msg and reader in msg
    assert "Restore the folder from a copy, or start afresh with resume=False" in msg


def test_a_pointer_without_its_key_and_no_checkpoint_is_named(tmp_path):
    (tmp_path / POINTER_NAME).write_text(json.dumps({"format": 2, "epoch": 3}))
    with pytest.raises(CheckpointError) as err:
        helpers.pretrain(tmp_path, resume=True)
    msg = str(err.value)
    assert f"{tmp_path / POINTER_NAME} lacks 'checkpoint'" in msg and "resume=False" in msg
    # resume=False starts afresh over it, with a warning
    with pytest.warns(UserWarning, match="starts afresh and replaces it"):
        helpers.pretrain(tmp_path, max_epochs=1)


# ------------------------------------------------------------------------- failed writes
#: The writes of one checkpoint, in order, and the function each goes through.
WRITES = [
    ("params.pt", "torch.save"),
    ("optimizer.pt", "torch.save"),
    ("criterion.pt", "torch.save"),
    ("history.json", "History.to_file"),
    ("training_state.pt", "torch.save"),
    ("manifest.json", "atomic_write_text"),
    ("rename into place", "move_into_place"),
    ("read back", "checkpoint_problem"),
    ("latest.json", "atomic_write_text"),
]


class FailAt(Callback):
    """From the end of ``epoch`` on (this checkpoint's writes), fail the ``k``-th write."""

    def __init__(self, epoch: int, k: int, monkeypatch):
        self.epoch, self.k, self.count, self.mp = epoch, k, 0, monkeypatch
        self.armed = False
        real_save, real_to_file = torch.save, History.to_file
        real_write, real_move = folder_io.atomic_write_text, folder_io.move_into_place
        real_problem = folder_io.checkpoint_problem

        def partial_then_fail(real):  # a disk that fills up half-way through the file
            def write(obj, f, *args, **kwargs):
                real(obj, f, *args, **kwargs)
                if self._due():
                    Path(f).write_bytes(Path(f).read_bytes()[:100])
                    raise OSError(errno.ENOSPC, "No space left on device")

            return write

        def fail_before(real):
            def call(*args, **kwargs):
                if self._due():
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real(*args, **kwargs)

            return call

        def problem(folder, *args, **kwargs):
            return "simulated bad read-back" if self._due() else real_problem(folder, *args)

        monkeypatch.setattr(torch, "save", partial_then_fail(real_save))
        monkeypatch.setattr(History, "to_file", partial_then_fail(real_to_file))
        monkeypatch.setattr(folder_io, "atomic_write_text", fail_before(real_write))
        monkeypatch.setattr(folder_io, "move_into_place", fail_before(real_move))
        monkeypatch.setattr(folder_io, "checkpoint_problem", problem)

    def _due(self) -> bool:
        if not self.armed:
            return False
        self.count += 1
        return self.count == self.k

    def on_epoch_end(self, net, **kwargs):  # before the checkpoint callback's
        self.armed = len(net.history) == self.epoch


@pytest.mark.parametrize("k", range(1, len(WRITES) + 1), ids=[w for w, _ in WRITES])
def test_a_failed_write_keeps_the_last_checkpoint_and_resume_reaches_the_same_weights(
    tmp_path, reference, monkeypatch, k
):
    ckpt = tmp_path / "ckpt"
    with pytest.raises(OSError) as err:
        helpers.pretrain(ckpt, callbacks=[FailAt(3, k, monkeypatch)])
    monkeypatch.undo()
    notes = " ".join(getattr(err.value, "__notes__", []))
    assert f"Writing the checkpoint {ckpt / 'epoch00003'} failed" in notes
    assert "the checkpoint epoch00002 is kept" in notes and "resume=True" in notes
    info = json.loads((ckpt / POINTER_NAME).read_text())
    assert (info["checkpoint"], info["previous"]) == ("epoch00002", "epoch00001")
    left = {p.name for p in ckpt.iterdir()}
    assert not {n for n in left if n.startswith(".")}  # no temporary folder, no lock
    assert left - {"epoch00003"} == {"epoch00001", "epoch00002", POINTER_NAME}
    assert folder_io.select_checkpoint(ckpt)["checkpoint"] == "epoch00002"
    helpers.assert_same(helpers.pretrain(ckpt, resume=True), reference)


def test_a_newer_format_is_refused_on_resume_and_replaced_afresh(ckpt):
    info = json.loads((ckpt / POINTER_NAME).read_text())
    (ckpt / POINTER_NAME).write_text(json.dumps({**info, "format": 99}))
    with pytest.raises(CheckpointError, match="format 99, newer than this version reads"):
        helpers.pretrain(ckpt, resume=True)
    with pytest.warns(UserWarning, match="starts afresh and replaces it"):
        helpers.pretrain(ckpt, max_epochs=1)
    assert json.loads((ckpt / POINTER_NAME).read_text())["format"] == 2
