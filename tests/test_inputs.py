"""Conversion of every accepted input to EEGArray, on synthetic and real EEG."""

import mne
import numpy as np
import pytest
from sklearn.model_selection import GroupKFold
from sklearn.utils import _safe_indexing

from eegm2_sklearn.data import (
    EEGArray,
    stack_braindecode,
    to_eeg_array,
    window_raws,
)

with mne.use_log_level("error"):  # braindecode's import logs an MNE deprecation notice
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import create_fixed_length_windows

SFREQ = 128.0


# --------------------------------------------------------------------------------------
# real EEG


def _read(path):
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    raw.set_channel_types({"EEG A2-A1": "misc", "ECG ECG": "ecg"}, on_unit_change="ignore")
    raw.crop(0, 40.0)  # keep the tests fast
    return raw.resample(SFREQ, verbose="error")


@pytest.fixture(scope="module")
def raws(eegmat_path):
    """Subject 0 at rest and during arithmetic, 40 s each at 128 Hz, 21 channels.

    ``eegmat_path`` comes from tests/conftest.py (skips when the data are absent).
    """
    return [_read(eegmat_path / f"Subject00_{k}.edf") for k in (1, 2)]


@pytest.fixture(scope="module")
def epochs(raws):
    return mne.make_fixed_length_epochs(raws[0], duration=4.0, preload=True, verbose="error")


def test_epochs_in_volts_with_data_channels_only(epochs):
    data = to_eeg_array(epochs)
    assert data.source == "epochs"
    assert data.X.shape == (10, 19, 512) and data.X.dtype == np.float32
    assert data.sfreq == SFREQ
    assert data.ch_names == epochs.copy().pick("eeg").ch_names
    assert "ECG ECG" not in data.ch_names and "EEG A2-A1" not in data.ch_names
    # volts: scalp EEG has a spread of about 1e-6 to 1e-4 V
    assert 1e-7 < np.median(np.abs(data.X)) < 1e-4
    assert data.y is None


def test_epochs_and_their_array_convert_identically(epochs):
    from_epochs = to_eeg_array(epochs).X
    np.testing.assert_array_equal(to_eeg_array(epochs.get_data(picks="data")).X, from_epochs)
    eeg_only = epochs.copy().pick("eeg")
    np.testing.assert_array_equal(to_eeg_array(eeg_only.get_data()).X, from_epochs)
    np.testing.assert_array_equal(to_eeg_array(eeg_only).X, from_epochs)


def test_picks_argument(epochs):
    data = to_eeg_array(epochs, picks="all")
    assert data.n_chans == 21 and data.ch_names == epochs.ch_names
    data = to_eeg_array(epochs, picks=["EEG Cz", "EEG Pz"])
    assert data.ch_names == ["EEG Cz", "EEG Pz"] and data.X.shape == (10, 2, 512)


def test_list_of_epochs_from_a_cv_split(epochs):
    y = np.array(["rest"] * 5 + ["task"] * 5)
    groups = np.repeat([0, 1, 2, 3, 4], 2)
    train, test = next(GroupKFold(5).split(np.zeros(len(y)), y, groups))
    pieces = _safe_indexing(epochs, train)  # what cross-validation hands to fit
    assert isinstance(pieces, list) and isinstance(pieces[0], mne.BaseEpochs)
    data = to_eeg_array(pieces, _safe_indexing(y, train))
    full = to_eeg_array(epochs).X
    assert data.source == "epochs_list"
    np.testing.assert_array_equal(data.X, full[train])
    np.testing.assert_array_equal(data.y, y[train])
    assert data.ch_names == to_eeg_array(epochs).ch_names and data.sfreq == SFREQ


def test_list_of_epochs_with_other_channels_is_an_error(epochs):
    pieces = [epochs[0], epochs[1].copy().drop_channels(["EEG Cz"])]
    with pytest.raises(ValueError, match="channels"):
        to_eeg_array(pieces)
    with pytest.raises(ValueError, match="list of mne Epochs with a foreign element"):
        to_eeg_array([epochs[0], np.zeros((19, 512))])


def test_raw_is_cut_like_fixed_length_epochs(raws):
    data = to_eeg_array(raws[0], allow_raw=True, window_seconds=4.0)
    reference = mne.make_fixed_length_epochs(raws[0], duration=4.0, preload=True, verbose="error")
    assert data.source == "raw" and data.y is None
    assert data.X.shape == (10, 19, 512)
    assert data.ch_names == to_eeg_array(reference).ch_names and data.sfreq == SFREQ
    np.testing.assert_allclose(data.X, to_eeg_array(reference).X, rtol=1e-6, atol=0)


def test_list_of_raw_with_stride(raws):
    data = to_eeg_array(raws, allow_raw=True, window_seconds=4.0, window_stride_seconds=2.0)
    # 40 s each: windows start at 0, 2, ..., 36 s -> 19 per recording
    assert data.X.shape == (38, 19, 512)
    second = raws[1].get_data(picks="data")
    np.testing.assert_allclose(data.X[19 + 3], second[:, 3 * 256 : 3 * 256 + 512], rtol=1e-6)


