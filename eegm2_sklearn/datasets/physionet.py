"""Where EEGMAT's files are found (argument, ``EEGM2_DATA``, MNE's data folder), their
SHA256 checks, the download from PhysioNet, and the subject table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import mne
import pandas as pd
import pooch

BASE_URL = "https://physionet.org/files/eegmat/1.0.0/"
REMOTE_SUMS_FILE = "SHA256SUMS.txt"
SUMS_FILES = ("SHA256SUMS.txt", "SHA256SUMS")  # PhysioNet's name first
ENV_VAR = "EEGM2_DATA"


def mne_data_folder() -> Path:
    """The EEGMAT folder under MNE's data-folder convention."""
    root = mne.get_config("MNE_DATASETS_EEGMAT_PATH") or mne.get_config("MNE_DATA")
    root = Path(root).expanduser() if root else Path.home() / "mne_data"
    return root / "eegmat"


def candidate_folders(path) -> list[Path]:
    folders = []
    if path is not None:
        folders.append(Path(path).expanduser())
    if os.environ.get(ENV_VAR):
        folders.append(Path(os.environ[ENV_VAR]).expanduser())
    folders.append(mne_data_folder())
    unique: list[Path] = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique


def parse_sums(sums_path: Path) -> dict[str, str]:
    """Parse ``sha256sum`` output (``<hex>  <name>`` or ``<hex> *<name>``) to name -> hash."""
    sums = {}
    for line in Path(sums_path).read_text().splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


def local_sums(folder: Path) -> tuple[Path | None, dict[str, str]]:
    for name in SUMS_FILES:
        candidate = folder / name
        if candidate.is_file():
            return candidate, parse_sums(candidate)
    return None, {}


@lru_cache(maxsize=1024)
def sha256(path: str, mtime_ns: int, size: int) -> str:
    # mtime and size are part of the cache key so an edited file is hashed again.
    return pooch.file_hash(path, alg="sha256")


def verify_local(fpath: Path) -> None:
    """Check a local file against a SHA256SUMS file beside it, if there is one.

    Hashing a file costs a small fraction of reading it, so local files are always
    checked when a sums file lies beside them.
    """
    sums_path, sums = local_sums(fpath.parent)
    expected = sums.get(fpath.name)
    if expected is None:
        return
    stat = fpath.stat()
    actual = sha256(str(fpath), stat.st_mtime_ns, stat.st_size)
    if actual != expected:
        raise ValueError(
            f"SHA256 of {fpath} is {actual}, but {sums_path} lists {expected}: the file "
            "is damaged or not EEGMAT v1.0.0. Delete it and call "
            "fetch_eegmat(download=True) to fetch a fresh copy from PhysioNet."
        )


def find_file(name: str, folders: Sequence[Path]) -> Path | None:
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    return None


def download_files(names: Sequence[str], folder: Path) -> None:
    """Fetch ``names`` from PhysioNet into ``folder``, checked against its SHA256SUMS.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    sums_path = pooch.retrieve(
        BASE_URL + REMOTE_SUMS_FILE,
        known_hash=None,
        fname=REMOTE_SUMS_FILE,
        path=folder,
        progressbar=False,
    )
    sums = parse_sums(Path(sums_path))
    for name in names:
        if name not in sums:
            raise RuntimeError(
                f"{name} is not listed in {sums_path}; the PhysioNet release seems to have "
                "changed. Delete that file and try again, or download the data by hand."
            )
        mne.utils.logger.info(f"Downloading {BASE_URL}{name} to {folder}")
        pooch.retrieve(
            BASE_URL + name,
            known_hash=f"sha256:{sums[name]}",
            fname=name,
            path=folder,
            progressbar=False,
        )


def read_subject_table(csv_path: Path | None) -> pd.DataFrame:
    """``subject-info.csv`` as a table indexed by subject id (empty without the file)."""
    columns = ["age", "gender", "n_subtractions", "count_quality"]
    if csv_path is None:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="subject"))
    table = pd.read_csv(csv_path)
    table = table.rename(
        columns={
            "Age": "age",
            "Gender": "gender",
            "Number of subtractions": "n_subtractions",
            "Count quality": "count_quality",
        }
    )
    table["subject"] = table["Subject"].str.replace("Subject", "").astype(int)
    return table.set_index("subject")[columns]
