"""The EEGMAT accuracy benchmark's smoke mode, on its fast band-power baseline only."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "eegmat_accuracy.py"


@pytest.fixture(scope="module")
def bench():
    """The benchmark's public functions, from the modules of ``benchmarks.eegmat``."""
    from benchmarks.eegmat import config, data, models, pool, report
    from benchmarks.eegmat.__main__ import main

    return SimpleNamespace(
        main=main,
        CSV_COLUMNS=config.CSV_COLUMNS,
        resolve_args=config.resolve_args,
        labelled_subjects=data.labelled_subjects,
        validation_subjects=data.validation_subjects,
        load_recordings=data.load_recordings,
        subject_folds=data.subject_folds,
        eegm2_common=models.eegm2_common,
        eegm2_input=models.eegm2_input,
        model_settings=models.model_settings,
        visible_gpus=pool.visible_gpus,
        worker_argv=pool.worker_argv,
        read_rows=report.read_rows,
    )


def test_labelled_subjects_are_nested_and_fixed(bench):
    train = np.arange(30)
    tenth = bench.labelled_subjects(train, 0.1, seed=0, fold=2)
    quarter = bench.labelled_subjects(train, 0.25, seed=0, fold=2)
    assert len(tenth) == 3 and len(quarter) == 8
    assert set(tenth) <= set(quarter)
    np.testing.assert_array_equal(tenth, bench.labelled_subjects(train, 0.1, seed=0, fold=2))
    np.testing.assert_array_equal(bench.labelled_subjects(train, 1.0, seed=0, fold=2), train)


def test_smoke_band_power_writes_csv_and_table(bench, eegmat_path, tmp_path, capsys):
    out = tmp_path / "smoke.csv"
    argv = [
        "--smoke",
        "--protocols",
        "none",
        "--models",
        "bandpower",
        "--data",
        str(eegmat_path),
        "--out",
        str(out),
    ]
    assert bench.main(argv) == 0

    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == bench.CSV_COLUMNS
        rows = list(reader)
    # smoke: 2 folds x label fractions 1.0 and 0.5
    assert len(rows) == 4
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["model"] for r in rows} == {"bandpower"}
    assert {float(r["label_fraction"]) for r in rows} == {0.5, 1.0}
    for r in rows:
        assert 0.0 <= float(r["balanced_accuracy"]) <= 1.0
        assert 0.0 <= float(r["roc_auc"]) <= 1.0
        assert int(r["n_train_windows"]) > 0 and int(r["n_test_windows"]) > 0
    # the two folds test disjoint subjects that together are the 6 subjects used
    tests = {r["fold"]: set(r["test_subjects"].split()) for r in rows}
    assert len(tests) == 2
    first, second = tests.values()
    assert not first & second and first | second == {str(s) for s in range(6)}
    # half the labels: fewer training subjects than with all of them, same test set
    by_fraction = {(r["fold"], float(r["label_fraction"])): r for r in rows}
    for fold in tests:
        assert int(by_fraction[fold, 0.5]["n_train_subjects"]) < int(
            by_fraction[fold, 1.0]["n_train_subjects"]
        )
        assert by_fraction[fold, 0.5]["n_test_windows"] == by_fraction[fold, 1.0]["n_test_windows"]

    printed = capsys.readouterr().out
    assert "| model | window | labels | bal. acc (%) | ROC AUC |" in printed
    assert "| Band power + LR | 4 s | 100% |" in printed


def test_summarize_joins_a_run_split_over_processes(bench, eegmat_path, tmp_path, capsys):
    common = ["--smoke", "--protocols", "none", "--models", "bandpower", "--data", str(eegmat_path)]
    whole, first, second = (tmp_path / f"{n}.csv" for n in ("whole", "first", "second"))
    assert bench.main([*common, "--out", str(whole)]) == 0
    assert bench.main([*common, "--folds", "0", "--out", str(first)]) == 0
    assert bench.main([*common, "--folds", "1", "--out", str(second)]) == 0
    capsys.readouterr()

    assert bench.main(["--summarize", str(first), str(second)]) == 0
    split_table = capsys.readouterr().out
    assert bench.main(["--summarize", str(whole)]) == 0
    whole_table = capsys.readouterr().out

    # same folds, same seeds: the split run's table is the whole run's (times aside)
    def scores(table):
        return [line.split("|")[1:6] for line in table.splitlines()[2:]]

    assert len(scores(whole_table)) == 2
    assert scores(split_table) == scores(whole_table)
    assert "| 2/2 |" in split_table

    with pytest.raises(SystemExit, match="both hold bandpower at 4 s, labels 1, fold 0"):
        bench.main(["--summarize", str(whole), str(first)])