def test_braindecode_windows_keep_all_channels_and_units(raws):
    concat = BaseConcatDataset(
        [
            RawDataset(raw, description={"state": s}, target_name="state")
            for raw, s in zip(raws, ["rest", "task"], strict=True)
        ]
    )
    windows = create_fixed_length_windows(
        concat, window_size_samples=512, window_stride_samples=512, on_last_window="drop"
    )
    data = to_eeg_array(windows)
    assert data.source == "braindecode"
    assert data.X.shape == (20, 21, 512) and data.ch_names == raws[0].ch_names
    np.testing.assert_array_equal(data.y, ["rest"] * 10 + ["task"] * 10)
    np.testing.assert_array_equal(data.X[13], windows[13][0])
    # same numbers as the Raw path for the data channels (both in volts here)
    from_raw = to_eeg_array(raws, allow_raw=True, window_seconds=4.0).X
    eeg = [raws[0].ch_names.index(c) for c in raws[0].copy().pick("eeg").ch_names]
    np.testing.assert_allclose(data.X[:, eeg], from_raw, rtol=1e-6)


# --------------------------------------------------------------------------------------
# synthetic data


def _epochs(n=4, ch_names=("Cz", "Pz", "ECG"), types=("eeg", "eeg", "ecg"), sfreq=100.0):
    data = np.random.default_rng(0).normal(size=(n, len(ch_names), 64)) * 1e-5
    info = mne.create_info(list(ch_names), sfreq, list(types))
    return mne.EpochsArray(data, info, verbose="error")


def _raw(seconds=10.5, sfreq=100.0, ch_names=("Cz", "Pz")):
    n = int(seconds * sfreq)
    data = np.arange(len(ch_names) * n, dtype=float).reshape(len(ch_names), n)
    return mne.io.RawArray(data, mne.create_info(list(ch_names), sfreq, "eeg"), verbose="error")


def test_float64_array_is_cast_float32_array_kept():
    X64 = np.random.default_rng(0).normal(size=(3, 2, 16))
    data = to_eeg_array(X64)
    assert data.X.dtype == np.float32 and data.source == "array"
    np.testing.assert_array_equal(data.X, X64.astype(np.float32))
    assert data.sfreq is None and data.ch_names is None and data.y is None
    X32 = X64.astype(np.float32)
    assert to_eeg_array(X32).X is X32
    assert (data.n_epochs, data.n_chans, data.n_times) == (3, 2, 16)


def test_list_of_2d_arrays():
    arrays = [np.full((2, 16), i, dtype=float) for i in range(3)]
    data = to_eeg_array(arrays)
    assert data.X.shape == (3, 2, 16)
    np.testing.assert_array_equal(data.X[:, 0, 0], [0, 1, 2])
    with pytest.raises(ValueError, match="arrays of different shapes"):
        to_eeg_array([np.zeros((2, 16)), np.zeros((2, 20))])


def test_integer_arrays_are_cast_other_dtypes_refused():
    assert to_eeg_array(np.ones((1, 1, 8), dtype=int)).X.dtype == np.float32
    with pytest.raises(ValueError, match="dtype <U1; expected real numbers"):
        to_eeg_array(np.full((1, 1, 8), "a"))
    with pytest.raises(ValueError, match="dtype complex128"):
        to_eeg_array(np.ones((1, 1, 8), dtype=complex))


@pytest.mark.parametrize("X", [[], np.zeros((0, 2, 16)), np.zeros((0, 5))])
def test_empty_input(X):
    with pytest.raises(ValueError, match="X is empty"):
        to_eeg_array(X)


