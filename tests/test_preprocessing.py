"""Preprocessing transformers and input normalisation, checked against MNE/braindecode."""

from __future__ import annotations

import pickle

import mne
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import _safe_indexing

from eegm2_sklearn.data import as_mne_or_array, epochs_list_to_epochs
from eegm2_sklearn.datasets import fetch_eegmat
from eegm2_sklearn.preprocessing import (
    BandpassFilter,
    EEGPreprocessor,
    ExponentialMovingStandardize,
    PickChannels,
    Resample,
    RobustScale,
)

SFREQ = 128.0


@pytest.fixture(scope="module")
def epochs(eegmat_epochs_small):
    """24 windows of 4 s at 128 Hz from 4 subjects, both states."""
    return eegmat_epochs_small[0][::10]


@pytest.fixture(scope="module")
def raw(eegmat_path):
    """30 s of subject 0 at rest, 500 Hz, 21 channels."""
    (raw, _) = fetch_eegmat(subjects=0, path=eegmat_path, download=False, verbose=False)
    return raw.crop(0.0, 30.0)


def as_list(epochs):
    """What cross-validation hands a step: one one-epoch Epochs per window."""
    return [epochs[i] for i in range(len(epochs))]


def check_all_inputs(transformer, epochs, expected_epochs, raw=None, expected_raw=None):
    """Epochs, list of Epochs and ndarray give ``expected_epochs``; Raw gives ``expected_raw``."""
    before = epochs.get_data().copy()
    out = clone(transformer).fit(epochs).transform(epochs)
    assert isinstance(out, mne.BaseEpochs)
    np.testing.assert_allclose(out.get_data(), expected_epochs, rtol=1e-10, atol=1e-20)
    np.testing.assert_array_equal(epochs.get_data(), before)  # input untouched

    out_list = clone(transformer).fit_transform(as_list(epochs))
    assert isinstance(out_list, mne.BaseEpochs)
    assert out_list.ch_names == out.ch_names and out_list.info["sfreq"] == out.info["sfreq"]
    np.testing.assert_allclose(out_list.get_data(), expected_epochs, rtol=1e-10, atol=1e-20)

    params = {"input_sfreq": SFREQ} if "input_sfreq" in transformer.get_params() else {}
    if "ch_names" in transformer.get_params():
        params["ch_names"] = epochs.ch_names
    array_step = clone(transformer).set_params(**params)
    out_array = array_step.fit_transform(epochs.get_data())
    assert isinstance(out_array, np.ndarray)
    np.testing.assert_allclose(out_array, expected_epochs, rtol=1e-10, atol=1e-20)

    if raw is not None:
        out_raw = clone(transformer).fit_transform(raw)
        assert isinstance(out_raw, mne.io.BaseRaw)
        np.testing.assert_allclose(out_raw.get_data(), expected_raw, rtol=1e-10, atol=1e-20)
        out_raws = clone(transformer).fit_transform([raw, raw])
        assert isinstance(out_raws, list) and len(out_raws) == 2
        np.testing.assert_allclose(out_raws[1].get_data(), expected_raw, rtol=1e-10, atol=1e-20)
    return out


# --- input normalisation -------------------------------------------------------------


def test_epochs_list_to_epochs_keeps_order_and_metadata(eegmat_epochs_small):
    full, y, groups = eegmat_epochs_small
    idx = np.random.default_rng(0).permutation(len(full))[:50]
    pieces = _safe_indexing(full, idx)  # what scikit-learn's splitters produce
    assert isinstance(pieces, list) and len(pieces[0]) == 1
    joined = epochs_list_to_epochs(pieces)
    np.testing.assert_array_equal(joined.get_data(), full.get_data()[idx])
    np.testing.assert_array_equal(joined.metadata["subject"], groups[idx])
    np.testing.assert_array_equal(joined.metadata["state"], y[idx])
    assert joined.event_id == {"rest": 1, "arithmetic": 2}
    np.testing.assert_array_equal(joined.events[:, 2], full.events[idx, 2])
    assert np.all(np.diff(joined.events[:, 0]) > 0)  # renumbered: shuffled order
    assert joined.ch_names == full.ch_names and joined.info["sfreq"] == SFREQ
    # sorted indices keep the original event samples
    sorted_idx = np.sort(idx)
    kept = epochs_list_to_epochs(_safe_indexing(full, sorted_idx))
    np.testing.assert_array_equal(kept.events, full.events[sorted_idx])


