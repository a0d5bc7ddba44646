"""EEGM2Pretrainer and EEGM2Classifier on real EEG (EEGMAT) and on shaped arrays."""

from __future__ import annotations

import pickle

import joblib
import mne
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.models import TemporalSpectralLoss

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=32)


@pytest.fixture(scope="module")
def small(eegmat_two_subjects):
    """Two subjects' windows (about 120 x 19 x 512)."""
    return eegmat_two_subjects


@pytest.fixture(scope="module")
def pretrainer(small):
    epochs = small[0]
    return EEGM2Pretrainer(max_epochs=2, random_state=0, **TINY).fit(epochs)


# ---------------------------------------------------------------- pretrainer


def test_pretrainer_fits_epochs_and_records_shapes(pretrainer, small):
    epochs = small[0]
    assert pretrainer.n_chans_ == 19 and pretrainer.n_times_ == 512
    assert pretrainer.sfreq_ == 128.0 and pretrainer.ch_names_ == epochs.ch_names
    assert pretrainer.n_features_in_ == 19
    losses = pretrainer.history_[:, "train_loss"]
    assert len(losses) == 2 and losses[1] < losses[0]
    feats = pretrainer.transform(epochs)
    assert feats.shape == (len(epochs), 9 * 32) and np.isfinite(feats).all()
    names = pretrainer.get_feature_names_out()
    assert names[0] == "min_ch0" and names[-1] == "q95_ch31" and len(names) == feats.shape[1]


def test_pretrainer_units_epochs_equal_array(pretrainer, small):
    """MNE objects are read in volts: Epochs and epochs.get_data() give the same output."""
    epochs = small[0][:10]
    np.testing.assert_array_equal(
        pretrainer.transform(epochs), pretrainer.transform(epochs.get_data(picks="data"))
    )


def robust_scaled(X):
    """Per-window, per-channel ``(x - median) / IQR`` (the documented ``scaling="robust"``)."""
    X = X.astype(np.float32)
    q25, median, q75 = np.percentile(X, [25, 50, 75], axis=-1, keepdims=True)
    return (X - median.astype(np.float32)) / (q75 - q25).astype(np.float32), median, q75 - q25


def test_reconstruct_and_score_are_the_network_output_and_loss(pretrainer, small):
    epochs = small[0][:8]
    X = epochs.get_data()
    Z, median, iqr = robust_scaled(X)
    module = pretrainer.module_.eval()
    with torch.no_grad():
        Z_t = torch.as_tensor(Z)
        Z_hat = module(Z_t)
        loss = float(TemporalSpectralLoss(pretrainer.alpha, pretrainer.beta)(Z_hat, Z_t))
    X_hat = pretrainer.reconstruct(epochs)
    assert X_hat.shape == X.shape and X_hat.dtype == np.float32
    # back in volts: the network's output with the scaling undone (measured: identical;
    # rtol 1e-6 leaves room for float32 rounding in another order of operations)
    expected = Z_hat.numpy() * iqr.astype(np.float32) + median.astype(np.float32)
    np.testing.assert_allclose(X_hat, expected, rtol=1e-6, atol=0)
    assert pretrainer.score(epochs) == -loss  # measured: equal
    # the masked training loss of the last epoch, its weights still moving, is within
    # 2 % of the score (measured 1.9 %)
    assert pretrainer.score(epochs) == pytest.approx(
        -pretrainer.history_[-1, "train_loss"], rel=0.1
    )


def test_score_of_held_out_windows_is_the_validation_loss(small):
    """With plain reconstruction, ``score`` of the validation windows is minus skorch's
    ``valid_loss`` of the last epoch: the same loss on the same weights."""
    epochs = small[0]
    fold = np.where(np.arange(len(epochs)) % 4 == 0, 0, -1)  # every 4th window held out
    pre = EEGM2Pretrainer(
        objective="reconstruct",
        validation_split=PredefinedSplit(fold),
        max_epochs=2,
        random_state=0,
        **TINY,
    ).fit(epochs)
    valid_loss = pre.history_[-1, "valid_loss"]
    # measured: equal (relative difference 0)
    assert pre.score(epochs[np.flatnonzero(fold == 0)]) == pytest.approx(-valid_loss, rel=1e-6)


