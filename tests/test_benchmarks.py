"""The EEGMAT accuracy benchmark's smoke mode, on its fast band-power baseline only."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "eegmat_accuracy.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("eegmat_accuracy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


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
    argv = ["--smoke", "--models", "bandpower", "--data", str(eegmat_path), "--out", str(out)]
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