def test_epochs_list_to_epochs_errors(epochs):
    with pytest.raises(ValueError, match="empty"):
        epochs_list_to_epochs([])
    with pytest.raises(ValueError, match="channels"):
        epochs_list_to_epochs([epochs[0], epochs[1].copy().pick(["Cz", "Pz"])])
    with pytest.raises(ValueError, match="Hz"):
        epochs_list_to_epochs([epochs[0], epochs[1].copy().resample(64.0, verbose=False)])
    with pytest.raises(ValueError, match="samples"):
        epochs_list_to_epochs([epochs[0], epochs[1].copy().crop(0.0, 1.0)])
    with pytest.raises(TypeError, match="element 1"):
        epochs_list_to_epochs([epochs[0], np.zeros((1, 19, 512))])


def test_as_mne_or_array(epochs, raw):
    assert as_mne_or_array(epochs) is epochs
    assert as_mne_or_array(raw) == [raw]
    assert as_mne_or_array((raw, raw)) == [raw, raw]
    assert isinstance(as_mne_or_array(as_list(epochs)), mne.BaseEpochs)
    out = as_mne_or_array([[[1, 2]]])
    assert out.dtype == np.float64 and out.shape == (1, 1, 2)
    x32 = np.zeros((2, 3, 4), dtype=np.float32)
    assert as_mne_or_array(x32) is x32
    with pytest.raises(ValueError, match=r"\(n_epochs, n_channels, n_times\), got shape"):
        as_mne_or_array(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="mixing"):
        as_mne_or_array([raw, epochs])
    with pytest.raises(TypeError, match="mne.Epochs"):
        as_mne_or_array("epochs.fif")
    with pytest.raises(ValueError, match="empty"):
        as_mne_or_array([])


# --- transformers against MNE / braindecode -------------------------------------------


def test_bandpass_filter_matches_mne(epochs, raw):
    expected = epochs.copy().filter(8.0, 30.0, pad="reflect_limited", verbose=False)
    expected_raw = raw.copy().filter(8.0, 30.0, verbose=False).get_data()
    out = check_all_inputs(
        BandpassFilter(8.0, 30.0), epochs, expected.get_data(), raw, expected_raw
    )
    # attenuation: stop band power falls by > 100x, pass band power stays within 30 %
    before = epochs.compute_psd(fmin=1.0, fmax=60.0, verbose=False)
    after = out.compute_psd(fmin=1.0, fmax=60.0, verbose=False)
    p0, freqs = before.get_data(return_freqs=True)
    p1 = after.get_data()
    stop = (freqs >= 40) | (freqs <= 3)
    band = (freqs >= 12) & (freqs <= 25)
    assert p1[..., stop].mean() / p0[..., stop].mean() < 1e-2
    assert 0.7 < p1[..., band].mean() / p0[..., band].mean() < 1.3
    # non-EEG channels of Raw are left alone (MNE's default picks)
    out_raw = BandpassFilter(8.0, 30.0).fit_transform(raw)
    np.testing.assert_array_equal(out_raw.get_data(picks="ecg"), raw.get_data(picks="ecg"))


def test_bandpass_filter_iir_and_highpass(epochs):
    iir = BandpassFilter(None, 20.0, method="iir").fit_transform(epochs)
    expected = epochs.copy().filter(None, 20.0, method="iir", pad="reflect_limited", verbose=False)
    np.testing.assert_allclose(iir.get_data(), expected.get_data())


def test_resample_matches_mne(epochs, raw):
    expected = epochs.copy().resample(64.0, pad="auto", verbose=False)
    expected_raw = raw.copy().resample(64.0, verbose=False).get_data()
    out = check_all_inputs(Resample(64.0), epochs, expected.get_data(), raw, expected_raw)
    assert out.info["sfreq"] == 64.0 and out.get_data().shape[-1] == 256
    out_raw = Resample(128.0).fit_transform(raw)
    assert out_raw.info["sfreq"] == 128.0
    assert out_raw.n_times == pytest.approx(raw.n_times * 128 / 500, abs=1)


def test_pick_channels(epochs, raw):
    names = ["Pz", "Cz", "O1"]
    idx = [epochs.ch_names.index(n) for n in names]
    out = check_all_inputs(
        PickChannels(names), epochs, epochs.get_data()[:, idx], raw, raw.get_data(picks=names)
    )
    assert out.ch_names == names
    assert PickChannels("eeg").fit_transform(raw).ch_names == raw.copy().pick("eeg").ch_names
    X = epochs.get_data()
    np.testing.assert_array_equal(PickChannels([2, 0]).fit_transform(X), X[:, [2, 0]])
    np.testing.assert_array_equal(PickChannels(3).fit_transform(X), X[:, [3]])
    assert PickChannels(3).fit_transform(epochs).ch_names == ["F4"]
    mask = np.zeros(19, bool)
    mask[[1, 3]] = True
    np.testing.assert_array_equal(PickChannels(mask).fit_transform(X), X[:, [1, 3]])
    assert PickChannels(mask).fit_transform(epochs).ch_names == ["Fp2", "F4"]


