"""SubjectAlign and its maths on real EEG: what alignment guarantees, how the subject travels
with the data, and cross-validation with EEGM2, band power and a braindecode model."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.data import align_by_group, fit_alignment
from eegm2_sklearn.preprocessing import SubjectAlign

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def windows(eegmat_epochs_small):
    epochs, y, groups = eegmat_epochs_small
    return epochs.copy(), y, groups


def _mean_cov(Z):
    Zc = Z - Z.mean(-1, keepdims=True)
    return np.einsum("nct,ndt->cd", Zc, Zc) / (Z.shape[0] * (Z.shape[2] - 1))


def test_euclidean_alignment_whitens_each_subjects_mean_covariance(windows):
    epochs, _, groups = windows
    Z = SubjectAlign(method="euclidean").fit_transform(epochs).get_data()
    for subject in np.unique(groups):
        np.testing.assert_allclose(_mean_cov(Z[groups == subject]), np.eye(19), atol=1e-4)


def test_riemannian_alignment_whitens_the_riemannian_mean(windows):
    from pyriemann.estimation import Covariances
    from pyriemann.geometry.mean import mean_riemann

    epochs, _, groups = windows
    X = epochs.get_data()
    for subject in np.unique(groups):
        rows = groups == subject
        alignment = fit_alignment(X[rows], "riemann")
        covs = Covariances("oas").fit_transform(X[rows])
        unit = np.trace(covs.mean(0)) / 19  # pyRiemann's mean on a unit scale
        mean = mean_riemann(covs / unit) * unit
        A = alignment.matrix
        np.testing.assert_allclose(A @ mean @ A.T, np.eye(19), atol=1e-6)


def test_standardize_uses_the_subjects_median_and_iqr(windows):
    epochs, _, groups = windows
    X = epochs.get_data()
    Z = SubjectAlign(method="standardize").fit_transform(X, groups=groups)
    for subject in np.unique(groups):
        flat = Z[groups == subject].transpose(1, 0, 2).reshape(X.shape[1], -1)
        q25, q50, q75 = np.percentile(flat, [25, 50, 75], axis=1)
        np.testing.assert_allclose(q50, 0, atol=1e-5)
        np.testing.assert_allclose(q75 - q25, 1, atol=1e-4)


def test_alignment_removes_a_subjects_gain_and_keeps_relative_power(windows):
    epochs, _, groups = windows
    X = epochs.get_data()
    scaled = X.copy()
    scaled[groups == groups[0]] *= 37.0  # one subject recorded with another gain
    A = SubjectAlign().fit_transform(X, groups=groups)
    B = SubjectAlign().fit_transform(scaled, groups=groups)
    np.testing.assert_allclose(A, B, rtol=1e-3, atol=1e-4)
    # within a subject, a window with twice the amplitude stays twice as large
    rows = np.flatnonzero(groups == groups[0])
    doubled = X.copy()
    doubled[rows[0]] *= 2.0
    alignment = fit_alignment(X[rows])
    np.testing.assert_allclose(
        alignment.apply(doubled[rows[:1]]), 2 * alignment.apply(X[rows[:1]]), rtol=1e-4
    )


def test_new_subjects_use_their_own_windows_known_ones_the_fitted_statistics(windows):
    epochs, _, groups = windows
    subjects = np.unique(groups)
    train = np.isin(groups, subjects[:2])
    align = SubjectAlign().fit(epochs[np.flatnonzero(train)])
    assert sorted(align.alignments_) == sorted(subjects[:2].tolist())
    test = epochs[np.flatnonzero(~train)]
    expected, _ = align_by_group(test.get_data(), groups[~train])
    np.testing.assert_allclose(align.transform(test).get_data(), expected, rtol=1e-5, atol=1e-6)
    # one window of a known subject is aligned with that subject's fitted statistics
    one = epochs[[0]]
    np.testing.assert_allclose(
        align.transform(one).get_data(),
        align.alignments_[groups[0]].apply(one.get_data()),
        rtol=1e-5,
        atol=1e-6,
    )


def test_subject_comes_from_metadata_or_groups_and_output_keeps_the_kind(windows):
    epochs, _, groups = windows
    from_meta = SubjectAlign().fit_transform(epochs)
    assert isinstance(from_meta, mne.BaseEpochs)
    assert from_meta.ch_names == epochs.ch_names and from_meta.info["sfreq"] == 128.0
    pd.testing.assert_frame_equal(from_meta.metadata, epochs.metadata)
    from_groups = SubjectAlign().fit_transform(epochs.get_data(), groups=groups)
    assert isinstance(from_groups, np.ndarray) and from_groups.dtype == np.float32
    np.testing.assert_allclose(from_meta.get_data(), from_groups, rtol=1e-5, atol=1e-6)
    as_list = SubjectAlign().fit_transform([epochs[i] for i in range(10)])
    np.testing.assert_allclose(
        as_list.get_data(),
        SubjectAlign().fit_transform(epochs[:10]).get_data(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_errors_say_what_to_do(windows):
    epochs, _, groups = windows
    X = epochs.get_data()
    with pytest.raises(ValueError, match="pass groups="):
        SubjectAlign().fit(X)
    no_meta = mne.EpochsArray(X, epochs.info, verbose="error")
    with pytest.raises(ValueError, match=r"metadata\['subject'\].*columns \[\]"):
        SubjectAlign().fit(no_meta)
    with pytest.raises(ValueError, match="one subject per window: 240 windows"):
        SubjectAlign().fit(X, groups=groups[:10])
    with pytest.raises(ValueError, match="expected one of 'euclidean', 'riemann'"):
        SubjectAlign(method="zscore").fit(X, groups=groups)
    with pytest.raises(ValueError, match="longer than the channel count"):
        SubjectAlign(method="riemann").fit(X[:, :, :10], groups=groups)
    fitted = SubjectAlign().fit(X, groups=groups)
    with pytest.raises(ValueError, match="3 channels but SubjectAlign was fitted on 19"):
        fitted.transform(X[:, :3], groups=groups)
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SubjectAlign().fit(bad, groups=groups)


def test_arrays_route_groups_through_a_pipeline(windows):
    epochs, y, groups = windows
    X = epochs.get_data()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            SubjectAlign().set_fit_request(groups=True).set_transform_request(groups=True),
            FunctionTransformer(lambda Z: np.log(Z.var(axis=-1))),
            LogisticRegression(max_iter=1000),
        )
        pipe.fit(X, y, groups=groups)
        assert pipe.predict(X, groups=groups).shape == (len(y),)


def _log_variance(epochs_or_array):
    data = epochs_or_array.get_data() if hasattr(epochs_or_array, "get_data") else epochs_or_array
    return np.log(data.var(axis=-1))


def test_cross_validation_on_epochs_with_eegm2_band_power_and_braindecode(windows):
    epochs, y, groups = windows
    cv = GroupKFold(2)
    power = make_pipeline(
        SubjectAlign(),
        FunctionTransformer(_log_variance),
        StandardScaler(),
        LogisticRegression(max_iter=1000, class_weight="balanced"),
    )
    scores = cross_val_score(power, epochs, y, groups=groups, cv=cv, scoring="balanced_accuracy")
    # on these four subjects the aligned log-variance separates rest from arithmetic
    assert scores.mean() > 0.6, scores
    eegm2 = make_pipeline(
        SubjectAlign(), EEGM2Classifier(scaling=None, max_epochs=2, verbose=0, **TINY)
    )
    scores = cross_val_score(eegm2, epochs, y, groups=groups, cv=cv, scoring="balanced_accuracy")
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))

    from eegm2_sklearn.environment import import_braindecode

    braindecode = import_braindecode("braindecode")
    models = import_braindecode("braindecode.models")
    shallow = braindecode.EEGClassifier(
        models.ShallowFBCSPNet,
        module__n_chans=19,
        module__n_outputs=2,
        module__n_times=512,
        max_epochs=1,
        batch_size=32,
        train_split=None,
        verbose=0,
        classes=[0, 1],
    )
    pipe = make_pipeline(
        SubjectAlign(), FunctionTransformer(lambda e: e.get_data().astype("float32")), shallow
    )
    y_int = (y == "arithmetic").astype(np.int64)  # skorch classifiers take encoded labels
    scores = cross_val_score(pipe, epochs, y_int, groups=groups, cv=cv, scoring="balanced_accuracy")
    assert scores.shape == (2,)


def test_classifier_pretrains_an_unfitted_pretrainer_in_every_fit(windows):
    epochs, y, groups = windows
    subjects = np.unique(groups)
    pre = EEGM2Pretrainer(max_epochs=1, mask_span=32, verbose=0, **TINY)
    clf = EEGM2Classifier(pretrained=pre, max_epochs=1, verbose=0, **TINY)
    weights = []
    for part in (subjects[:2], subjects[2:]):
        rows = np.flatnonzero(np.isin(groups, part))
        clf.fit(epochs[rows], y[rows])
        assert clf.pretrainer_ is not pre and not hasattr(pre, "net_")  # a fitted copy
        assert clf.pretrainer_.n_chans_ == 19 and len(clf.pretrainer_.history_) == 1
        weights.append(
            clf.pretrainer_.module_.state_dict()["encoder.embedding.fuse.weight"].clone()
        )
    assert not np.allclose(weights[0].numpy(), weights[1].numpy())  # each fit its own data