def _scores(path) -> dict:
    with open(path, newline="") as f:
        return {
            (r["model"], r["window_s"], r["label_fraction"], r["fold"]): (
                r["balanced_accuracy"],
                r["roc_auc"],
                r["n_train_windows"],
                r["test_subjects"],
            )
            for r in csv.DictReader(f)
        }


def test_processes_reproduce_the_serial_run(bench, eegmat_path, tmp_path, capsys):
    common = [
        "--smoke",
        "--protocols",
        "none",
        "--models",
        "bandpower",
        "eegm2-scratch",
        "--threads",
        "1",
    ]
    common += ["--data", str(eegmat_path)]
    serial, parallel = tmp_path / "serial.csv", tmp_path / "parallel.csv"
    assert bench.main([*common, "--out", str(serial)]) == 0
    assert bench.main([*common, "--processes", "2", "--out", str(parallel)]) == 0
    printed = capsys.readouterr().out
    assert "2 (window, fold) pairs in 2 worker processes" in printed
    assert "FAILED" not in printed

    # 2 models x 2 label fractions x 2 folds, each computed in its own worker, same numbers
    expected = _scores(serial)
    assert len(expected) == 8
    assert _scores(parallel) == expected
    parts = sorted(p.name for p in (tmp_path / "parallel.csv.parts").iterdir())
    assert parts == ["4s_fold0.csv", "4s_fold0.log", "4s_fold1.csv", "4s_fold1.log"]

    # --resume: the merged file seeds missing parts; nothing is computed twice
    stamps = {r["timestamp"] for r in csv.DictReader(parallel.open())}
    (tmp_path / "parallel.csv.parts" / "4s_fold1.csv").unlink()
    assert bench.main([*common, "--processes", "2", "--out", str(parallel), "--resume"]) == 0
    assert _scores(parallel) == expected
    assert {r["timestamp"] for r in csv.DictReader(parallel.open())} == stamps
    # a resumed run of one fold keeps the other fold's rows of --out
    argv = [*common, "--processes", "2", "--folds", "0", "--out", str(parallel), "--resume"]
    assert bench.main(argv) == 0
    assert _scores(parallel) == expected


