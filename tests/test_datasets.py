"""EEGMAT loader and window helper, on the real EDF files (no network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pooch
import pytest
from sklearn.model_selection import GroupKFold

from eegm2_sklearn.datasets import fetch_eegmat, make_eegmat_epochs, physionet

EEG_NAMES = ["Fp1", "Fp2", "F3", "F4", "F7", "F8", "T3", "T4", "C3", "C4"]
EEG_NAMES += ["T5", "T6", "P3", "P4", "O1", "O2", "Fz", "Cz", "Pz"]


@pytest.fixture
def isolated_env(monkeypatch, tmp_path):
    """No EEGM2_DATA, and MNE's data folder pointing into an empty temporary folder."""
    monkeypatch.delenv("EEGM2_DATA", raising=False)
    monkeypatch.setenv("MNE_DATA", str(tmp_path / "mne_data"))
    monkeypatch.setenv("MNE_DATASETS_EEGMAT_PATH", str(tmp_path / "mne_data"))
    return tmp_path


@pytest.fixture(scope="module")
def two_subjects(eegmat_path):
    return fetch_eegmat(
        subjects=[0, 1], path=eegmat_path, download=False, verbose=False, return_description=True
    )


def test_fetch_channels_sfreq_duration_state(two_subjects, eegmat_path):
    raws, desc = two_subjects
    assert len(raws) == 4 and len(desc) == 4
    assert desc["subject"].tolist() == [0, 0, 1, 1]
    assert desc["state"].tolist() == ["rest", "arithmetic"] * 2
    # subject-info.csv: Subject00 is a bad counter, Subject01 a good one
    assert desc["count_quality"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert desc["gender"].tolist() == ["F"] * 4
    for raw, row in zip(raws, desc.itertuples(), strict=True):
        assert raw.preload
        assert raw.info["sfreq"] == 500.0
        types = raw.get_channel_types()
        assert types.count("eeg") == 19 and len(types) == 21
        assert raw.get_channel_types(picks=["A2-A1", "ECG"]) == ["misc", "ecg"]
        assert raw.copy().pick("eeg").ch_names == EEG_NAMES
        assert raw.info["subject_info"]["id"] == row.subject
        assert raw.info["subject_info"]["his_id"] == f"Subject{row.subject:02d}"
        assert raw.info["subject_info"]["sex"] == 2  # female
        duration = raw.n_times / raw.info["sfreq"]
        assert duration == pytest.approx(row.duration_s)
        if row.state == "rest":
            assert 80 <= duration <= 190
        else:
            assert 60 <= duration <= 62
        assert (
            Path(row.path).name == f"Subject{row.subject:02d}_{1 if row.state == 'rest' else 2}.edf"
        )
        state_annot = [a for a in raw.annotations if a["description"] == row.state]
        assert len(state_annot) == 1
        assert state_annot[0]["duration"] == pytest.approx(duration)
        assert state_annot[0]["extras"] == {
            "subject": row.subject,
            "count_quality": row.count_quality,
        }
    # montage: 19 EEG positions, enough for a topography
    pos = raws[0].get_montage().get_positions()["ch_pos"]
    assert set(EEG_NAMES) <= set(pos)
    assert np.isfinite(np.array([pos[ch] for ch in EEG_NAMES])).all()


def test_fetch_data_match_edf(two_subjects, eegmat_path):
    import mne

    raws, _ = two_subjects
    edf = mne.io.read_raw_edf(eegmat_path / "Subject01_2.edf", preload=True, verbose=False)
    np.testing.assert_array_equal(raws[3].get_data(), edf.get_data())


def test_fetch_keep_edf_names(eegmat_path):
    (raw,) = fetch_eegmat(
        subjects=0, path=eegmat_path, download=False, verbose=False, rename_channels=False
    )[:1]
    assert raw.ch_names[0] == "EEG Fp1" and raw.ch_names[-2:] == ["EEG A2-A1", "ECG ECG"]
    assert raw.get_channel_types(picks=["EEG A2-A1", "ECG ECG"]) == ["misc", "ecg"]
    assert raw.get_montage() is None


def test_fetch_env_var_is_searched(eegmat_path, isolated_env, monkeypatch):
    monkeypatch.setenv("EEGM2_DATA", str(eegmat_path))
    raws = fetch_eegmat(subjects=[2], download=False, verbose=False)
    assert [r.info["subject_info"]["id"] for r in raws] == [2, 2]


def test_fetch_missing_without_download(isolated_env):
    empty = isolated_env / "empty"
    with pytest.raises(FileNotFoundError) as info:
        fetch_eegmat(subjects=[3], path=empty, download=False)
    msg = str(info.value)
    assert "Subject03_1.edf" in msg and "Subject03_2.edf" in msg
    assert str(empty) in msg and str(isolated_env / "mne_data" / "eegmat") in msg
    assert "EEGM2_DATA" in msg and "download=True" in msg


@pytest.mark.parametrize(
    "subjects, error", [(36, ValueError), ([-1], ValueError), ("1", TypeError), ([], ValueError)]
)
def test_fetch_bad_subjects(subjects, error, eegmat_path):
    with pytest.raises(error, match="subjects"):
        fetch_eegmat(subjects=subjects, path=eegmat_path, download=False)


def _copy_subject(src: Path, dst: Path, subject: int) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for run in (1, 2):
        shutil.copy(src / f"Subject{subject:02d}_{run}.edf", dst)


def test_local_sha256_verified(eegmat_path, isolated_env):
    folder = isolated_env / "copy"
    _copy_subject(eegmat_path, folder, 0)
    shutil.copy(eegmat_path / "subject-info.csv", folder)
    sums = physionet.parse_sums(eegmat_path / "SHA256SUMS")
    lines = [f"{sums[name]}  {name}" for name in sorted(sums)]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    assert len(fetch_eegmat(subjects=0, path=folder, download=False, verbose=False)) == 2

    wrong = "0" * 64
    lines = [
        f"{wrong if name == 'Subject00_2.edf' else sums[name]}  {name}" for name in sorted(sums)
    ]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"SHA256 of .*Subject00_2\.edf.*Delete it"):
        fetch_eegmat(subjects=0, path=folder, download=False, verbose=False)


