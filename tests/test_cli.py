"""The ``eegm2`` command line on a few EEGMAT recordings, in this process and as a subprocess."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import mne
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupShuffleSplit

from eegm2_sklearn.cli import main
from eegm2_sklearn.datasets import fetch_eegmat, make_eegmat_epochs

TINY = ["--base-width", "8", "--expand", "2", "--headdim", "8", "--d-state", "4"]
FAST = ["--sfreq", "64", "--window-seconds", "4", "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def folder(eegmat_path, tmp_path_factory):
    """Links to four EEGMAT recordings (subjects 0 and 1, rest and arithmetic)."""
    data = tmp_path_factory.mktemp("recordings")
    for s in (0, 1):
        for r in (1, 2):
            (data / f"Subject0{s}_{r}.edf").symlink_to(eegmat_path / f"Subject0{s}_{r}.edf")
    return data


@pytest.fixture(scope="module")
def pretrained(folder, tmp_path_factory):
    """``eegm2 pretrain`` run in this process: (checkpoint folder, model folder)."""
    ckpt = tmp_path_factory.mktemp("run") / "ckpt"
    args = ["pretrain", "--data", str(folder), "--epochs", "2", "--checkpoint-dir", str(ckpt)]
    assert main(args + FAST + TINY) == 0
    return ckpt, ckpt / "model"


def test_pretrain_writes_model_log_checkpoint_and_cache(pretrained):
    ckpt, model = pretrained
    config = json.loads((model / "config.json").read_text())
    assert (config["n_chans"], config["n_times"], config["sfreq"]) == (21, 256, 64.0)
    with open(ckpt / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[1]["train_loss"]) > 0
    latest = json.loads((ckpt / "latest.json").read_text())
    assert latest["finished"] and latest["checkpoint"] == "epoch00002"
    # the model saved is the last checkpoint's, and the log its history
    params = torch.load(ckpt / "epoch00002" / "params.pt", weights_only=True)
    weights = load_file(model / "model.safetensors")
    assert weights.keys() == params.keys()
    assert all(torch.equal(weights[k], params[k]) for k in params)
    history = json.loads((ckpt / "epoch00002" / "history.json").read_text())
    assert [float(r["train_loss"]) for r in rows] == [h["train_loss"] for h in history]
    assert len(list((ckpt / "preprocessed").glob("*_raw.fif"))) == 4


def test_resume_of_a_finished_run_keeps_the_model(pretrained, folder, capsys):
    ckpt, model = pretrained
    before = load_file(model / "model.safetensors")
    cache = {p: p.stat().st_mtime_ns for p in (ckpt / "preprocessed").iterdir()}
    args = ["pretrain", "--data", str(folder), "--epochs", "2", "--checkpoint-dir", str(ckpt)]
    assert main(args + ["--resume"] + FAST + TINY) == 0
    after = load_file(model / "model.safetensors")
    assert all((before[k] == after[k]).all() for k in before)
    assert cache == {p: p.stat().st_mtime_ns for p in (ckpt / "preprocessed").iterdir()}
    assert "Done" in capsys.readouterr().out


def held_out_line(stdout: str) -> dict[str, float]:
    """The metrics of ``Done. Held-out: accuracy 0.7333, balanced_accuracy 0.5, ...``."""
    line = next(x for x in stdout.splitlines() if "Held-out:" in x)
    pairs = re.findall(r"(\w+) (\d+\.\d{4})", line.split("Held-out:")[1])
    return {k: float(v) for k, v in pairs}


def test_finetune_from_a_labels_file_in_a_subprocess(pretrained, folder, tmp_path):
    labels = tmp_path / "labels.csv"
    rows = [(f"Subject0{s}_{r}.edf", ("rest", "task")[r - 1], s) for s in (0, 1) for r in (1, 2)]
    labels.write_text("file,label,group\n" + "".join(f"{f},{y},{g}\n" for f, y, g in rows))
    out = tmp_path / "clf"
    cmd = [sys.executable, "-m", "eegm2_sklearn.cli", "finetune", "--pretrained"]
    cmd += [str(pretrained[1]), "--data", str(folder), "--labels", str(labels), "--epochs", "1"]
    cmd += ["--head", "pool", "--batch-size", "16", "--test-size", "0.5", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"n_train", "n_test", "accuracy", "balanced_accuracy", "auroc"}
    # the printed line is the file's numbers
    assert held_out_line(res.stdout) == {
        k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)
    }
    # 4-s windows (the pretrained model's 256 samples at 64 Hz) of each recording; one
    # subject, its two recordings, held out
    per_subject = {
        s: sum(
            int(mne.io.read_raw(folder / f"Subject0{s}_{r}.edf", verbose="error").times[-1] // 4)
            for r in (1, 2)
        )
        for s in (0, 1)
    }
    assert metrics["n_test"] in per_subject.values()
    assert metrics["n_train"] + metrics["n_test"] == sum(per_subject.values())
    clf = joblib.load(out / "classifier.joblib")
    assert clf.classes_.tolist() == ["rest", "task"]
    assert (clf.n_chans_, clf.n_times_, clf.sfreq_) == (21, 256, 64.0)
    with open(out / "history.csv") as f:
        history = list(csv.DictReader(f))
    assert [r["epoch"] for r in history] == ["1"]
    assert float(history[0]["train_loss"]) == pytest.approx(clf.history_[0, "train_loss"])


def test_eegmat_dataset_option_pretrain_and_finetune(eegmat_path, tmp_path):
    model = tmp_path / "model"
    args = ["pretrain", "--dataset", "eegmat", "--data", str(eegmat_path), "--subjects", "0"]
    args += ["--epochs", "1", "--out", str(model), "--cache-dir", str(tmp_path / "cache")]
    assert main(args + FAST + TINY) == 0
    config = json.loads((model / "config.json").read_text())
    assert config["n_chans"] == 19 and config["ch_names"][0] == "Fp1"
    args = ["finetune", "--pretrained", str(model), "--dataset", "eegmat", "--data"]
    args += [str(eegmat_path), "--subjects", "0", "1", "--epochs", "1", "--head", "pool"]
    args += ["--test-size", "0.5", "--out", str(tmp_path / "clf"), "--quiet"]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "clf" / "metrics.json").read_text())
    # the metrics are the saved classifier's on the held-out subject's windows, rebuilt
    # here with the public API (the model's 4-s windows at 64 Hz, the command's split)
    raws = fetch_eegmat(subjects=[0, 1], path=eegmat_path, download=False, verbose=False)
    epochs, y, groups = make_eegmat_epochs(
        raws, window_seconds=4.0, sfreq=64.0, picks="data", verbose=False
    )
    split = GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=0)
    train, test = next(split.split(np.zeros(len(y)), y, groups))
    clf = joblib.load(tmp_path / "clf" / "classifier.joblib")
    assert (metrics["n_train"], metrics["n_test"]) == (len(train), len(test))
    pred = clf.predict(epochs[test])
    proba = clf.predict_proba(epochs[test])[:, 1]
    assert metrics["accuracy"] == accuracy_score(y[test], pred)
    assert metrics["balanced_accuracy"] == balanced_accuracy_score(y[test], pred)
    assert metrics["auroc"] == roc_auc_score(y[test] == clf.classes_[1], proba)


def test_errors_are_messages_not_tracebacks(pretrained, folder, tmp_path, capsys):
    assert main(["pretrain", "--data", str(tmp_path / "none")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert main(["finetune", "--pretrained", str(pretrained[1]), "--data", str(folder)]) == 1
    assert "needs --labels" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["pretrain"])
    assert exit_.value.code == 2
    assert "--data" in capsys.readouterr().err


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("eegm2")
    if not script.is_file():
        script = shutil.which("eegm2")
    if script is None:
        pytest.skip("the eegm2 console script is not installed (pip install -e .)")
    res = subprocess.run([str(script), "pretrain", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "--checkpoint-dir" in res.stdout and "--resume" in res.stdout
