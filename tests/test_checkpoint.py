"""Checkpoints and resume: a killed pretraining continues to the very same weights.

The runs are ``tests/_scale_out_worker.py`` (tiny EEGM2, shaped arrays, one CPU thread):
in a subprocess when the test kills it (SIGKILL, SIGTERM), in this process otherwise.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import _scale_out_worker as worker
import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.estimators import NonFiniteLossError

WORKER = Path(__file__).with_name("_scale_out_worker.py")


run_here = worker.run_in_process


def run_subprocess(out: Path, *args: str, kill: str | None = None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kill:
        env["EEGM2_TEST_KILL"] = kill
    return subprocess.run(
        [sys.executable, str(WORKER), str(out), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def assert_same_weights(a: dict, b: dict) -> None:
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert torch.equal(a["state"][k], b["state"][k]), k


def losses(run: dict) -> list[float]:
    return [float(row["train_loss"]) for row in run["history"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: 4 epochs of 6 batches, no checkpoints."""
    return run_here(tmp_path_factory.mktemp("ref") / "ref.pt")


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(reference, tmp_path):
    ckpt = tmp_path / "ckpt"
    killed = run_subprocess(tmp_path / "a.pt", "--ckpt", str(ckpt), kill="3:2:KILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # killed in epoch 3: the newest complete checkpoint is the end of epoch 2
    latest = json.loads((ckpt / "latest.json").read_text())
    assert (latest["epoch"], latest["partial"]) == (2, False)
    resumed = run_here(tmp_path / "b.pt", "--ckpt", str(ckpt), "--resume")
    assert_same_weights(resumed, reference)
    assert losses(resumed) == losses(reference)


def test_sigterm_checkpoints_mid_epoch_and_resume_is_identical(reference, tmp_path):
    ckpt = tmp_path / "ckpt"
    stopped = run_subprocess(tmp_path / "a.pt", "--ckpt", str(ckpt), kill="3:2:TERM")
    # the signal ends the process as SIGTERM would, once the checkpoint is written
    assert stopped.returncode == -signal.SIGTERM, stopped.stderr[-2000:]
    assert "resume=True" in stopped.stderr
    latest = json.loads((ckpt / "latest.json").read_text())
    assert (latest["epoch"], latest["partial"], latest["batches_done"]) == (3, True, 2)
    # the newest checkpoint and the previous complete one, kept as its fall-back
    listing = sorted(p.name for p in ckpt.iterdir())
    assert listing == ["epoch00002", "epoch00003-batch000002", "latest.json"]
    resumed = run_here(tmp_path / "b.pt", "--ckpt", str(ckpt), "--resume")
    assert_same_weights(resumed, reference)
    # the interrupted epoch's loss averages its batches from both runs
    assert losses(resumed) == losses(reference)


def test_sigint_raises_keyboardinterrupt_after_checkpoint(reference, tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt"
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN in a background job
    monkeypatch.setenv("EEGM2_TEST_KILL", "2:5:INT")
    with pytest.raises(KeyboardInterrupt, match="epoch 2, after batch 5"):
        run_here(tmp_path / "a.pt", "--ckpt", str(ckpt))
    monkeypatch.delenv("EEGM2_TEST_KILL")
    assert signal.getsignal(signal.SIGINT) is before  # the handler fit found is restored
    resumed = run_here(tmp_path / "b.pt", "--ckpt", str(ckpt), "--resume")
    assert_same_weights(resumed, reference)


def test_classifier_early_stopping_state_is_checkpointed_and_resumed(tmp_path, monkeypatch):
    """Early stopping (patience 2 on the validation loss) ends the run at epoch 3 of 10.

    A SIGINT in epoch 3, after one epoch without improvement, is resumed: the miss counter
    and the best weights come back from the checkpoint, so the resumed run stops at the
    same epoch with the same weights. The checkpoint written when early stopping ends
    training is marked finished, and resuming it trains no further.
    """
    args = ("--classifier", "--valid", "0.25", "--epochs", "10", "--patience", "2")
    ckpt = tmp_path / "ckpt"
    ref = run_here(tmp_path / "ref.pt", *args)
    valid = [row["valid_loss"] for row in ref["history"]]
    # measured: valid losses 0.702, 0.703, 0.720: best at epoch 1, two misses, stop after 3
    assert len(valid) == 3 and valid.index(min(valid)) == 0
    monkeypatch.setenv("EEGM2_TEST_KILL", "3:2:INT")
    with pytest.raises(KeyboardInterrupt):
        run_here(tmp_path / "a.pt", *args, "--ckpt", str(ckpt))
    monkeypatch.delenv("EEGM2_TEST_KILL")
    latest = json.loads((ckpt / "latest.json").read_text())
    assert (latest["epoch"], latest["partial"], latest["finished"]) == (3, True, False)
    resumed = run_here(tmp_path / "b.pt", *args, "--ckpt", str(ckpt), "--resume")
    assert_same_weights(resumed, ref)
    assert [row["valid_loss"] for row in resumed["history"]] == valid
    assert resumed["history"][-1]["valid_loss_best"] is False
    # the end of training by early stopping is a finished checkpoint of the weights kept
    latest = json.loads((ckpt / "latest.json").read_text())
    assert (latest["epoch"], latest["partial"], latest["finished"]) == (3, False, True)
    params = torch.load(ckpt / "epoch00003" / "params.pt", weights_only=True)
    assert_same_weights({"state": params}, ref)
    # a finished run resumed does not train again
    again = run_here(tmp_path / "c.pt", *args, "--ckpt", str(ckpt), "--resume")
    assert_same_weights(again, ref)
    assert again["history"] == resumed["history"]


def test_non_finite_loss_stops_with_message_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt"
    monkeypatch.setenv("EEGM2_TEST_INF", "3:2")
    with pytest.raises(NonFiniteLossError) as err:
        run_here(tmp_path / "a.pt", "--ckpt", str(ckpt))
    msg = str(err.value)
    assert "epoch 3, batch 2" in msg and "Lower the learning rate" in msg
    assert "scaling" in msg and "epoch 2" in msg and str(ckpt) in msg
    latest = json.loads((ckpt / "latest.json").read_text())
    assert (latest["epoch"], latest["partial"]) == (2, False)
    params = torch.load(ckpt / "epoch00002" / "params.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in params.values())
    assert isinstance(err.value, FloatingPointError)


X = np.random.default_rng(1).standard_normal((24, 3, 32)).astype("float32")
TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=8, random_state=0)


def test_resume_checks_settings_and_finished_runs_do_not_train(tmp_path):
    ckpt = tmp_path / "ckpt"
    done = EEGM2Pretrainer(max_epochs=2, checkpoint_dir=ckpt, **TINY).fit(X)
    restored = pickle.loads(pickle.dumps(done))  # fitted with checkpoints: still picklable
    np.testing.assert_array_equal(restored.transform(X), done.transform(X))
    again = EEGM2Pretrainer(max_epochs=2, checkpoint_dir=ckpt, resume=True, **TINY).fit(X)
    assert again.history_[:, "dur"] == done.history_[:, "dur"]  # loaded, not retrained
    for a, b in zip(again.module_.parameters(), done.module_.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="batch_size=8.*batch_size=4"):
        EEGM2Pretrainer(
            max_epochs=2, checkpoint_dir=ckpt, resume=True, **{**TINY, "batch_size": 4}
        ).fit(X)
    with pytest.raises(ValueError, match="n_train=24.*n_train=20"):
        EEGM2Pretrainer(max_epochs=2, checkpoint_dir=ckpt, resume=True, **TINY).fit(X[:20])
    with pytest.warns(UserWarning, match="starts afresh and replaces it"):
        EEGM2Pretrainer(max_epochs=1, checkpoint_dir=ckpt, **TINY).fit(X)
    with pytest.raises(ValueError, match="resume=True.*checkpoint_dir is None"):
        EEGM2Pretrainer(max_epochs=1, resume=True, **TINY).fit(X)
    with pytest.raises(ValueError, match="checkpoint_every"):
        EEGM2Pretrainer(max_epochs=1, checkpoint_dir=ckpt, checkpoint_every=0, **TINY).fit(X)


def test_resume_without_checkpoint_starts_afresh_and_equals_plain_fit(tmp_path):
    plain = EEGM2Pretrainer(max_epochs=2, **TINY).fit(X)
    fresh = EEGM2Pretrainer(
        max_epochs=2, checkpoint_dir=tmp_path / "new", resume=True, checkpoint_every=5, **TINY
    ).fit(X)
    for a, b in zip(fresh.module_.parameters(), plain.module_.parameters(), strict=True):
        assert torch.equal(a, b)
    # every 5 epochs, and after the last one
    assert fresh.history_[:, "event_cp"] == [False, True]


def test_unseeded_run_resumes_with_its_own_seed(tmp_path):
    ckpt = tmp_path / "ckpt"
    params = {**TINY, "random_state": None}
    with pytest.raises(KeyboardInterrupt):
        EEGM2Pretrainer(
            max_epochs=3, checkpoint_dir=ckpt, callbacks=[worker.SignalAt(2, 1, "INT")], **params
        ).fit(X)
    seed = json.loads((ckpt / "latest.json").read_text())["fingerprint"]["seed"]
    resumed = EEGM2Pretrainer(max_epochs=3, checkpoint_dir=ckpt, resume=True, **params).fit(X)
    # the run drew its seed once and kept it: the same as a run seeded with it
    seeded = EEGM2Pretrainer(max_epochs=3, **{**TINY, "random_state": seed}).fit(X)
    for a, b in zip(resumed.module_.parameters(), seeded.module_.parameters(), strict=True):
        assert torch.equal(a, b)


def test_stale_temporary_folders_are_cleaned(tmp_path):
    ckpt = tmp_path / "ckpt"
    (ckpt / ".tmp-left-by-a-kill").mkdir(parents=True)
    (ckpt / "epoch00009").mkdir()  # a checkpoint the pointer never named
    EEGM2Pretrainer(max_epochs=1, checkpoint_dir=ckpt, **TINY).fit(X)
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch00001", "latest.json"]


@pytest.mark.parametrize("problem", ["a file", "unwritable"])
def test_a_checkpoint_dir_that_cannot_hold_checkpoints_fails_before_training(tmp_path, problem):
    import os

    if problem == "a file":
        target = tmp_path / "ckpt"
        target.write_text("not a folder")
        match = "cannot hold checkpoints.*is a file"
    else:
        if os.geteuid() == 0:  # root writes anywhere: make the parent a file instead
            (tmp_path / "parent").write_text("")
            target = tmp_path / "parent" / "ckpt"
        else:
            (tmp_path / "ro").mkdir(mode=0o500)
            target = tmp_path / "ro" / "ckpt"
        match = "cannot hold checkpoints"
    trained = []

    class Spy(Callback):
        def on_epoch_end(self, net, **kwargs):
            trained.append(len(net.history))

    with pytest.raises(ValueError, match=match):
        EEGM2Pretrainer(checkpoint_dir=target, callbacks=[Spy()], max_epochs=2, **TINY).fit(X)
    assert trained == []  # no epoch was spent


def test_resume_refuses_a_changed_loss_or_head(tmp_path):
    ckpt = tmp_path / "pre"
    EEGM2Pretrainer(checkpoint_dir=ckpt, max_epochs=1, **TINY).fit(X)
    with pytest.raises(ValueError, match=r"alpha=1\.0.*alpha=0\.5"):
        EEGM2Pretrainer(checkpoint_dir=ckpt, resume=True, alpha=0.5, max_epochs=1, **TINY).fit(X)
    y = np.array([0, 1] * 12)
    ckpt = tmp_path / "clf"
    EEGM2Classifier(checkpoint_dir=ckpt, max_epochs=1, **TINY).fit(X, y)
    with pytest.raises(ValueError, match="finetune='full'.*finetune='frozen'"):
        EEGM2Classifier(
            checkpoint_dir=ckpt, resume=True, finetune="frozen", max_epochs=1, **TINY
        ).fit(X, y)