def test_pick_channels_errors(epochs):
    X = epochs.get_data()
    with pytest.raises(ValueError, match="ch_names="):
        PickChannels(["Cz"]).fit_transform(X)
    with pytest.raises(ValueError, match="ch_names="):
        PickChannels("eeg").fit_transform(X)
    with pytest.raises(ValueError, match="0..18"):
        PickChannels([19]).fit_transform(X)
    with pytest.raises(ValueError, match="Cx"):
        PickChannels(["Cx"], ch_names=epochs.ch_names).fit_transform(X)
    with pytest.raises(ValueError, match="at least one channel"):
        PickChannels([]).fit(X)


@pytest.mark.filterwarnings("ignore:Montage name:FutureWarning")
def test_exponential_moving_standardize_matches_braindecode(epochs, raw):
    from braindecode.preprocessing import exponential_moving_standardize as ems

    kw = dict(factor_new=1e-2, init_block_size=100, eps=1e-4)
    step = ExponentialMovingStandardize(**kw)
    # MNE data are volts: scaled to microvolts first, braindecode's convention
    expected = np.stack([ems(x * 1e6, **kw) for x in epochs.get_data()])
    expected_raw = ems(raw.get_data() * 1e6, **kw)
    out = step.fit_transform(epochs)
    np.testing.assert_allclose(out.get_data(), expected)
    np.testing.assert_allclose(step.fit_transform(as_list(epochs)).get_data(), expected)
    np.testing.assert_allclose(step.fit_transform(raw).get_data(), expected_raw)
    # arrays are taken as given
    X = epochs.get_data() * 1e6
    np.testing.assert_allclose(step.fit_transform(X), expected)
    assert abs(out.get_data()[..., 200:].std() - 1.0) < 0.3
    np.testing.assert_allclose(
        ExponentialMovingStandardize(scale=1.0, **kw).fit_transform(X * 1e-6),
        np.stack([ems(x, **kw) for x in X * 1e-6]),
    )


def test_robust_scale_matches_quantiles(epochs, raw):
    def expected_scale(data):
        q25, med, q75 = np.percentile(data, [25, 50, 75], axis=-1, keepdims=True)
        return (data - med) / (q75 - q25)

    out = check_all_inputs(
        RobustScale(),
        epochs,
        expected_scale(epochs.get_data()),
        raw,
        expected_scale(raw.get_data()),
    )
    assert out.ch_names == epochs.ch_names
    X = np.ones((2, 3, 50))
    np.testing.assert_array_equal(RobustScale().fit_transform(X), 0.0)  # zero range: no NaN


def test_eeg_preprocessor_matches_chain(epochs, raw):
    names = ["Fz", "Cz", "Pz"]
    prep = EEGPreprocessor(l_freq=1.0, h_freq=20.0, sfreq=64.0, picks=names)
    expected = (
        epochs.copy()
        .pick(names)
        .filter(1.0, 20.0, pad="reflect_limited", verbose=False)
        .resample(64.0, pad="auto", verbose=False)
    )
    expected_raw = (
        raw.copy().pick(names).filter(1.0, 20.0, verbose=False).resample(64.0, verbose=False)
    )
    out = check_all_inputs(prep, epochs, expected.get_data(), raw, expected_raw.get_data())
    assert out.ch_names == names and out.info["sfreq"] == 64.0
    # nothing to do: a copy
    same = EEGPreprocessor().fit_transform(epochs)
    assert same is not epochs
    np.testing.assert_array_equal(same.get_data(), epochs.get_data())
    X = epochs.get_data()
    assert EEGPreprocessor().fit_transform(X) is not X
    # picking only needs no sampling rate for arrays
    np.testing.assert_array_equal(EEGPreprocessor(picks=[0]).fit_transform(X), X[:, [0]])


