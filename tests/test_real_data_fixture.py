"""Real-EEG tests skip without the EEGMAT data, except under ``CI=true``, where they fail.

Each case runs pytest in a subprocess on a one-test file beside a copy of
``tests/conftest.py``, with ``EEGM2_DATA`` naming an empty folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")


def run_without_data(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_needs_data.py").write_text(
        "def test_reads_eegmat(eegmat_path):\n    assert eegmat_path.is_dir()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["EEGM2_DATA"] = str(tmp_path / "no-data")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_data_fails_under_ci(tmp_path, ci):
    res = run_without_data(tmp_path, ci)
    assert res.returncode == 1, res.stdout[-2000:]
    assert "1 error" in res.stdout
    assert "CI=true but the EEGMAT data are not in" in res.stdout
    assert str(tmp_path / "no-data") in res.stdout


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_missing_data_skips_outside_ci(tmp_path, ci):
    res = run_without_data(tmp_path, ci)
    assert res.returncode == 0, res.stdout[-2000:]
    assert "1 skipped" in res.stdout and "EEGMAT data not found" in res.stdout
