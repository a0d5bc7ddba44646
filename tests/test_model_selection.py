"""The estimators inside scikit-learn's model selection: grid search, cross-validation."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    StratifiedKFold,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.preprocessing import EEGPreprocessor

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=32)


def trained_windows(model) -> int:
    """Windows the model's first training epoch went through."""
    return sum(b["train_batch_size"] for b in model.history_[0, "batches"])


def two_rhythms(n: int = 96, seed: int = 0):
    """Windows of 3 channels, 1 s at 128 Hz: a 4 Hz ("a") or 16 Hz ("b") sine in noise."""
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b"] * (n // 2))
    t = np.arange(128) / 128.0
    freq = np.where(y == "a", 4.0, 16.0)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 3, 1))
    X = np.sin(2 * np.pi * freq * t + phase) + 0.5 * rng.standard_normal((n, 3, 128))
    return X.astype("float32"), y


def test_grid_search_picks_the_learning_rate_that_learns():
    """Of lr = 1e-9 (no learning), 5e-3 and 1.0 (diverges), 5e-3 wins and is refitted.

    Measured balanced accuracies: 0.52 (1e-9), 1.0 and 1.0 (5e-3, both folds); lr=1.0
    reaches a NaN loss in epoch 2, so its fits fail and score NaN.
    """
    X, y = two_rhythms()
    grid = GridSearchCV(
        EEGM2Classifier(head="pool", max_epochs=3, random_state=0, verbose=0, **TINY)
        .set_params(batch_size=16),
        {"lr": [1e-9, 5e-3, 1.0]},
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
        scoring="balanced_accuracy",
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grid.fit(X, y)
    res = grid.cv_results_
    assert grid.best_params_ == {"lr": 5e-3} and grid.best_index_ == 1
    assert res["rank_test_score"][1] == 1 and res["rank_test_score"][2] == 3
    assert res["mean_test_score"][1] > 0.9 and res["mean_test_score"][0] < 0.7
    failed = [str(w.message) for w in caught if issubclass(w.category, FitFailedWarning)]
    if np.isnan(res["mean_test_score"][2]):  # diverged: NonFiniteLossError, not a crash
        assert failed and all("training loss is nan" in m for m in failed)
    else:  # or trained into nonsense
        assert res["mean_test_score"][2] < 0.7
    # refit=True: the best lr, trained on every window
    best = grid.best_estimator_
    assert best.lr == 5e-3 and trained_windows(best) == len(X)
    assert balanced_accuracy_score(y, best.predict(X)) > 0.9


def test_cross_validated_score_comes_from_the_labels():
    """The rhythms are learnt from their labels (measured: 1.0 in both folds); with the
    labels shuffled the same model stays at chance (measured: 0.46 and 0.52)."""
    X, y = two_rhythms()
    clf = EEGM2Classifier(
        head="pool", max_epochs=3, lr=5e-3, random_state=0, verbose=0, **{**TINY, "batch_size": 16}
    )
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    real = cross_val_score(clf, X, y, cv=cv, scoring="balanced_accuracy")
    shuffled = cross_val_score(
        clf, X, np.random.default_rng(0).permutation(y), cv=cv, scoring="balanced_accuracy"
    )
    assert real.min() > 0.9 and shuffled.mean() < 0.7


def test_cross_val_score_on_epochs_with_preprocessing(eegmat_two_subjects):
    """sklearn indexes Epochs into a list of one-epoch Epochs; the pipeline takes it. Each
    fold's score is its own model's on its test subject, and a seed repeats the scores."""
    epochs, y, groups = eegmat_two_subjects
    pipe = make_pipeline(
        EEGPreprocessor(l_freq=1.0, h_freq=40.0),
        EEGM2Classifier(head="pool", max_epochs=1, random_state=0, **TINY),
    )
    cv = GroupKFold(2)
    scores = cross_val_score(pipe, epochs, y, groups=groups, cv=cv, scoring="balanced_accuracy")
    result = cross_validate(
        pipe, epochs, y, groups=groups, cv=cv, scoring="balanced_accuracy",
        return_estimator=True, return_indices=True,
    )  # fmt: skip
    np.testing.assert_array_equal(result["test_score"], scores)  # the same seed, the same scores
    assert scores.shape == (2,)
    indices = result["indices"]
    folds = zip(result["estimator"], indices["train"], indices["test"], scores, strict=True)
    for model, train, test, score in folds:
        assert set(groups[train]).isdisjoint(groups[test])
        assert trained_windows(model[-1]) == len(train)
        assert score == balanced_accuracy_score(y[test], model.predict(epochs[test]))


class RecordBackboneAtStart(Callback):
    def on_train_begin(self, net, **kwargs):
        self.backbone = {k: v.clone() for k, v in net.module_.backbone.state_dict().items()}


def test_cross_validation_with_a_fitted_pretrainer(eegmat_two_subjects):
    """clone() keeps the fitted pretrainer: every fold starts from its weights."""
    epochs, y, groups = eegmat_two_subjects
    pretrainer = EEGM2Pretrainer(max_epochs=1, random_state=0, verbose=0, **TINY).fit(epochs)
    clf = EEGM2Classifier(
        pretrained=pretrainer,
        head="pool",
        max_epochs=1,
        random_state=0,
        batch_size=32,
        callbacks=[("start", RecordBackboneAtStart())],
    )
    assert clone(clf).pretrained is pretrainer
    result = cross_validate(clf, epochs, y, groups=groups, cv=GroupKFold(2), return_estimator=True)
    assert result["test_score"].shape == (2,)
    saved = pretrainer.module_.state_dict()
    for model in result["estimator"]:
        start = dict(model.net_.callbacks_)["start"].backbone
        assert start.keys() == saved.keys()
        for k, v in saved.items():
            torch.testing.assert_close(start[k], v, rtol=0, atol=0)
    frozen = EEGM2Classifier(
        pretrained=FrozenEstimator(pretrainer),
        head="pool",
        max_epochs=1,
        random_state=0,
        batch_size=32,
    ).fit(epochs, y)
    plain = EEGM2Classifier(
        pretrained=pretrainer, head="pool", max_epochs=1, random_state=0, batch_size=32
    ).fit(epochs, y)
    np.testing.assert_array_equal(frozen.predict_proba(epochs[:5]), plain.predict_proba(epochs[:5]))
