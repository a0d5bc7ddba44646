"""The gallery scripts in examples/ run in their short mode and produce what they promise.

Each ``examples/plot_*.py`` runs with ``EEGM2_EXAMPLES_QUICK=1`` (fewer subjects and
epochs) under the Agg backend, from the examples folder as sphinx-gallery runs it. These
tests carry the ``examples`` marker: deselect them with ``-m "not examples"``. Scripts that
load EEGMAT are skipped when the data folder is absent (see ``tests/conftest.py``).

The full gallery runs in the documentation build (``python -m sphinx -W -b html docs
docs/_build/html``), which CI does not do: see ``docs/development.rst``. The last test
checks that the error messages quoted in ``docs/user_guide/troubleshooting.rst`` are still
the ones the package raises.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TROUBLESHOOTING = ROOT / "docs" / "user_guide" / "troubleshooting.rst"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))


def _check_pretrain(ns, out):
    assert len(ns["pre"].history_) == ns["max_epochs"]
    assert ns["x_hat"].shape == (1, 19, 1024)
    assert np.all(np.isfinite(ns["corr"]))


def _check_finetune_cv(ns, out):
    n = ns["n_splits"]
    assert len(ns["eegm2_scores"]) == n and len(ns["power_scores"]) == n
    # every window is predicted once, by the model of the fold that tested it
    y_pred, y = ns["y_pred"], ns["y"]
    assert set(y_pred) <= {"rest", "arithmetic"} and len(y_pred) == len(y)
    from sklearn.metrics import balanced_accuracy_score

    for k, test in enumerate(ns["result"]["indices"]["test"]):
        score = balanced_accuracy_score(y[test], y_pred[test])
        assert score == pytest.approx(ns["eegm2_scores"][k])
        assert set(ns["groups"][test]).isdisjoint(ns["groups"][ns["result"]["indices"]["train"][k]])
        # the table prints each fold's two scores
        assert re.search(
            rf"^ +{k}  .*  {ns['eegm2_scores'][k]:.3f}  {ns['power_scores'][k]:.3f}$", out, re.M
        )
    # each fold pretrained its own copy, on its training windows only
    pretrainers = [model[-1].pretrainer_ for model in ns["result"]["estimator"]]
    assert len({id(p) for p in pretrainers}) == n
    assert all(len(p.history_) == ns["pretrain_epochs"] for p in pretrainers)
    # calibrated band power separates the states even on the quick run's 8 subjects
    assert ns["power_scores"].mean() > 0.6
    # the last line, which the README quotes, holds the means over the folds
    last = out.strip().splitlines()[-1]
    found = re.fullmatch(r"EEGM2 balanced accuracy (\d\.\d{3}), band power (\d\.\d{3})", last)
    assert found, last
    assert found.groups() == (
        f"{ns['eegm2_scores'].mean():.3f}",
        f"{ns['power_scores'].mean():.3f}",
    )


def _check_linear_probe(ns, out):
    assert len(ns["results"]) == 3
    assert all(len(s) == ns["n_splits"] for s in ns["results"].values())
    assert ns["features"].shape == (2, 9 * 4 * 8)
    # the frozen pretrainer was trained once, before cross-validation, never refitted
    assert len(ns["pre"].history_) == ns["max_epochs"]
    for name, scores in ns["results"].items():
        assert f"{name.replace(chr(10), ' '):60s} {scores.mean():.3f}" in out


def _check_gridsearch(ns, out):
    from sklearn.base import clone
    from sklearn.metrics import balanced_accuracy_score

    search, epochs, y, groups = ns["search"], ns["epochs"], ns["y"], ns["groups"]
    n_candidates = int(np.prod([len(v) for v in ns["param_grid"].values()]))
    assert len(search.cv_results_["params"]) == n_candidates >= 2
    assert f"balanced accuracy {search.best_score_:.3f}" in out
    assert ns["proba"].shape == (3, 2)
    np.testing.assert_allclose(ns["proba"].sum(axis=1), 1.0, rtol=1e-6)
    # the refitted pipeline resamples the 500 Hz windows itself: its classifier saw 128 Hz
    best = search.best_estimator_
    assert epochs.info["sfreq"] == 500.0
    assert (best[-1].sfreq_, best[-1].n_times_) == (128.0, 512)
    assert len(best[-1].history_) == ns["max_epochs"]
    # a fold's score is reproducible: the best candidate refitted on the first fold
    train, test = next(search.cv.split(np.zeros(len(y)), y, groups))
    model = clone(ns["pipe"]).set_params(**search.best_params_)
    model.fit([epochs[i] for i in train], y[train])
    score = balanced_accuracy_score(y[test], model.predict([epochs[i] for i in test]))
    assert score == search.cv_results_["split0_test_score"][search.best_index_]


def _check_long_windows(ns, out):
    assert {"eegm2-mamba_ssm-bf16", "attention-bf16"} <= set(ns["results"]["config"])
    assert ns["x_hat"].shape == (1, 19, 120 * 128)


def _check_save_load(ns, out):
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
def test_example_runs_in_quick_mode(script, request, monkeypatch, capsys):
    if "fetch_eegmat" in script.read_text():
        data = request.getfixturevalue("eegmat_path")  # skips without the data
        monkeypatch.setenv("EEGM2_DATA", str(data))
    monkeypatch.setenv("EEGM2_EXAMPLES_QUICK", "1")
    monkeypatch.chdir(EXAMPLES)
    plt.close("all")
    try:
        namespace = runpy.run_path(str(script), run_name="__main__")
        out = capsys.readouterr().out
        figures = [plt.figure(n) for n in plt.get_fignums()]
        assert figures, f"{script.name} drew no figure"
        assert all(fig.axes for fig in figures), f"{script.name} left an empty figure"
        CHECKS[script.stem](namespace, out)
    finally:
        plt.close("all")


# ----------------------------------------------------------------------------- troubleshooting
def _normalise(text: str) -> str:
    return " ".join(text.split())


def _message(fn) -> str:
    """The text of the exception or warning that ``fn`` raises, as the page quotes it."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - any exception the page quotes
            return f"{type(err).__name__}: {err}"
    for w in caught:
        if issubclass(w.category, UserWarning) and w.category.__module__ == "builtins":
            return f"{w.category.__name__}: {w.message}"
    raise AssertionError("no error or UserWarning raised")


