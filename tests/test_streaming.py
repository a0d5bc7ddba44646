"""Pretraining on recordings streamed from disk: same result as in memory, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mne
import numpy as np
import pytest
import torch

from eegm2_sklearn import EEGM2Pretrainer
from eegm2_sklearn.data import EEGWindowStream, is_streamable, stream_windows

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=16, random_state=0)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def edf_files(eegmat_path):
    """Two 60-s EEGMAT recordings (21 signals at 500 Hz)."""
    return [str(eegmat_path / f"Subject0{s}_2.edf") for s in (0, 1)]


def same_weights(a, b) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(
            a.module_.state_dict().values(), b.module_.state_dict().values(), strict=True
        )
    )


def test_streamed_files_train_like_preloaded_raws(edf_files):
    lazy = EEGM2Pretrainer(window_seconds=1.0, max_epochs=2, **TINY).fit(edf_files)
    raws = [mne.io.read_raw_edf(f, preload=True, verbose="error") for f in edf_files]
    assert not is_streamable(raws) and is_streamable(edf_files)
    eager = EEGM2Pretrainer(window_seconds=1.0, max_epochs=2, **TINY).fit(raws)
    assert same_weights(lazy, eager)
    assert lazy.history_[:, "train_loss"] == eager.history_[:, "train_loss"]
    assert (lazy.n_chans_, lazy.n_times_, lazy.sfreq_) == (21, 500, 500.0)
    assert lazy.ch_names_ == raws[0].ch_names
    # the fitted model transforms in-memory windows as usual
    assert lazy.transform(np.zeros((2, 21, 500), np.float32)).shape == (2, 9 * 32)


def test_lazy_raw_and_braindecode_windows_stream(edf_files):
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import create_fixed_length_windows

    raws = [mne.io.read_raw_edf(f, preload=False, verbose="error") for f in edf_files]
    assert is_streamable(raws) and is_streamable(raws[0])
    windows = create_fixed_length_windows(
        BaseConcatDataset([RawDataset(r) for r in raws]),
        window_size_samples=500,
        window_stride_samples=500,
        on_last_window="drop",
        preload=False,
    )
    assert is_streamable(windows)
    stream = stream_windows(windows, scaling="robust")
    assert isinstance(stream, EEGWindowStream)
    assert len(stream) == sum(r.n_times // 500 for r in raws)
    assert not raws[0].preload  # nothing loaded
    pre = EEGM2Pretrainer(max_epochs=1, validation_split=0.25, **TINY).fit(windows)
    assert pre.n_times_ == 500 and np.isfinite(pre.history_[-1, "valid_loss"])
    from_raw = EEGM2Pretrainer(window_seconds=1.0, max_epochs=1, **TINY).fit(raws)
    assert from_raw.n_chans_ == 21


def test_streaming_errors(tmp_path, edf_files):
    with pytest.raises(ValueError, match="is a folder"):
        EEGM2Pretrainer(window_seconds=1.0, max_epochs=1, **TINY).fit([str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        EEGM2Pretrainer(window_seconds=1.0, max_epochs=1, **TINY).fit([str(tmp_path / "x.edf")])
    with pytest.raises(ValueError, match="window_seconds"):
        EEGM2Pretrainer(max_epochs=1, **TINY).fit(edf_files)
    info = mne.create_info(["Cz", "Pz"], 100.0, "eeg")
    data = np.random.default_rng(0).normal(size=(2, 1000)) * 1e-5
    data[1, 450] = np.nan
    mne.io.RawArray(data, info, verbose=False).save(tmp_path / "nan_raw.fif", verbose=False)
    other = mne.io.RawArray(
        data[:, :500], mne.create_info(["Cz", "Pz"], 50.0, "eeg"), verbose=False
    )
    other.save(tmp_path / "other_raw.fif", verbose=False)
    files = [str(tmp_path / "nan_raw.fif"), str(tmp_path / "other_raw.fif")]
    with pytest.raises(ValueError, match="sampled at 50 Hz but raw 0 at 100 Hz"):
        EEGM2Pretrainer(window_seconds=1.0, max_epochs=1, **TINY).fit(files)
    with pytest.raises(ValueError, match=r"Window 4 \(recording 0.*NaN or infinite"):
        EEGM2Pretrainer(window_seconds=1.0, max_epochs=1, **TINY).fit(files[:1])
    pre = EEGM2Pretrainer(window_seconds=1.0, max_epochs=1, **TINY).fit(
        np.zeros((4, 21, 64), np.float32)
    )
    with pytest.raises(ValueError, match="only EEGM2Pretrainer.fit reads"):
        pre.transform(edf_files)


@pytest.mark.slow
def test_peak_memory_stays_bounded_with_4x_the_data(eegmat_path):
    """Peak RSS of streamed pretraining barely moves when the data grow fourfold."""

    def measure(factor: int) -> dict:
        cmd = [
            sys.executable,
            str(REPO / "benchmarks" / "bench_streaming_rss.py"),
            "--child",
            "--data",
            str(eegmat_path),
            "--subjects",
            "2",
            "--factor",
            str(factor),
            "--mode",
            "stream",
            "--window-seconds",
            "2",
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    one, four = measure(1), measure(4)
    assert four["windows"] == 4 * one["windows"]
    data_growth = four["data_mb"] - one["data_mb"]  # about 50 MB of float32 windows
    assert data_growth > 40
    assert four["peak_mb"] - one["peak_mb"] < 0.3 * data_growth
