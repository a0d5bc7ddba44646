"""The ``eegm2`` command line on a few EEGMAT recordings, in this process and as a subprocess."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from eegm2_sklearn.cli import main

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
    assert json.loads((ckpt / "latest.json").read_text())["finished"]
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
    assert "Held-out: accuracy" in res.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    # one subject held out: its two recordings
    assert metrics["n_test"] > 0 and 0 <= metrics["balanced_accuracy"] <= 1
    assert (out / "classifier.joblib").is_file() and (out / "history.csv").is_file()


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
    assert "auroc" in metrics


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