def test_pretrainer_cuts_raw_recordings(eegmat_path):
    from eegm2_sklearn.datasets import fetch_eegmat

    raws = fetch_eegmat(subjects=[0], path=eegmat_path, download=False, verbose=False)
    raws = [r.copy().pick("eeg").resample(64.0, verbose=False) for r in raws]
    pre = EEGM2Pretrainer(
        window_seconds=8.0, window_stride_seconds=4.0, max_epochs=1, random_state=0, **TINY
    ).fit(raws)
    assert pre.n_times_ == 512 and pre.n_chans_ == 19 and pre.sfreq_ == 64.0
    with pytest.raises(ValueError, match="window_seconds"):
        EEGM2Pretrainer(max_epochs=1, **TINY).fit(raws)


def test_save_and_load_pretrained(pretrainer, small, tmp_path):
    folder = pretrainer.save_pretrained(tmp_path / "pre")
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    loaded = EEGM2Pretrainer.from_pretrained(folder)
    assert loaded.ch_names_ == pretrainer.ch_names_ and loaded.base_width == 8
    epochs = small[0][:6]
    np.testing.assert_allclose(loaded.transform(epochs), pretrainer.transform(epochs), rtol=1e-6)


def test_linear_probe_pipeline(small, pretrainer):
    epochs, y, groups = small
    pipe = make_pipeline(
        clone(pretrainer).set_params(max_epochs=1),
        StandardScaler(),
        LogisticRegression(max_iter=200),
    )
    pipe.fit(epochs, y)
    assert set(pipe.predict(epochs[:5])) <= set(y)
    assert pipe.predict_proba(epochs[:5]).shape == (5, 2)


# ---------------------------------------------------------------- classifier


class RecordWeightsAtStart(Callback):
    def on_train_begin(self, net, **kwargs):
        self.backbone = {k: v.clone() for k, v in net.module_.backbone.state_dict().items()}
        self.head = {k: v.clone() for k, v in net.module_.head.state_dict().items()}


def changed(before: dict, module) -> set:
    """Names of the tensors of ``module`` that differ from ``before``."""
    return {k for k, v in module.state_dict().items() if not torch.equal(v, before[k])}


def test_classifier_from_saved_pretrained_starts_from_its_weights(pretrainer, small, tmp_path):
    epochs, y, _ = small
    folder = pretrainer.save_pretrained(tmp_path / "pre")
    record = RecordWeightsAtStart()
    clf = EEGM2Classifier(
        pretrained=folder,
        head="pool",
        max_epochs=1,
        callbacks=[record],
        random_state=0,
        batch_size=32,
    ).fit(epochs, y)
    saved = pretrainer.module_.state_dict()
    assert record.backbone.keys() == saved.keys()
    for k, v in saved.items():
        torch.testing.assert_close(record.backbone[k], v, rtol=0, atol=0)
    assert clf.architecture_["base_width"] == 8  # read from the pretrained model
    # full fine-tuning trains the head and the backbone up to the bottleneck, which the
    # pooled head reads (the decoder gets no gradient)
    assert changed(record.head, clf.module_.head) == set(record.head)
    used = {k for k in record.backbone if k.startswith(("encoder.", "mediator."))}
    assert changed(record.backbone, clf.module_.backbone) == used


def test_frozen_trains_head_only_and_light_loads_encoder(pretrainer, small):
    epochs, y, _ = small
    record = RecordWeightsAtStart()
    clf = EEGM2Classifier(
        pretrained=pretrainer,
        finetune="frozen",
        variant="light",
        head="pool",
        max_epochs=1,
        random_state=0,
        batch_size=32,
        callbacks=[record],
    ).fit(epochs, y)
    saved = pretrainer.module_.state_dict()
    for k, v in clf.module_.backbone.state_dict().items():
        torch.testing.assert_close(v, saved[k], rtol=0, atol=0)  # loaded, then left alone
        torch.testing.assert_close(v, record.backbone[k], rtol=0, atol=0)
    assert changed(record.head, clf.module_.head) == set(record.head)  # every head tensor
    assert not any(p.requires_grad for p in clf.module_.backbone.parameters())
    assert sum(p.numel() for p in clf.module_.backbone.parameters()) < sum(
        p.numel() for p in pretrainer.module_.parameters()
    )