def test_data_checks_run_on_conversion():
    with pytest.raises(ValueError, match=r"2-D array of shape \(2, 16\).*X\[np\.newaxis\]"):
        to_eeg_array(np.zeros((2, 16)))
    X = np.zeros((3, 2, 16))
    X[1, 0, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN and 0 inf.*first bad epoch: index 1"):
        to_eeg_array(X)
    with pytest.raises(ValueError, match="4 samples; EEGM2 needs at least 8"):
        to_eeg_array(np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="X has 3 epochs but y has 2 labels"):
        to_eeg_array(np.zeros((3, 2, 16)), y=[0, 1])
    assert to_eeg_array(np.zeros((3, 2, 4)), validate=False).n_times == 4


def test_eegarray_passes_through_and_y_is_attached():
    data = to_eeg_array(np.zeros((3, 2, 16)))
    assert to_eeg_array(data) is data
    with_y = to_eeg_array(data, y=["a", "b", "a"])
    np.testing.assert_array_equal(with_y.y, ["a", "b", "a"])
    assert isinstance(with_y, EEGArray) and with_y.X is data.X


def test_synthetic_epochs_units_and_channels():
    epochs = _epochs()
    data = to_eeg_array(epochs)
    assert data.ch_names == ["Cz", "Pz"] and data.sfreq == 100.0
    np.testing.assert_array_equal(data.X, epochs.get_data()[:, :2].astype(np.float32))


def test_list_of_epochs_with_other_sfreq_is_an_error():
    a, b = _epochs(sfreq=100.0), _epochs(sfreq=200.0)
    with pytest.raises(ValueError, match=r"sampled at 200.*resample"):
        to_eeg_array([a[0], b[0]])


def test_raw_not_allowed_says_what_to_do():
    raw = _raw()
    for X in (raw, [raw, raw]):
        with pytest.raises(ValueError, match=r"make_fixed_length_epochs.*EEGM2Pretrainer"):
            to_eeg_array(X)
    concat = BaseConcatDataset([RawDataset(raw)])
    with pytest.raises(ValueError, match="braindecode dataset of raw"):
        to_eeg_array(concat)


def test_raw_without_window_seconds():
    with pytest.raises(ValueError, match=r"need window_seconds.*window_seconds=4\.0"):
        to_eeg_array(_raw(), allow_raw=True)


def test_raw_windows_drop_the_incomplete_last_one():
    raw = _raw(seconds=10.5)
    data = window_raws([raw], window_seconds=2.0)
    assert data.X.shape == (5, 2, 200)
    np.testing.assert_array_equal(data.X[2], raw.get_data()[:, 400:600].astype(np.float32))
    strided = window_raws([raw], window_seconds=2.0, window_stride_seconds=0.5)
    assert strided.X.shape == (18, 2, 200)  # starts 0, 0.5, ..., 8.5 s
    np.testing.assert_array_equal(strided.X[3], raw.get_data()[:, 150:350].astype(np.float32))


def test_braindecode_concat_of_raw_is_windowed_when_allowed():
    concat = BaseConcatDataset([RawDataset(_raw()), RawDataset(_raw(seconds=4.0))])
    data = to_eeg_array(concat, allow_raw=True, window_seconds=2.0)
    assert data.X.shape == (7, 2, 200) and data.source == "raw"


def test_list_of_raw_mismatches_and_short_recordings():
    with pytest.raises(ValueError, match=r"Raw 1 .* sampled at 200.*raw.resample\(100\)"):
        window_raws([_raw(), _raw(sfreq=200.0)], window_seconds=2.0)
    with pytest.raises(ValueError, match=r"Raw 1 .* channels \['Cz', 'Oz'\]"):
        window_raws([_raw(), _raw(ch_names=("Cz", "Oz"))], window_seconds=2.0)
    with pytest.raises(ValueError, match=r"1 recording\(s\) are shorter.*raw 1: 1 s"):
        window_raws([_raw(), _raw(seconds=1.0)], window_seconds=2.0)


def _windows(raw, target=None, **kwargs):
    ds = RawDataset(raw, description={"t": target}, target_name="t" if target else None)
    return create_fixed_length_windows(
        BaseConcatDataset([ds]),
        window_size_samples=200,
        window_stride_samples=200,
        on_last_window="drop",
        **kwargs,
    )


def test_braindecode_without_targets_has_no_y():
    windows = _windows(_raw())
    data = stack_braindecode(windows)
    assert data.y is None and data.X.shape == (5, 2, 200) and data.ch_names == ["Cz", "Pz"]
    for i in range(5):
        np.testing.assert_array_equal(data.X[i], windows[i][0])


def test_braindecode_mne_epochs_windows_and_single_dataset():
    windows = _windows(_raw(), target="sleep", use_mne_epochs=True)
    data = to_eeg_array(windows)
    np.testing.assert_array_equal(data.y, ["sleep"] * 5)
    np.testing.assert_array_equal(data.X[4], windows[4][0])
    single = to_eeg_array(windows.datasets[0])
    np.testing.assert_array_equal(single.X, data.X)


def test_braindecode_with_transform_uses_each_item():
    windows = _windows(_raw(), target=1)
    windows.transform = lambda x: x * 2.0
    data = to_eeg_array(windows)
    np.testing.assert_array_equal(data.X[1], windows[1][0])
    np.testing.assert_array_equal(data.X[1], 2.0 * _raw().get_data()[:, 200:400])
    np.testing.assert_array_equal(data.y, [1] * 5)


def test_user_y_overrides_dataset_targets():
    data = to_eeg_array(_windows(_raw(), target="a"), y=np.arange(5))
    np.testing.assert_array_equal(data.y, np.arange(5))


def test_braindecode_recordings_must_match():
    a = _windows(_raw())
    b = _windows(_raw(ch_names=("Cz", "Oz")))
    with pytest.raises(ValueError, match="expected the same channels, sampling rate"):
        to_eeg_array(BaseConcatDataset([*a.datasets, *b.datasets]))