@pytest.mark.parametrize(
    "step, match",
    [
        (BandpassFilter(1.0, 30.0), "input_sfreq=<Hz>"),
        (Resample(64.0), "input_sfreq=<Hz>"),
        (EEGPreprocessor(h_freq=30.0), "input_sfreq=<Hz>"),
        (BandpassFilter(None, None, input_sfreq=128.0), "l_freq and/or h_freq"),
        (BandpassFilter(30.0, 10.0, input_sfreq=128.0), "must be below h_freq"),
        (
            BandpassFilter(1.0, 30.0, method="fft", input_sfreq=128.0),
            "`method`: expected one of 'fir' or 'iir'",
        ),
        (
            Resample(64.0, method="linear", input_sfreq=128.0),
            "`method`: expected one of 'fft' or 'polyphase'",
        ),
        (Resample(-1.0, input_sfreq=128.0), "sfreq must be a positive number"),
        (EEGPreprocessor(filter_method="x", h_freq=20.0, input_sfreq=128.0), "'fir' or 'iir'"),
        (EEGPreprocessor(h_freq=40.0, sfreq=64.0, input_sfreq=128.0), "Nyquist"),
        (ExponentialMovingStandardize(factor_new=0.0), "factor_new"),
        (ExponentialMovingStandardize(init_block_size=0), "init_block_size"),
        (ExponentialMovingStandardize(scale="uV"), "'auto' or a positive number"),
        (RobustScale(quantile_range=(75, 25)), "quantile_range"),
    ],
)
def test_clear_errors(step, match):
    X = np.zeros((2, 3, 256))
    with pytest.raises(ValueError, match=match):
        step.fit(X)
    with pytest.raises(ValueError, match=match):
        step.transform(X)


def test_input_sfreq_must_match_mne(epochs):
    with pytest.raises(ValueError, match="input_sfreq=500.0 but the MNE input"):
        BandpassFilter(1.0, 30.0, input_sfreq=500.0).fit(epochs)


ALL_STEPS = [
    BandpassFilter(1.0, 30.0, input_sfreq=SFREQ),
    Resample(64.0, input_sfreq=SFREQ),
    PickChannels([0, 1]),
    ExponentialMovingStandardize(init_block_size=100),
    RobustScale(quantile_range=(10.0, 90.0)),
    EEGPreprocessor(l_freq=1.0, h_freq=30.0, sfreq=64.0, picks=[0, 1], input_sfreq=SFREQ),
]


@pytest.mark.parametrize("step", ALL_STEPS, ids=lambda s: type(s).__name__)
def test_sklearn_api(step):
    X = np.random.default_rng(0).standard_normal((3, 4, 512))
    params = step.get_params()
    copy = clone(step)
    assert copy.get_params() == params and copy is not step
    assert step.fit(X) is step
    assert vars(step) == vars(copy)  # fit stores nothing
    Xt = step.transform(X)
    np.testing.assert_array_equal(clone(step).fit_transform(X), Xt)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(step)).transform(X), Xt)
    name = next(iter(params))
    assert clone(step).set_params(**{name: params[name]}).get_params() == params
    assert not step.__sklearn_tags__().requires_fit


# --- in a scikit-learn pipeline ---------------------------------------------------------

BANDS = [(1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 20.0), (20.0, 30.0)]


def log_band_power(epochs):
    """(n_epochs, n_channels * 5) log mean Welch power in five bands."""
    psd, freqs = epochs.compute_psd(fmin=1.0, fmax=30.0, verbose=False).get_data(return_freqs=True)
    power = [psd[..., (freqs >= lo) & (freqs < hi)].mean(axis=-1) for lo, hi in BANDS]
    return np.log(np.stack(power, axis=-1)).reshape(len(psd), -1)


def test_pipeline_cross_val_score_on_epochs(eegmat_epochs_small):
    epochs, y, groups = eegmat_epochs_small
    prep = EEGPreprocessor(l_freq=1.0, h_freq=30.0, sfreq=64.0)
    head = [FunctionTransformer(log_band_power), StandardScaler(), LogisticRegression()]
    cv = GroupKFold(n_splits=3)
    scores = cross_val_score(
        make_pipeline(prep, *head), epochs, y, groups=groups, cv=cv, scoring="balanced_accuracy"
    )
    assert scores.shape == (3,) and scores.mean() > 0.5
    # the steps are stateless and per-window, so preprocessing everything first must give
    # the same scores: the list-of-Epochs path keeps windows and labels aligned
    features = log_band_power(prep.fit_transform(epochs))
    reference = cross_val_score(
        make_pipeline(*head[1:]), features, y, groups=groups, cv=cv, scoring="balanced_accuracy"
    )
    np.testing.assert_allclose(scores, reference)