def test_processes_start_no_worker_for_a_finished_pair(bench, eegmat_path, tmp_path, capsys):
    out = tmp_path / "run.csv"
    argv = [
        "--smoke",
        "--protocols",
        "none",
        "--models",
        "bandpower",
        "--threads",
        "1",
        "--data",
        str(eegmat_path),
    ]
    assert bench.main([*argv, "--folds", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    # fold 0 is in --out already: only fold 1 gets a worker
    assert bench.main([*argv, "--processes", "2", "--out", str(out), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "1 (window, fold) pairs in 2 worker processes" in printed
    assert "started 4-s windows, fold 1" in printed
    assert "fold 0 (GPU" not in printed
    assert sorted(int(r["fold"]) for r in csv.DictReader(out.open())) == [0, 0, 1, 1]


def test_processes_stop_on_sigterm_and_keep_finished_rows(bench, eegmat_path, tmp_path):
    out = tmp_path / "run.csv"
    argv = [
        "--smoke",
        "--protocols",
        "none",
        "--models",
        "bandpower",
        "eegm2-pretrained",
        "--threads",
        "1",
    ]
    argv += ["--data", str(eegmat_path), "--processes", "2", "--out", str(out)]
    parent = subprocess.Popen([sys.executable, str(SCRIPT), *argv], stdout=subprocess.PIPE)
    parts = [tmp_path / "run.csv.parts" / f"4s_fold{k}.csv" for k in (0, 1)]

    def rows_in(path):
        return list(csv.DictReader(path.open())) if path.is_file() else []

    # band power comes first in each fold; stop the run once a fold has its two rows,
    # while EEGM2 is still pretraining
    while parent.poll() is None and not any(len(rows_in(p)) >= 2 for p in parts):
        time.sleep(0.1)
    parent.send_signal(signal.SIGTERM)
    printed = parent.communicate()[0].decode()
    assert parent.returncode == 130, printed
    assert "interrupted: the finished rows are in" in printed

    kept = list(csv.DictReader(out.open()))
    assert 2 <= len(kept) < 8
    assert {r["status"] for r in kept} == {"ok"}
    # --resume finishes the run without redoing the kept rows
    assert bench.main([*argv, "--resume"]) == 0
    final = list(csv.DictReader(out.open()))
    assert len(final) == 8 and {r["status"] for r in final} == {"ok"}
    assert [r for r in final if r["timestamp"] in {k["timestamp"] for k in kept}] == kept


def test_workers_go_to_the_visible_gpus(bench, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 5")
    assert bench.visible_gpus() == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(SystemExit, match="no GPU is visible"):
        bench.visible_gpus()


def test_worker_argv_passes_resolved_values(bench):
    args = bench.resolve_args(
        ["--smoke", "--protocols", "none", "--skip", "--eegm2-lr", "0.01", "--processes", "3"]
    )
    argv = bench.worker_argv(args, 4.0, 1, Path("p.csv"), threads=2)
    # the worker gets the values the smoke preset resolved, not the flags that set them
    assert "--smoke" not in argv and "--processes" not in argv
    assert argv[argv.index("--subjects") + 1] == "6"
    assert argv[argv.index("--eegm2-width") + 1] == "4"
    assert argv[argv.index("--eegm2-lr") + 1] == "0.01"
    # an emptied list stays empty instead of falling back to the preset's
    assert argv[argv.index("--skip") + 1].startswith("--")
    task = ["--windows", "4", "--folds", "1", "--out", "p.csv", "--resume", "--threads", "2"]
    assert argv[-len(task) :] == task
    assert bench.resolve_args(argv).skip == []


def test_pretrained_cache_loads_the_same_pretrainer(bench, eegmat_path, tmp_path, capsys):
    common = [
        "--smoke",
        "--protocols",
        "none",
        "--models",
        "eegm2-probe",
        "--folds",
        "0",
        "--label-fractions",
        "1.0",
    ]
    common += ["--data", str(eegmat_path), "--pretrained-cache", str(tmp_path / "cache")]
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert bench.main([*common, "--out", str(first)]) == 0
    assert "loaded the pretrained EEGM2" not in capsys.readouterr().out
    (folder,) = (tmp_path / "cache").iterdir()
    assert (folder / "model.safetensors").is_file() and (folder / "benchmark.json").is_file()

    assert bench.main([*common, "--out", str(second)]) == 0
    assert f"loaded the pretrained EEGM2 from {folder}" in capsys.readouterr().out
    assert _scores(second) == _scores(first)
    rows = [next(csv.DictReader(p.open())) for p in (first, second)]
    assert rows[0]["pretrain_seconds"] == rows[1]["pretrain_seconds"]

    # other pretraining settings: another folder, trained anew
    assert bench.main([*common, "--pretrain-lr", "1e-3", "--out", str(tmp_path / "x.csv")]) == 0
    assert "loaded the pretrained" not in capsys.readouterr().out
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_validation_mode_scores_training_subjects_and_never_test_subjects(
    bench, eegmat_path, tmp_path, capsys
):
    out = tmp_path / "select.csv"
    common = [
        "--smoke",
        "--protocols",
        "none",
        "--models",
        "bandpower",
    ]  # smoke: label fractions 0.5 and 1.0
    argv = [*common, "--data", str(eegmat_path), "--out", str(out), "--validation-subjects", "1"]
    assert bench.main(argv) == 0
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["evaluation"] for r in rows} == {"validation"}
    raws = bench.load_recordings(
        bench.resolve_args(["--smoke", "--protocols", "none", "--data", str(eegmat_path)])
    )
    folds = bench.subject_folds(raws, 2)
    for r in rows:
        scored = {int(s) for s in r["test_subjects"].split()}
        test = set(folds[int(r["fold"])].tolist())
        # one validation subject, drawn from the fold's 3 training subjects; 2 left to train
        assert len(scored) == 1 and not scored & test
        assert int(r["n_train_subjects"]) == (2 if float(r["label_fraction"]) == 1.0 else 1)
    assert "VALIDATION scores" in capsys.readouterr().out

    # nor are they summarized together
    test_out = tmp_path / "test.csv"
    assert bench.main([*common, "--data", str(eegmat_path), "--out", str(test_out)]) == 0
    with pytest.raises(SystemExit, match="mix test and validation"):
        bench.main(["--summarize", str(out), str(test_out)])

    # validation rows and test rows never share a CSV
    with pytest.raises(SystemExit, match="holds validation scores"):
        bench.main([*common, "--data", str(eegmat_path), "--out", str(out), "--resume"])


def test_validation_subjects_must_leave_training_subjects(bench):
    with pytest.raises(SystemExit, match="between 1 and 28"):
        bench.validation_subjects(np.arange(30), 29, seed=0, fold=0)
    picked = bench.validation_subjects(np.arange(30), 5, seed=0, fold=0)
    assert len(picked) == 5 and set(picked) <= set(range(30))
    np.testing.assert_array_equal(picked, bench.validation_subjects(np.arange(30), 5, 0, 0))


def test_eegm2_scaling_none_feeds_tens_of_microvolts(bench):
    X = np.full((2, 3, 8), 2e-5, dtype=np.float32)  # 20 uV
    args = bench.resolve_args(["--smoke", "--protocols", "none", "--eegm2-scaling", "none"])
    assert bench.eegm2_common(args)["scaling"] is None
    np.testing.assert_allclose(bench.eegm2_input(X, args), 2.0, rtol=1e-6)
    assert bench.model_settings("eegm2-scratch", args)["scaling"] == "none"

    args = bench.resolve_args(["--smoke"])
    assert bench.eegm2_common(args)["scaling"] == "robust"
    assert bench.eegm2_input(X, args) is X


def test_calibrated_protocol_runs_every_model_beside_the_uncalibrated_one(
    bench, eegmat_path, tmp_path
):
    out = tmp_path / "protocols.csv"
    argv = ["--smoke", "--models", "bandpower", "riemann", "eegm2-probe", "--folds", "0"]
    argv += ["--label-fractions", "1.0", "--data", str(eegmat_path), "--out", str(out)]
    assert bench.main(argv) == 0
    rows = {r["model"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == {
        f"{m}{s}" for m in ("bandpower", "riemann", "eegm2-probe") for s in ("", "+calibrated")
    }
    assert all(r["status"] == "ok" for r in rows.values())
    assert rows["riemann+calibrated"]["model_label"].endswith(", calibrated")
    import json

    assert json.loads(rows["eegm2-probe+calibrated"]["settings"])["protocol"] == "calibrated"
    assert json.loads(rows["bandpower"]["settings"])["protocol"] == "none"
    # the same test subjects, other scores: calibration changes what the models see
    assert rows["bandpower"]["test_subjects"] == rows["bandpower+calibrated"]["test_subjects"]
    assert rows["bandpower"]["roc_auc"] != rows["bandpower+calibrated"]["roc_auc"]


def test_calibration_standardises_features_and_aligns_signals_per_subject(bench):
    from benchmarks.eegmat.models import aligned, standardise_per_subject

    rng = np.random.default_rng(0)
    groups = np.repeat([3, 7], 20)
    F = rng.normal(size=(40, 5)) * np.where(groups[:, None] == 3, 10.0, 1.0) + 4.0
    Z = standardise_per_subject(F, groups)
    for g in (3, 7):
        np.testing.assert_allclose(Z[groups == g].mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(Z[groups == g].std(0), 1, atol=1e-12)
    X = rng.normal(size=(40, 3, 64))
    X[groups == 3] *= 1e-5  # one subject in volts, the other unitless: the same afterwards
    A = aligned(X, groups)
    assert abs(A[groups == 3].std() - A[groups == 7].std()) < 0.05
