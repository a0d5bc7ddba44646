"""The gallery scripts in examples/ run in their short mode and produce what they promise.

Each ``examples/plot_*.py`` runs with ``EEGM2_EXAMPLES_QUICK=1`` (fewer subjects and
epochs) under the Agg backend, from the examples folder as sphinx-gallery runs it. These
tests carry the ``examples`` marker: deselect them with ``-m "not examples"``. Scripts that
load EEGMAT are skipped when the data folder is absent (see ``tests/conftest.py``).

The full gallery runs in the documentation build (``python -m sphinx -W -b html docs
docs/_build/html``), which CI does not do: see ``docs/contributing.rst``.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))


def _check_pretrain(ns):
    assert len(ns["pre"].history_) == ns["max_epochs"]
    assert ns["x_hat"].shape == (1, 19, 1024)
    assert np.all(np.isfinite(ns["corr"]))


def _check_finetune_cv(ns):
    assert len(ns["scores"]) == ns["n_splits"]
    assert np.all((ns["scores"] >= 0) & (ns["scores"] <= 1))
    assert set(ns["y_pred"]) <= {"rest", "arithmetic"}


def _check_linear_probe(ns):
    assert len(ns["results"]) == 3
    assert all(len(s) == ns["n_splits"] for s in ns["results"].values())
    assert ns["features"].shape == (2, 9 * 4 * 8)


def _check_gridsearch(ns):
    assert ns["search"].best_params_["prep__h_freq"] in (20.0, 40.0)
    assert ns["proba"].shape == (3, 2)
    np.testing.assert_allclose(ns["proba"].sum(axis=1), 1.0, rtol=1e-6)


def _check_long_windows(ns):
    assert {"eegm2-torch-fp32", "attention-fp32"} <= set(ns["results"]["config"])
    assert ns["x_hat"].shape == (1, 19, 120 * 128)


def _check_save_load(ns):
    assert ns["same"]
    assert set(ns["summary"]) == {"frozen", "full", "light"}
    s = ns["summary"]
    assert s["frozen"]["trainable"] < s["frozen"]["total"]
    assert s["full"]["trainable"] == s["full"]["total"]
    assert s["light"]["total"] < s["full"]["total"]


CHECKS = {
    "plot_01_pretrain_eegmat": _check_pretrain,
    "plot_02_finetune_cross_validation": _check_finetune_cv,
    "plot_03_linear_probe": _check_linear_probe,
    "plot_04_preprocessing_gridsearch": _check_gridsearch,
    "plot_05_long_windows": _check_long_windows,
    "plot_06_save_load_finetune": _check_save_load,
}


def test_every_example_has_a_check():
    assert len(SCRIPTS) >= 5
    assert {s.stem for s in SCRIPTS} == set(CHECKS)


@pytest.mark.examples
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_example_runs_in_quick_mode(script, request, monkeypatch):
    if "fetch_eegmat" in script.read_text():
        data = request.getfixturevalue("eegmat_path")  # skips without the data
        monkeypatch.setenv("EEGM2_DATA", str(data))
    monkeypatch.setenv("EEGM2_EXAMPLES_QUICK", "1")
    monkeypatch.chdir(EXAMPLES)
    plt.close("all")
    try:
        namespace = runpy.run_path(str(script), run_name="__main__")
        figures = [plt.figure(n) for n in plt.get_fignums()]
        assert figures, f"{script.name} drew no figure"
        assert all(fig.axes for fig in figures), f"{script.name} left an empty figure"
        CHECKS[script.stem](namespace)
    finally:
        plt.close("all")
