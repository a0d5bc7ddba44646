"""PhysioNet "EEG During Mental Arithmetic Tasks" (EEGMAT) v1.0.0.

36 healthy subjects (ids 0 to 35); per subject ``SubjectNN_1.edf`` (resting, eyes closed,
before the task; 80 to 188 s) and ``SubjectNN_2.edf`` (serial subtraction, 60 s), 21
signals at 500 Hz: 19 scalp electrodes of the 10-20 system, the ``EEG A2-A1`` reference
derivation and ``ECG ECG``. ``subject-info.csv`` gives, per subject, age, gender,
recording year, number of subtractions and ``Count quality`` (1 good, 0 bad counter).

Data: Zyma I. et al., "Electroencephalograms during Mental Arithmetic Task Performance",
Data 4(1):14, 2019; Goldberger A. et al., Circulation 101(23), 2000 (PhysioNet).
Licence: Open Data Commons Attribution License v1.0.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence

import mne
import numpy as np
import pandas as pd
from mne.io import BaseRaw

from ..preprocessing import EEGPreprocessor
from .physionet import (
    BASE_URL,
    ENV_VAR,
    candidate_folders,
    download_files,
    find_file,
    read_subject_table,
    verify_local,
)

__all__ = ["fetch_eegmat", "make_eegmat_epochs"]

N_SUBJECTS = 36
STATES = {1: "rest", 2: "arithmetic"}  # file suffix -> state
STATE_CODES = {"rest": 1, "arithmetic": 2}  # event codes used by make_eegmat_epochs
SUBJECT_INFO_FILE = "subject-info.csv"
_CHANNEL_TYPES = {"EEG A2-A1": "misc", "ECG ECG": "ecg"}


def _montage_name() -> str:
    # MNE 1.13 deprecates "standard_1020" in favour of "colin27_1020" (same positions).
    builtin = mne.channels.get_builtin_montages()
    return "colin27_1020" if "colin27_1020" in builtin else "standard_1020"


def _check_subjects(subjects) -> list[int]:
    if subjects is None:
        return list(range(N_SUBJECTS))
    if isinstance(subjects, (int, np.integer)):
        subjects = [subjects]
    if not isinstance(subjects, Iterable) or isinstance(subjects, str):
        raise TypeError(
            f"subjects must be None, an int or a list of ints in 0..{N_SUBJECTS - 1}; "
            f"got {subjects!r}."
        )
    out: list[int] = []
    for s in subjects:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"subjects must hold ints in 0..{N_SUBJECTS - 1}; got {s!r}.")
        if not 0 <= int(s) < N_SUBJECTS:
            raise ValueError(f"EEGMAT has subjects 0..{N_SUBJECTS - 1}; got {int(s)} in subjects.")
        if int(s) not in out:
            out.append(int(s))
    if not out:
        raise ValueError("subjects is empty; pass None for all 36 subjects.")
    return out


def _edf_name(subject: int, run: int) -> str:
    return f"Subject{subject:02d}_{run}.edf"


def _prepare_raw(raw: BaseRaw, subject: int, state: str, row: dict, rename: bool) -> None:
    raw.set_channel_types(
        {ch: kind for ch, kind in _CHANNEL_TYPES.items() if ch in raw.ch_names},
        on_unit_change="ignore",
    )
    if rename:
        mapping = {ch: ch.removeprefix("EEG ") for ch in raw.ch_names}
        mapping["ECG ECG"] = "ECG"
        raw.rename_channels({k: v for k, v in mapping.items() if k in raw.ch_names})
        raw.set_montage(_montage_name())
    sex = {"M": 1, "F": 2}.get(str(row.get("gender")), 0)
    raw.info["subject_info"] = {"id": subject, "his_id": f"Subject{subject:02d}", "sex": sex}
    raw.info["description"] = f"EEGMAT Subject{subject:02d}, {state}"
    extras = {
        "subject": subject,
        "count_quality": float(row.get("count_quality", np.nan)),
    }
    raw.annotations.append(0.0, raw.n_times / raw.info["sfreq"], state, extras=[extras])


@mne.utils.verbose
def fetch_eegmat(
    subjects: int | Iterable[int] | None = None,
    path: str | os.PathLike | None = None,
    download: bool = True,
    verbose: bool | str | int | None = None,
    *,
    rename_channels: bool = True,
    return_description: bool = False,
) -> list[BaseRaw] | tuple[list[BaseRaw], pd.DataFrame]:
    """Load EEGMAT recordings as preloaded Raw objects, downloading missing files.

    PhysioNet's "EEG During Mental Arithmetic Tasks" v1.0.0: 36 subjects, one resting
    recording (eyes closed, 80 to 188 s) and one mental-arithmetic recording (serial
    subtraction, 60 s) each, 19 scalp EEG channels plus a reference derivation and ECG at
    500 Hz, already filtered (0.5-45 Hz) and cleaned by the dataset's authors.

    Where files are looked for, in this order: ``path``; the folder named by the
    environment variable ``EEGM2_DATA``; MNE's data folder (``<root>/eegmat`` with
    ``<root>`` from the MNE config key ``MNE_DATASETS_EEGMAT_PATH``, else ``MNE_DATA``, else
    ``~/mne_data``). Each file is taken from the first of these folders that holds it.
    Missing files are downloaded with :mod:`pooch` from
    ``https://physionet.org/files/eegmat/1.0.0/`` into the first folder of that list,
    after fetching PhysioNet's ``SHA256SUMS.txt`` there and checking every file against it.
    Local files are checked against a ``SHA256SUMS.txt`` or ``SHA256SUMS`` file in their
    folder when there is one (cheap next to reading them, so always done).

    Parameters
    ----------
    subjects : int | list of int | None
        Subject ids in 0..35; ``None`` loads all 36.
    path : path-like | None
        Folder holding ``SubjectNN_K.edf`` files (searched first, and the download target).
    download : bool
        Download files found nowhere. With ``False`` a missing recording raises
        :class:`FileNotFoundError`; a missing ``subject-info.csv`` gives a warning and
        ``NaN`` counting quality.
    verbose : bool | str | int | None
        MNE logging level for this call (see :func:`mne.verbose`).
    rename_channels : bool
        If ``True`` (default), rename ``EEG Fp1`` ... to plain 10-20 names (``Fp1`` ...),
        ``EEG A2-A1`` to ``A2-A1`` and ``ECG ECG`` to ``ECG``, and set MNE's template 10-20
        montage (``colin27_1020``, or ``standard_1020`` before MNE 1.13) so that sensor
        plots and topographies work. If ``False``, keep the EDF names and set no montage.
    return_description : bool
        Also return a DataFrame describing each recording.

    Returns
    -------
    raws : list of mne.io.Raw
        One preloaded Raw per recording, ordered subject by subject, rest before
        arithmetic. Channel types: 19 ``eeg``, ``A2-A1`` ``misc``, ``ECG`` ``ecg``. Each
        carries its provenance: ``raw.info["subject_info"]`` has ``id`` (the subject
        number), ``his_id`` (``"SubjectNN"``) and ``sex``; an annotation spanning the whole
        recording is labelled with the state (``"rest"`` or ``"arithmetic"``) and has
        ``extras`` ``{"subject": id, "count_quality": 0.0 | 1.0 | nan}``, so
        :func:`make_eegmat_epochs` and braindecode's ``create_windows_from_events`` (with
        ``mapping={"rest": 0, "arithmetic": 1}``) can label windows. The EDF header
        annotation ``[Total time]...`` is kept as read.
    description : pandas.DataFrame
        Only if ``return_description``: one row per Raw, in the same order, with columns
        ``subject`` (int), ``state`` (str), ``count_quality`` (float, 1 good counter,
        0 bad, NaN unknown), ``age``, ``gender``, ``n_subtractions``, ``duration_s`` and
        ``path`` - like braindecode's ``BaseConcatDataset.description``.

    Raises
    ------
    FileNotFoundError
        If ``download=False`` and a recording is in none of the folders searched.
    ValueError
        If a file's SHA256 differs from the sums file beside it, or a subject id is out of
        range.

    See Also
    --------
    make_eegmat_epochs : cut the recordings into labelled windows.

    Examples
    --------
    With a local copy named by ``EEGM2_DATA`` (nothing is downloaded):

    >>> raws, desc = fetch_eegmat(subjects=[0], download=False, verbose=False,
    ...                           return_description=True)
    >>> len(raws), raws[0].info["sfreq"]
    (2, 500.0)
    >>> desc[["subject", "state", "count_quality"]]
       subject       state  count_quality
    0        0        rest            0.0
    1        0  arithmetic            0.0
    """
    subject_list = _check_subjects(subjects)
    folders = candidate_folders(path)
    target = folders[0]
    needed = [_edf_name(s, run) for s in subject_list for run in STATES]

    missing = [name for name in needed if find_file(name, folders) is None]
    if missing and not download:
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        shown = ", ".join(missing[:4]) + more
        raise FileNotFoundError(
            f"EEGMAT files not found: {shown}. Looked in: "
            + ", ".join(str(f) for f in folders)
            + f". Point to a local copy with path=<folder> or the environment variable "
            f"{ENV_VAR}=<folder>, or call fetch_eegmat(download=True) to fetch them from "
            f"{BASE_URL} into {target}."
        )
    if missing:
        download_files(missing, target)
    csv_path = find_file(SUBJECT_INFO_FILE, folders)
    reason = "not found in " + ", ".join(str(f) for f in folders)
    if csv_path is None and download:
        try:
            download_files([SUBJECT_INFO_FILE], target)
            csv_path = find_file(SUBJECT_INFO_FILE, folders)
        except Exception as exc:  # the recordings are here; the table is optional
            reason = f"could not be downloaded ({exc})"
    if csv_path is None:
        warnings.warn(
            f"{SUBJECT_INFO_FILE} {reason}; counting quality, age and gender are NaN. "
            f"Put it beside the recordings or call fetch_eegmat(download=True) with "
            "network access to fetch it.",
            RuntimeWarning,
            stacklevel=3,
        )
    else:
        verify_local(csv_path)
    table = read_subject_table(csv_path)

    raws: list[BaseRaw] = []
    rows: list[dict] = []
    for subject in subject_list:
        info_row = table.loc[subject].to_dict() if subject in table.index else {}
        for run, state in STATES.items():
            fpath = find_file(_edf_name(subject, run), folders)
            verify_local(fpath)
            raw = mne.io.read_raw_edf(fpath, preload=True, verbose=verbose)
            _prepare_raw(raw, subject, state, info_row, rename_channels)
            raws.append(raw)
            rows.append(
                {
                    "subject": subject,
                    "state": state,
                    "count_quality": float(info_row.get("count_quality", np.nan)),
                    "age": info_row.get("age", np.nan),
                    "gender": info_row.get("gender", None),
                    "n_subtractions": info_row.get("n_subtractions", np.nan),
                    "duration_s": raw.n_times / raw.info["sfreq"],
                    "path": str(fpath),
                }
            )
    if return_description:
        return raws, pd.DataFrame(rows)
    return raws


def _recording_label(raw: BaseRaw, index: int) -> tuple[int, str, float]:
    """Subject id, state and counting quality stored by :func:`fetch_eegmat`."""
    subject_info = raw.info.get("subject_info") or {}
    for description, extras in zip(
        raw.annotations.description, raw.annotations.extras, strict=True
    ):
        if description in STATE_CODES:
            extras = extras or {}
            subject = extras.get("subject", subject_info.get("id"))
            quality = extras.get("count_quality", np.nan)
            if subject is not None:
                return int(subject), str(description), float(quality)
    raise ValueError(
        f"raws[{index}] carries no EEGMAT subject/state annotation; pass Raw objects "
        "returned by fetch_eegmat (their annotations label the state)."
    )


@mne.utils.verbose
def make_eegmat_epochs(
    raws: Sequence[BaseRaw],
    window_seconds: float = 4.0,
    overlap_seconds: float = 0.0,
    sfreq: float | None = 128.0,
    picks="eeg",
    l_freq: float | None = None,
    h_freq: float | None = None,
    verbose: bool | str | int | None = None,
) -> tuple[mne.BaseEpochs, np.ndarray, np.ndarray]:
    """Cut EEGMAT recordings into fixed-length labelled windows for cross-validation.

    Each recording is copied, reduced to ``picks``, optionally band-pass filtered with
    :meth:`mne.io.Raw.filter` (on the continuous signal, so windows have no filter edge
    effects) and resampled with :meth:`mne.io.Raw.resample`, all by
    :class:`~eegm2_sklearn.preprocessing.EEGPreprocessor`, then cut with
    :func:`mne.make_fixed_length_epochs`; the pieces are joined with
    :func:`mne.concatenate_epochs`. The last incomplete window of a recording is dropped.

    Parameters
    ----------
    raws : list of mne.io.Raw
        Recordings from :func:`fetch_eegmat` (their annotations carry subject and state).
    window_seconds : float
        Window length in seconds.
    overlap_seconds : float
        Overlap of consecutive windows in seconds, ``0 <= overlap < window``.
    sfreq : float | None
        Target sampling rate in Hz; ``None`` keeps 500 Hz.
    picks : str | list | None
        Channels to keep (MNE picks: ``"eeg"``, names, indices; ``None`` keeps all).
    l_freq, h_freq : float | None
        Band-pass edges in Hz passed to :meth:`mne.io.Raw.filter`; both ``None`` skips
        filtering.
    verbose : bool | str | int | None
        MNE logging level for this call.

    Returns
    -------
    epochs : mne.Epochs, shape (n_windows, n_channels, n_times)
        An :class:`mne.EpochsArray` when several recordings are joined.
        Windows in recording order, volts as MNE stores them. ``event_id`` is
        ``{"rest": 1, "arithmetic": 2}``; ``metadata`` has columns ``subject``, ``state``,
        ``count_quality``, ``recording`` (index into ``raws``) and ``start_s`` (window
        start within its recording). ``info["subject_info"]`` is cleared since the
        windows mix subjects.
    y : ndarray of str, shape (n_windows,)
        ``"rest"`` or ``"arithmetic"`` per window.
    groups : ndarray of int, shape (n_windows,)
        Subject id per window, for :class:`sklearn.model_selection.GroupKFold`.

    Examples
    --------
    >>> import numpy as np
    >>> raws = fetch_eegmat(subjects=[0, 1], download=False, verbose=False)
    >>> epochs, y, groups = make_eegmat_epochs(raws, window_seconds=4.0, verbose=False)
    >>> epochs.get_data().shape
    (120, 19, 512)
    >>> np.unique(y).tolist(), np.unique(groups).tolist()
    (['arithmetic', 'rest'], [0, 1])
    """
    if isinstance(raws, BaseRaw):
        raws = [raws]
    if len(raws) == 0:
        raise ValueError("raws is empty; pass the list returned by fetch_eegmat.")
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive; got {window_seconds}.")
    if not 0 <= overlap_seconds < window_seconds:
        raise ValueError(
            f"overlap_seconds must satisfy 0 <= overlap_seconds < window_seconds "
            f"({window_seconds}); got {overlap_seconds}."
        )
    if sfreq is not None and not sfreq > 0:
        raise ValueError(f"sfreq must be positive or None; got {sfreq}.")

    prep = EEGPreprocessor(l_freq, h_freq, sfreq, picks, verbose=verbose)
    pieces = []
    for index, raw in enumerate(raws):
        if not isinstance(raw, BaseRaw):
            raise TypeError(f"raws[{index}] is {type(raw).__name__}, expected mne.io.Raw.")
        subject, state, quality = _recording_label(raw, index)
        rec = prep.transform(raw)  # a copy: picked, filtered, resampled
        epochs = mne.make_fixed_length_epochs(
            rec,
            duration=window_seconds,
            overlap=overlap_seconds,
            preload=True,
            id=STATE_CODES[state],
            verbose=verbose,
        )
        if len(epochs) == 0:
            continue
        epochs.event_id = {state: STATE_CODES[state]}
        epochs.set_annotations(None)  # the state is in metadata; MNE cannot join these
        epochs.metadata = pd.DataFrame(
            {
                "subject": subject,
                "state": state,
                "count_quality": quality,
                "recording": index,
                "start_s": (epochs.events[:, 0] - rec.first_samp) / rec.info["sfreq"],
            }
        )
        pieces.append(epochs)
    if not pieces:
        raise ValueError(
            f"No recording is at least window_seconds={window_seconds} s long; use shorter windows."
        )
    epochs = pieces[0] if len(pieces) == 1 else mne.concatenate_epochs(pieces, verbose=verbose)
    epochs.info["subject_info"] = None
    epochs.info["description"] = f"EEGMAT windows of {window_seconds} s"
    y = epochs.metadata["state"].to_numpy(dtype=str)
    groups = epochs.metadata["subject"].to_numpy(dtype=int)
    return epochs, y, groups
