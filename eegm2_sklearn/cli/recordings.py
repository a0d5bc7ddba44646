"""The recordings a command reads: found in a folder or EEGMAT, preprocessed into a cache."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def say(*args) -> None:
    from ..training import distributed

    if distributed.is_main_process():
        print(*args, flush=True)


def find_recordings(folder: str | os.PathLike, patterns) -> list[Path]:
    """Recordings under ``folder`` matching any of ``patterns``, sorted.

    BrainVision and EEGLAB keep data beside the header (``.eeg``/``.fdt``): only headers
    (``.vhdr``, ``.set``) are listed.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"--data {folder} is not a folder.")
    found = sorted({p for pat in patterns for p in root.rglob(pat) if p.is_file()})
    if not found:
        raise ValueError(f"No recordings matching {' '.join(patterns)} under {root}.")
    return found


def _needs_preprocessing(args) -> bool:
    return (
        args.dataset == "eegmat"
        or args.sfreq is not None
        or args.l_freq is not None
        or args.h_freq is not None
        or args.channels is not None
        or args.picks != "data"
    )


def channel_names(args) -> list[str]:
    return [c.strip() for c in (args.channels or "").split(",") if c.strip()]


def prepare_raw(raw, args):
    """Pick, select channels, filter and resample one recording as the options say.

    The work is :class:`~eegm2_sklearn.preprocessing.EEGPreprocessor`'s; ``--picks`` is
    applied first to the recording itself, which may not be loaded yet, so that only those
    channels are ever read.
    """
    from ..preprocessing import EEGPreprocessor

    raw.pick(args.picks)
    names = channel_names(args)
    missing = [c for c in names if c not in raw.ch_names]
    if missing:
        raise ValueError(
            f"{raw.filenames[0] if raw.filenames else 'A recording'} lacks channels "
            f"{missing}; it has {raw.ch_names}."
        )
    prep = EEGPreprocessor(args.l_freq, args.h_freq, args.sfreq, names or None, verbose="error")
    return prep.transform(raw)


def _sources(args) -> list[tuple[str, object]]:
    """(name, loader) per recording; ``loader()`` returns a Raw (lazy where possible)."""
    import mne

    if args.dataset == "eegmat":
        from ..datasets import fetch_eegmat

        subjects = args.subjects if args.subjects is not None else list(range(36))
        out = []
        for s in subjects:
            for i, state in enumerate(("rest", "arithmetic")):

                def load(s=s, i=i):
                    return fetch_eegmat(subjects=[s], path=args.data, download=False)[i]

                out.append((f"Subject{s:02d}_{state}", load))
        return out
    files = find_recordings(args.data, args.pattern)
    return [(str(f), lambda f=f: mne.io.read_raw(f, preload=False, verbose="error")) for f in files]


def _cache_name(name: str, args) -> str:
    settings = [name, args.picks, args.channels, args.l_freq, args.h_freq, args.sfreq]
    if os.path.isfile(name):
        st = os.stat(name)
        settings += [st.st_size, st.st_mtime_ns]
    digest = hashlib.sha1(json.dumps(settings, default=str).encode()).hexdigest()[:10]
    return f"{Path(name).stem}-{digest}_raw.fif"


def prepared_recordings(args, cache_dir: Path) -> list[str]:
    """Files to stream: the recordings themselves, or preprocessed FIF copies in the cache.

    Preprocessing reads one recording at a time (memory bounded by the largest one), skips
    recordings already in the cache (so an interrupted run redoes only what is missing) and
    writes each file atomically. Under ``torchrun`` every process does its share.
    """
    from ..training import distributed

    sources = _sources(args)
    if not _needs_preprocessing(args):
        return [name for name, _ in sources]
    cache_dir.mkdir(parents=True, exist_ok=True)
    targets = [cache_dir / _cache_name(name, args) for name, _ in sources]
    todo = [i for i, t in enumerate(targets) if not t.is_file()]
    rank, world = distributed.rank(), distributed.world_size()
    if todo:
        say(f"Preprocessing {len(todo)} of {len(targets)} recordings into {cache_dir} ...")
    for n, i in enumerate(todo):
        if n % world != rank:
            continue
        raw = prepare_raw(sources[i][1](), args)
        tmp = targets[i].with_name(targets[i].name.replace("_raw.fif", ".tmp_raw.fif"))
        raw.save(tmp, overwrite=True, verbose="error")
        os.replace(tmp, targets[i])
    distributed.barrier()
    return [str(t) for t in targets]


def labelled_windows(args, window_seconds: float, sfreq: float | None):
    """``(X, y, groups, ch_names, sfreq)`` of the labelled recordings, in memory."""
    import mne
    import numpy as np
    import pandas as pd

    if args.dataset == "eegmat":
        from ..datasets import fetch_eegmat, make_eegmat_epochs

        raws = fetch_eegmat(subjects=args.subjects, path=args.data, download=False)
        epochs, y, groups = make_eegmat_epochs(
            raws,
            window_seconds=window_seconds,
            sfreq=sfreq,
            picks=args.picks,
            l_freq=args.l_freq,
            h_freq=args.h_freq,
        )
        if args.channels:
            epochs.pick(channel_names(args))
        return epochs, y, groups
    if args.labels is None:
        raise ValueError("finetune on files needs --labels CSV (columns file,label[,group]).")
    table = pd.read_csv(args.labels)
    missing = {"file", "label"} - set(table.columns)
    if missing:
        raise ValueError(
            f"{args.labels} lacks the column(s) {sorted(missing)}; expected file,label"
            f"[,group]; it has {list(table.columns)}."
        )
    args.sfreq = sfreq  # prepare_raw resamples to the pretrained model's rate
    Xs, ys, gs, ref = [], [], [], None
    for row in table.itertuples(index=False):
        path = Path(row.file) if Path(row.file).is_absolute() else Path(args.data) / row.file
        raw = prepare_raw(mne.io.read_raw(path, preload=True, verbose="error"), args)
        epochs = mne.make_fixed_length_epochs(
            raw,
            duration=window_seconds,
            overlap=0.0
            if args.window_stride_seconds is None
            else window_seconds - args.window_stride_seconds,
            preload=True,
            verbose="error",
        )
        if ref is None:
            ref = epochs
        Xs.append(epochs.get_data(picks="all"))
        ys += [row.label] * len(epochs)
        gs += [getattr(row, "group", row.file)] * len(epochs)
    info = ref.info
    X = np.concatenate(Xs)
    epochs = mne.EpochsArray(X, info, verbose="error")
    return epochs, np.asarray(ys), np.asarray(gs)