def test_missing_subject_table_warns(eegmat_path, isolated_env):
    folder = isolated_env / "no_csv"
    _copy_subject(eegmat_path, folder, 1)
    with pytest.warns(RuntimeWarning, match="subject-info.csv"):
        raws, desc = fetch_eegmat(
            subjects=1, path=folder, download=False, verbose=False, return_description=True
        )
    assert desc["count_quality"].isna().all()
    _, _, groups = make_eegmat_epochs(raws, verbose=False)
    assert set(groups) == {1}


def test_download_checks_physionet_sums(eegmat_path, isolated_env, monkeypatch):
    """Missing files go through pooch with the hash from PhysioNet's SHA256SUMS.txt."""
    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash, fname))
        dest = Path(path) / fname
        if fname == "SHA256SUMS.txt":
            shutil.copy(eegmat_path / "SHA256SUMS", dest)
        else:
            shutil.copy(eegmat_path / fname, dest)
            algo, expected = known_hash.split(":")
            assert pooch.file_hash(str(dest), alg=algo) == expected
        return str(dest)

    monkeypatch.setattr(physionet.pooch, "retrieve", fake_retrieve)
    target = isolated_env / "download"
    raws, desc = fetch_eegmat(
        subjects=[5], path=target, download=True, verbose=False, return_description=True
    )
    fetched = sorted(name for _, _, name in calls if name != "SHA256SUMS.txt")
    assert fetched == ["Subject05_1.edf", "Subject05_2.edf", "subject-info.csv"]
    sums = physionet.parse_sums(eegmat_path / "SHA256SUMS")
    for url, known_hash, name in calls:
        assert url == "https://physionet.org/files/eegmat/1.0.0/" + name
        if name != "SHA256SUMS.txt":
            assert known_hash == f"sha256:{sums[name]}"
    assert (target / "Subject05_1.edf").is_file() and len(raws) == 2
    assert desc["count_quality"].notna().all()
    # A second call finds everything locally and downloads nothing.
    calls.clear()
    fetch_eegmat(subjects=[5], path=target, download=True, verbose=False)
    assert calls == []