def test_labels_probabilities_and_class_weight(small):
    epochs, y, _ = small
    clf = EEGM2Classifier(
        head="pool", max_epochs=2, class_weight="balanced", random_state=0, **TINY
    ).fit(epochs, y)
    assert clf.classes_.tolist() == ["arithmetic", "rest"]
    proba = clf.predict_proba(epochs)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(epochs), clf.classes_[proba.argmax(1)])
    assert 0 <= clf.score(epochs, y) <= 1
    # integer labels come back as integers
    y_int = np.where(y == "rest", 7, 3)
    clf_int = EEGM2Classifier(
        head="pool", max_epochs=1, class_weight={7: 1.0, 3: 2.0}, random_state=0, **TINY
    ).fit(epochs, y_int)
    assert set(clf_int.predict(epochs).tolist()) <= {3, 7}
    with pytest.raises(ValueError, match="not in y"):
        EEGM2Classifier(max_epochs=1, class_weight={"x": 1.0}, **TINY).fit(epochs, y)


def test_fit_on_epochs_predict_on_array_and_list(small):
    epochs, y, _ = small
    clf = EEGM2Classifier(head="flatten", max_epochs=1, random_state=0, **TINY).fit(epochs, y)
    p_epochs = clf.predict_proba(epochs[:12])
    np.testing.assert_array_equal(p_epochs, clf.predict_proba(epochs[:12].get_data()))
    as_list = [epochs[i] for i in range(12)]
    np.testing.assert_array_equal(p_epochs, clf.predict_proba(as_list))


def test_reproducible_with_random_state(small):
    epochs, y, _ = small
    X = epochs.get_data()[:64]
    yy = y[:64]

    def make(seed):
        return EEGM2Classifier(
            head="pool",
            max_epochs=2,
            random_state=seed,
            validation_split=0.25,
            **TINY,
        )

    a, b, c = make(0).fit(X, yy), make(0).fit(X, yy), make(1).fit(X, yy)
    for (k, va), vb in zip(
        a.module_.state_dict().items(), b.module_.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(va, vb, rtol=0, atol=0, msg=k)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))
    # the global torch RNG is left alone
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    make(0).fit(X, yy)
    assert torch.equal(torch.rand(1), expected)


def test_pickle_and_joblib_roundtrip(small, tmp_path):
    epochs, y, _ = small
    clf = EEGM2Classifier(head="pool", max_epochs=1, random_state=0, **TINY).fit(epochs, y)
    expected = clf.predict_proba(epochs[:10])
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(epochs[:10]), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "clf.joblib").predict_proba(epochs[:10]), expected
    )


def test_clone_refits_other_shapes():
    rng = np.random.default_rng(0)
    clf = EEGM2Classifier(head="pool", max_epochs=1, random_state=0, **TINY)
    clf.fit(rng.standard_normal((12, 3, 64)), [0, 1] * 6)
    other = clone(clf).fit(rng.standard_normal((12, 5, 40)), [0, 1, 2] * 4)
    assert (other.n_chans_, other.n_times_, len(other.classes_)) == (5, 40, 3)
    assert "n_chans" not in clf.get_params()  # shapes never become parameters
    assert clf.n_chans_ == 3


def test_pool_head_predicts_other_lengths_flatten_refuses(small):
    epochs, y, _ = small
    idx = np.r_[np.flatnonzero(y == "rest")[:20], np.flatnonzero(y == "arithmetic")[:20]]
    X = epochs.get_data()[idx]
    pool = EEGM2Classifier(head="pool", max_epochs=1, **TINY).fit(X, y[idx])
    assert pool.predict(X[:, :, :256]).shape == (40,)
    flat = EEGM2Classifier(head="flatten", max_epochs=1, **TINY).fit(X, y[idx])
    with pytest.raises(ValueError, match="head='pool'"):
        flat.predict(X[:, :, :256])


