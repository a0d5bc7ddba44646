"""The installation: torch/torchaudio/braindecode load together, the core works without
torchaudio, ``sys_info`` and the command line's help."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import mne
import numpy as np
import pytest

from eegm2_sklearn import EEGM2Pretrainer, sys_info
from eegm2_sklearn.cli import main
from eegm2_sklearn.environment import (
    FIX_COMMAND,
    import_braindecode,
    installed_version,
    torchaudio_problem,
)

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=8, random_state=0, mask_span=8)


def test_braindecode_and_torchaudio_load_beside_the_installed_torch():
    problem = torchaudio_problem()
    assert problem is None, (
        f"torchaudio {installed_version('torchaudio')} does not load beside torch "
        f"{installed_version('torch')}: {problem}. Fix the pins in pyproject.toml."
    )
    models = import_braindecode("braindecode.models")
    assert hasattr(models, "ShallowFBCSPNet")


# A torchaudio that fails to load as the mismatched 2.11.1 wheel does beside torch 2.11.0.
BROKEN_TORCHAUDIO = (
    "raise OSError('libtorchaudio.so: undefined symbol: "
    "torch_exception_get_what_without_backtrace')\n"
)

WITHOUT_TORCHAUDIO = textwrap.dedent(
    """
    import warnings
    import mne, numpy as np
    import eegm2_sklearn
    from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
    from eegm2_sklearn.environment import FIX_COMMAND, torchaudio_problem
    assert torchaudio_problem().startswith("OSError"), torchaudio_problem()
    tiny = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=8,
                random_state=0, max_epochs=1, verbose=0)
    pre_tiny = dict(tiny, mask_span=8)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 3, 64)).astype("float32")
    y = np.array([0, 1] * 8)
    clf = EEGM2Classifier(head="pool", **tiny).fit(X, y)
    info = mne.create_info(["Cz", "Pz", "Oz"], 64.0, "eeg")
    epochs = mne.EpochsArray(X * 1e-5, info, verbose="error")
    assert clf.fit(epochs, y).predict(epochs).shape == (16,)
    assert EEGM2Pretrainer(**pre_tiny).fit(epochs).transform(epochs).shape[0] == 16
    raw = mne.io.RawArray(rng.standard_normal((3, 640)) * 1e-5, info, verbose="error")
    try:
        EEGM2Pretrainer(window_seconds=1.0, **pre_tiny).fit(raw)
    except ImportError as err:
        message = str(err)
        assert "torchaudio" in message and "torch " in message, message
        assert FIX_COMMAND in message, message
        print("IMPORT ERROR:", message)
    else:
        raise AssertionError("fit(raw) needs braindecode and should have failed")
    """
)


def test_core_works_when_torchaudio_cannot_load(tmp_path):
    fake = tmp_path / "torchaudio"
    fake.mkdir()
    (fake / "__init__.py").write_text(BROKEN_TORCHAUDIO)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCHAUDIO],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    message = done.stdout.split("IMPORT ERROR:", 1)[1]
    assert f"torch {installed_version('torch')}" in message
    assert f"torchaudio {installed_version('torchaudio')}" in message
    assert "undefined symbol" in message


def test_sys_info_lists_versions_devices_and_the_backend():
    buf = io.StringIO()
    sys_info(buf)
    text = buf.getvalue()
    rows = dict(line.split(":", 1) for line in text.splitlines())
    for name in (
        "Python",
        "Platform",
        "CPU threads",
        "torch",
        "torchaudio",
        "braindecode",
        "mne",
        "skorch",
        "scikit-learn",
        "numpy",
        "mamba-ssm",
        "backend='auto'",
        "GPUs",
    ):
        assert name in rows, f"sys_info lacks {name!r}:\n{text}"
    assert installed_version("torch") in rows["torch"]
    assert installed_version("skorch") in rows["skorch"]
    assert "(loads)" in rows["torchaudio"]
    assert rows["backend='auto'"].split()[0] in ("torch", "mamba_ssm")


def test_cli_sys_info_version_and_help(capsys):
    assert main(["sys-info"]) == 0
    assert "torchaudio" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == "eegm2 0.1.0"
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert top.count("eegm2 pretrain --data") == 1 and top.count("eegm2 finetune") == 1
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for shown in (
        "global batch size (paper: 64) (default: 64)",
        "peak learning rate (paper: 5e-4) (default: 0.0005)",
        "Mamba-2 expansion (paper: 8) (default: 8)",
        "Mamba-2 state size (paper: 16) (default: 16)",
        "per-window scaling (default: robust)",
    ):
        assert shown in text


def test_default_fit_prints_a_line_per_epoch(capsys):
    X = np.random.default_rng(0).standard_normal((16, 3, 64)).astype("float32")
    EEGM2Pretrainer(max_epochs=2, **TINY).fit(X)
    out = capsys.readouterr().out
    assert "train_loss" in out and "dur" in out
    epoch_lines = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(epoch_lines) == 2, out
    EEGM2Pretrainer(max_epochs=2, verbose=0, **TINY).fit(X)
    assert capsys.readouterr().out == ""


def test_window_seconds_ignored_for_windowed_input_warns():
    X = np.random.default_rng(0).standard_normal((16, 3, 64)).astype("float32")
    info = mne.create_info(["Cz", "Pz", "Oz"], 16.0, "eeg")
    epochs = mne.EpochsArray(X * 1e-5, info, verbose="error")
    with pytest.warns(UserWarning, match=r"window_seconds=100.*own windows of 4 s \(64 samples"):
        EEGM2Pretrainer(window_seconds=100, max_epochs=1, verbose=0, **TINY).fit(epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EEGM2Pretrainer(max_epochs=1, verbose=0, **TINY).fit(epochs)


def test_fix_command_installs_a_pair_the_dependencies_admit():
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    declared = {r.name: r.specifier for r in map(Requirement, project["project"]["dependencies"])}
    pins = dict(part.split("==") for part in FIX_COMMAND.split('"')[1::2])
    assert set(pins) == {"torch", "torchaudio"}
    for name, version in pins.items():
        assert version in declared[name], (name, version, str(declared[name]))