def test_make_epochs_shapes_labels_groups(eegmat_epochs_small):
    epochs, y, groups = eegmat_epochs_small
    n = len(epochs)
    assert epochs.get_data().shape == (n, 19, 512)
    assert epochs.info["sfreq"] == 128.0 and epochs.ch_names == EEG_NAMES
    assert y.shape == groups.shape == (n,)
    assert set(y) == {"rest", "arithmetic"} and sorted(set(groups)) == [0, 1, 2, 3]
    np.testing.assert_array_equal(groups, epochs.metadata["subject"])
    np.testing.assert_array_equal(y, epochs.metadata["state"])
    codes = {"rest": 1, "arithmetic": 2}
    np.testing.assert_array_equal(epochs.events[:, 2], [codes[s] for s in y])
    assert epochs.event_id == codes
    assert epochs.info["subject_info"] is None


def test_make_epochs_windows_match_recordings(eegmat_path):
    raws = fetch_eegmat(subjects=[0], path=eegmat_path, download=False, verbose=False)
    epochs, y, groups = make_eegmat_epochs(
        raws, window_seconds=4.0, overlap_seconds=1.0, sfreq=128.0, verbose=False
    )
    for index, raw in enumerate(raws):
        duration = raw.n_times / raw.info["sfreq"]
        n_windows = int((duration - 4.0) // 3.0) + 1
        mask = epochs.metadata["recording"].to_numpy() == index
        assert mask.sum() == n_windows
        assert set(y[mask]) == {["rest", "arithmetic"][index]}
        np.testing.assert_allclose(epochs.metadata["start_s"][mask], np.arange(n_windows) * 3.0)
        # the second window of the recording is the resampled signal from 3 s to 7 s
        cont = raw.copy().pick("eeg").resample(128.0, verbose=False).get_data()
        np.testing.assert_allclose(epochs.get_data()[mask][1], cont[:, 384:896])
    assert set(groups) == {0}
    assert epochs.metadata["count_quality"].eq(0.0).all()


def test_make_epochs_filter_and_picks(eegmat_path):
    raws = fetch_eegmat(subjects=[0], path=eegmat_path, download=False, verbose=False)[1:]
    epochs, _, _ = make_eegmat_epochs(
        raws,
        window_seconds=2.0,
        sfreq=None,
        picks=["Cz", "Pz"],
        l_freq=8.0,
        h_freq=12.0,
        verbose=False,
    )
    assert epochs.ch_names == ["Cz", "Pz"] and epochs.info["sfreq"] == 500.0
    expected = raws[0].copy().pick(["Cz", "Pz"]).filter(8.0, 12.0, verbose=False).get_data()
    np.testing.assert_allclose(epochs.get_data()[0], expected[:, :1000])


def test_make_epochs_group_kfold_never_shares_subject(eegmat_epochs_small):
    epochs, y, groups = eegmat_epochs_small
    for train, test in GroupKFold(n_splits=3).split(np.zeros(len(y)), y, groups):
        assert not set(groups[train]) & set(groups[test])
        assert set(epochs.metadata["subject"].iloc[test]) == set(groups[test])


def test_make_epochs_errors(eegmat_path):
    import mne

    raws = fetch_eegmat(subjects=[0], path=eegmat_path, download=False, verbose=False)
    with pytest.raises(ValueError, match="overlap_seconds"):
        make_eegmat_epochs(raws, window_seconds=2.0, overlap_seconds=2.0)
    with pytest.raises(ValueError, match="window_seconds"):
        make_eegmat_epochs(raws, window_seconds=0)
    bare = mne.io.RawArray(np.zeros((2, 1000)), mne.create_info(2, 100.0, "eeg"), verbose=False)
    with pytest.raises(ValueError, match="fetch_eegmat"):
        make_eegmat_epochs([bare])


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_state_annotation_labels_braindecode_windows(two_subjects):
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import create_windows_from_events

    raws, desc = two_subjects
    dataset = BaseConcatDataset(
        [RawDataset(raw, description=desc.iloc[i]) for i, raw in enumerate(raws)]
    )
    windows = create_windows_from_events(
        dataset,
        window_size_samples=2000,
        window_stride_samples=2000,
        on_last_window="drop",
        mapping={"rest": 0, "arithmetic": 1},
    )
    expected = [int(d // 4.0) for d in desc["duration_s"]]
    assert [len(d) for d in windows.datasets] == expected
    labels = [windows.datasets[i][0][1] for i in range(4)]
    assert labels == [0, 1, 0, 1]
    assert windows.description["subject"].tolist() == [0, 0, 1, 1]