# ---------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def fitted_arrays():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 3, 64)).astype("float32")
    y = np.array([0, 1] * 8)
    return X, y, EEGM2Classifier(head="flatten", max_epochs=1, **TINY).fit(X, y)


def test_error_messages(fitted_arrays, small):
    X, y, clf = fitted_arrays
    bad = X.copy()
    bad[2, 1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        EEGM2Classifier(max_epochs=1, **TINY).fit(bad, y)
    with pytest.raises(ValueError, match=r"3-D"):
        EEGM2Classifier(max_epochs=1, **TINY).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="channels"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match="at least 8"):
        EEGM2Classifier(max_epochs=1, **TINY).fit(X[:, :, :6], y)
    with pytest.raises(ValueError, match="only one class"):
        EEGM2Classifier(max_epochs=1, **TINY).fit(X, np.zeros(16))
    with pytest.raises(ValueError, match="empty"):
        EEGM2Classifier(max_epochs=1, **TINY).fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="16 epochs but y has 15"):
        EEGM2Classifier(max_epochs=1, **TINY).fit(X, y[:15])
    with pytest.raises(ValueError, match="samples") as err:
        clf.predict(X[:, :, :32])
    assert "head='pool'" in str(err.value)
    # every bad parameter in one message, with the allowed values
    with pytest.raises(ValueError) as err:
        EEGM2Classifier(head="max", lr=-1, finetune="partial").fit(X, y)
    msg = str(err.value)
    assert "`head`" in msg and "'flatten' or 'pool'" in msg and "`lr`" in msg
    assert "`finetune`" in msg
    # channel names are checked for MNE input
    idx = np.r_[np.flatnonzero(small[1] == "rest")[:8], np.flatnonzero(small[1] != "rest")[:8]]
    epochs = small[0][idx]
    clf_mne = EEGM2Classifier(head="pool", max_epochs=1, **TINY).fit(epochs, small[1][idx])
    with pytest.raises(ValueError, match="Missing: \\['Pz'\\]"):
        clf_mne.predict(epochs.copy().drop_channels(["Pz"]))


def test_pretrained_errors(tmp_path, pretrainer, small):
    epochs, y, _ = small
    with pytest.raises(ValueError, match="No pretrained folder"):
        EEGM2Classifier(pretrained=tmp_path / "missing", max_epochs=1).fit(epochs, y)
    with pytest.raises(ValueError, match="not been fitted"):
        EEGM2Classifier(pretrained=FrozenEstimator(EEGM2Pretrainer()), max_epochs=1).fit(epochs, y)
    with pytest.raises(ValueError, match="channels of the pretrained model"):
        EEGM2Classifier(pretrained=pretrainer, max_epochs=1).fit(
            epochs.copy().drop_channels(["Fp1", "Fp2"]), y
        )
    X = mne.EpochsArray(epochs.get_data()[:, :19], mne.create_info(19, 128.0, "eeg"), verbose=False)
    with pytest.raises(ValueError, match="channels of the pretrained model"):
        EEGM2Classifier(pretrained=pretrainer, max_epochs=1).fit(X, y)


def test_device_option(fitted_arrays):
    X, y, _ = fitted_arrays
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cpu'"):
            EEGM2Classifier(device="cuda", max_epochs=1, **TINY).fit(X, y)
    clf = EEGM2Classifier(device="auto", max_epochs=1, **TINY).fit(X, y)
    assert clf.net_.device == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("y", [[0, "a"] * 8, [1, "1", 2, "2"] * 4])
def test_labels_mixing_strings_and_numbers_are_refused(y):
    X = np.random.default_rng(0).standard_normal((16, 3, 32)).astype("float32")
    with pytest.raises(ValueError, match="mixes strings and numbers.*same type"):
        EEGM2Classifier(max_epochs=1, verbose=0, **TINY).fit(X, y)
    same_type = [str(v) for v in y]  # all strings: a valid (if merged) labelling
    assert set(EEGM2Classifier(max_epochs=1, verbose=0, **TINY).fit(X, same_type).classes_) <= {
        "0", "a", "1", "2"
    }  # fmt: skip
