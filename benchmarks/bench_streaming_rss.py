"""Peak memory of pretraining on 1x and 4x the recordings: streamed from disk vs in memory.

Each measurement runs in a fresh subprocess, which pretrains a small EEGM2 for one epoch on
the EDF recordings of a few EEGMAT subjects, listed ``factor`` times (so 4x reads four times
the data), and reports its peak resident memory (``resource.getrusage``'s ``ru_maxrss``):

- ``stream``: ``EEGM2Pretrainer.fit(list_of_paths)``: windows read on demand;
- ``memory``: ``fit(list_of_preloaded_raws)``: the recordings loaded, then stacked.

Usage::

    python benchmarks/bench_streaming_rss.py --data PATH/TO/eegmat [--subjects 4]
        [--factors 1 4] [--modes stream memory] [--window-seconds 4]

Prints one row per run: data size as float32 windows, peak RSS, and peak RSS above the
peak of a warm-up fit on one batch of the same shape (the part that grows with the data,
if any).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

MB = 1024**2
BATCH = 32


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / MB


def _child(args) -> None:
    import mne
    import numpy as np
    import torch

    from eegm2_sklearn import EEGM2Pretrainer

    torch.set_num_threads(1)
    # a warm-up fit on one batch of the real shape (EEGMAT: 21 signals at 500 Hz) loads
    # every module and reaches the activation peak of training, so that what the real run
    # adds above it is what grows with the data
    n_times = int(round(args.window_seconds * 500))
    X = np.random.default_rng(0).standard_normal((BATCH, 21, n_times)).astype("float32")
    tiny = dict(base_width=8, expand=2, headdim=8, d_state=4, device="cpu", random_state=0)
    EEGM2Pretrainer(max_epochs=1, batch_size=BATCH, **tiny).fit(X)
    del X
    import braindecode  # noqa: F401  (imported by either path; counted in the baseline)

    base = _peak_rss_mb()
    files = [
        Path(args.data) / f"Subject{s:02d}_{r}.edf" for s in range(args.subjects) for r in (1, 2)
    ]
    files = files * args.factor
    start = time.perf_counter()
    if args.mode == "stream":
        X = [str(f) for f in files]
    else:
        X = [mne.io.read_raw_edf(f, preload=True, verbose="error") for f in files]
    pre = EEGM2Pretrainer(
        window_seconds=args.window_seconds, max_epochs=1, batch_size=BATCH, **tiny
    ).fit(X)
    elapsed = time.perf_counter() - start
    n_windows = int(sum(b["train_batch_size"] for b in pre.history_[-1, "batches"]))
    data_mb = n_windows * pre.n_chans_ * pre.n_times_ * 4 / MB
    print(
        json.dumps(
            {
                "mode": args.mode,
                "factor": args.factor,
                "recordings": len(files),
                "windows": n_windows,
                "data_mb": data_mb,
                "peak_mb": _peak_rss_mb(),
                "baseline_mb": base,
                "seconds": elapsed,
            }
        )
    )


def measure(data, subjects, factor, mode, window_seconds) -> dict:
    """Run one measurement in a fresh process; return its record."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--data",
        str(data),
        "--subjects",
        str(subjects),
        "--factor",
        str(factor),
        "--mode",
        mode,
        "--window-seconds",
        str(window_seconds),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("EEGM2_DATA"), help="EEGMAT folder")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--modes", nargs="+", default=["stream", "memory"])
    parser.add_argument("--window-seconds", type=float, default=4.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--factor", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="stream", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("give --data (the EEGMAT folder) or set EEGM2_DATA")
    if args.child:
        _child(args)
        return
    rows = [
        measure(args.data, args.subjects, f, m, args.window_seconds)
        for m in args.modes
        for f in args.factors
    ]
    header = (
        f"{'input':<7} {'x':>2} {'files':>5} {'windows':>7} {'data MB':>8} "
        f"{'peak RSS MB':>11} {'above base MB':>13} {'time s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['mode']:<7} {r['factor']:>2} {r['recordings']:>5} {r['windows']:>7} "
            f"{r['data_mb']:>8.1f} {r['peak_mb']:>11.1f} "
            f"{r['peak_mb'] - r['baseline_mb']:>13.1f} {r['seconds']:>7.1f}"
        )


if __name__ == "__main__":
    main()