def test_troubleshooting_quotes_current_messages(tmp_path, monkeypatch):
    """Each message quoted on the troubleshooting page is what the code says today."""
    import mne
    import torch

    from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
    from eegm2_sklearn.datasets import fetch_eegmat
    from eegm2_sklearn.ops import mamba_ssm_available

    page = _normalise(TROUBLESHOOTING.read_text())
    tiny = dict(base_width=8, expand=2, headdim=8, d_state=4, max_epochs=1, batch_size=8)
    tiny.update(device="cpu", random_state=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4, 64)).astype("float32")
    y = np.array(["a", "b"] * 8)
    X_nan = X.copy()
    X_nan[3, 1, 5] = np.nan
    info = mne.create_info([f"c{i}" for i in range(4)], 128.0, "eeg")
    raw = mne.io.RawArray(rng.standard_normal((4, 128 * 20)) * 1e-5, info, verbose=False)
    epochs = mne.EpochsArray(X * 1e-5, info, verbose=False)
    epochs_256 = mne.EpochsArray(X * 1e-5, mne.create_info(info.ch_names, 256.0, "eeg"))
    renamed = mne.create_info(["c0", "c1", "c2", "x3"], 128.0, "eeg")
    epochs_renamed = mne.EpochsArray(X * 1e-5, renamed, verbose=False)

    pre = EEGM2Pretrainer(mask_span=8, **tiny).fit(X)
    pre_epochs = EEGM2Pretrainer(mask_span=8, **tiny).fit(epochs)
    clf = EEGM2Classifier(head="flatten", **tiny).fit(X, y)

    cases = {
        "nan": lambda: EEGM2Pretrainer(**tiny).fit(X_nan),
        "ndim": lambda: EEGM2Pretrainer(**tiny).fit(X[0]),
        "empty": lambda: EEGM2Pretrainer(**tiny).fit(X[:0]),
        "short": lambda: EEGM2Pretrainer(**tiny).fit(X[:, :, :4]),
        "raw without window": lambda: EEGM2Pretrainer(**tiny).fit(raw),
        "raw to classifier": lambda: EEGM2Classifier(**tiny).fit(raw, y),
        "one class": lambda: EEGM2Classifier(**tiny).fit(X, np.array(["a"] * 16)),
        "y length": lambda: EEGM2Classifier(**tiny).fit(X, y[:5]),
        "channel count": lambda: pre.transform(X[:, :3]),
        "channel names": lambda: pre_epochs.transform(epochs_renamed),
        "sfreq": lambda: pre_epochs.transform(epochs_256),
        "flatten length": lambda: clf.predict(X[:, :, :32]),
        "not fitted": lambda: EEGM2Classifier().predict(X),
        "unfitted pretrained": lambda: EEGM2Classifier(
            pretrained=FrozenEstimator(EEGM2Pretrainer()), **tiny
        ).fit(X, y),
        "pretrained channels": lambda: EEGM2Classifier(pretrained=pre, **tiny).fit(X[:, :3], y),
        "pretrained sfreq": lambda: EEGM2Classifier(pretrained=pre_epochs, **tiny).fit(
            epochs_256, y
        ),
        "pretrained scaling": lambda: EEGM2Classifier(
            pretrained=pre, **{**tiny, "scaling": None}
        ).fit(X, y),
        "missing folder": lambda: EEGM2Pretrainer.from_pretrained("my_pretrained"),
        "parameters": lambda: EEGM2Pretrainer(**{**tiny, "scaling": "zscore", "lr": -1}).fit(X),
    }
    if not torch.cuda.is_available():
        cases["cuda"] = lambda: EEGM2Pretrainer(**{**tiny, "device": "cuda"}).fit(X)
    if not mamba_ssm_available():
        cases["mamba_ssm"] = lambda: EEGM2Pretrainer(**{**tiny, "backend": "mamba_ssm"}).fit(X)

    monkeypatch.delenv("EEGM2_DATA", raising=False)
    monkeypatch.setenv("HOME", "/home/user")
    monkeypatch.delenv("MNE_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    if not mne.get_config("MNE_DATASETS_EEGMAT_PATH") and not mne.get_config("MNE_DATA"):
        cases["eegmat missing"] = lambda: fetch_eegmat(
            subjects=[0], path="my_eeg", download=False, verbose=False
        )

    stale = {}
    for name, fn in cases.items():
        message = _normalise(_message(fn))
        if name == "cuda":  # the versions in the message differ between machines
            message = message.split(" (torch ")[0]
        if message not in page:
            stale[name] = message
    assert not stale, "troubleshooting.rst quotes outdated messages:\n" + "\n".join(
        f"{k}: {v}" for k, v in stale.items()
    )


# ----------------------------------------------------------------------------- API reference
PUBLIC_MODULES = (
    "eegm2_sklearn",
    "eegm2_sklearn.datasets",
    "eegm2_sklearn.preprocessing",
    "eegm2_sklearn.viz",
    "eegm2_sklearn.models",
    "eegm2_sklearn.ops",
    "eegm2_sklearn.data",
    "eegm2_sklearn.training",
)


def test_api_reference_lists_every_public_object():
    """docs/api.rst names every object in the ``__all__`` of the public modules."""
    import importlib
    import re

    api = (ROOT / "docs" / "api.rst").read_text()
    listed = set(re.findall(r"^   ([A-Za-z_][A-Za-z0-9_]*)$", api, flags=re.M))
    listed |= set(re.findall(r"^\.\. (?:autodata|data):: ([A-Za-z_][A-Za-z0-9_]*)$", api, re.M))
    missing = {}
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        absent = sorted(set(module.__all__) - listed - {"__version__"})
        if absent:
            missing[name] = absent
    assert "TemporalSpectralLoss" in listed
    assert not missing, f"add these to docs/api.rst: {missing}"
