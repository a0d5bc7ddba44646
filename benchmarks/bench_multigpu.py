"""Data-parallel pretraining: epoch time and losses on 1 GPU vs N GPUs at one global batch.

Launches ``torchrun --standalone --nproc_per_node=K`` for each K in ``--gpus``; each run
pretrains the paper-size EEGM2 (``EEGM2Pretrainer`` defaults: base width 64, Mamba-2 with
d_state 16, expand 8, headdim 64) on the same windows with the same seed and the same
global batch (``--batch-size``, shared out over the K processes), then prints per K: epoch
time (median over the epochs after the first, which compiles the kernels), windows/s,
speed-up over the first K, peak GPU memory, and the per-epoch training losses side by side
with their largest relative difference from the first K. Every process gets the same CPU
threads (``--threads``), whatever K.

Data: synthetic EEG-like windows (1/f noise plus a 10 Hz rhythm, deterministic), or
``--npz FILE`` holding an array ``X`` of shape (n_windows, n_chans, n_times), or
recordings ``data_i`` (int16, channels x samples) with ``scale_i`` factors, cut into
windows of ``--n-times``.

Run on a machine with 2 GPUs (about 2-3 minutes on 2 H100s with the defaults)::

    python benchmarks/bench_multigpu.py --gpus 1 2

Needs no network. With mamba-ssm installed the Triton kernels are used (``--backend``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _synthetic(n: int, n_chans: int, n_times: int, sfreq: float = 128.0):
    import numpy as np

    rng = np.random.default_rng(0)
    freqs = np.fft.rfftfreq(n_times, 1 / sfreq)
    shape = np.where(freqs > 0, 1 / np.sqrt(np.maximum(freqs, 0.5)), 0.0)
    X = np.empty((n, n_chans, n_times), np.float32)
    t = np.arange(n_times) / sfreq
    for i in range(0, n, 64):
        m = min(64, n - i)
        spec = rng.standard_normal((m, n_chans, freqs.size)) + 1j * rng.standard_normal(
            (m, n_chans, freqs.size)
        )
        noise = np.fft.irfft(spec * shape, n=n_times)
        phase = rng.uniform(0, 2 * np.pi, (m, n_chans, 1))
        X[i : i + m] = 2e-5 * (noise / noise.std() + np.sin(2 * np.pi * 10 * t + phase))
    return X


def _from_npz(path: str, n: int, n_times: int):
    import numpy as np

    d = np.load(path)
    if "X" in d.files:
        X = d["X"].astype(np.float32)
    else:
        wins = []
        for key in sorted(k for k in d.files if k.startswith("data_")):
            rec = d[key] * d["scale_" + key[5:]]
            for s in range(0, rec.shape[1] - n_times + 1, n_times):
                wins.append(rec[:, s : s + n_times])
        X = np.stack(wins).astype(np.float32)
    reps = -(-n // len(X))
    return np.concatenate([X] * reps)[:n]


def _worker(args) -> None:
    import torch

    from eegm2_sklearn import EEGM2Pretrainer
    from eegm2_sklearn.ops.backend import resolve_backend
    from eegm2_sklearn.training import distributed as _distributed

    if args.npz:
        X = _from_npz(args.npz, args.n_windows, args.n_times)
    else:
        X = _synthetic(args.n_windows, args.n_chans, args.n_times)
    size = dict(base_width=8, expand=2, headdim=8, d_state=4) if args.tiny else {}
    pre = EEGM2Pretrainer(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        precision=args.precision,
        backend=args.backend,
        random_state=0,
        verbose=0,
        **size,
    )
    start = time.perf_counter()
    pre.fit(X)
    total = time.perf_counter() - start
    if _distributed.is_main_process():
        h = pre.history_
        record = {
            "world_size": _distributed.world_size(),
            "n_windows": len(X),
            "shape": list(X.shape[1:]),
            "global_batch": args.batch_size,
            "epoch_s": [float(v) for v in h[:, "dur"]],
            "train_loss": [float(v) for v in h[:, "train_loss"]],
            "fit_s": total,
            "threads": torch.get_num_threads(),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30
            if torch.cuda.is_available()
            else 0.0,
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "backend": resolve_backend(args.backend, pre.net_.device),
        }
        Path(args.out).write_text(json.dumps(record))


def default_threads(gpus: list[int], n_cpus: int) -> int:
    """CPU threads per process: the cores shared by the largest run's processes."""
    return max(1, n_cpus // max(gpus))


def _launch(k: int, args, out: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={k}",
        __file__,
        "--worker",
        "--out",
        out,
        "--n-windows",
        str(args.n_windows),
        "--n-chans",
        str(args.n_chans),
        "--n-times",
        str(args.n_times),
        "--batch-size",
        str(args.batch_size),
        "--epochs",
        str(args.epochs),
        "--precision",
        args.precision,
        "--backend",
        args.backend,
    ]
    if args.npz:
        cmd += ["--npz", args.npz]
    if args.tiny:
        cmd += ["--tiny"]
    # the same CPU threads per process for every K (torchrun would give K > 1 one thread
    # each, and K = 1 all cores: on a 64-core host that made the 1-GPU run 4x slower)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    record = json.loads(Path(out).read_text())
    record["launch_s"] = time.perf_counter() - start
    return record


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--n-windows", type=int, default=2048)
    parser.add_argument("--n-chans", type=int, default=19)
    parser.add_argument("--n-times", type=int, default=3840, help="30 s at 128 Hz")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--precision", choices=("32", "bf16"), default="32")
    parser.add_argument("--backend", choices=("auto", "torch", "mamba_ssm"), default="auto")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (OMP_NUM_THREADS) of every process, for every K alike "
        "(default: the CPU cores divided by the largest K)",
    )
    parser.add_argument("--npz", default=None)
    parser.add_argument("--tiny", action="store_true", help="a width-8 model (CPU dry run)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    if args.threads is None:
        args.threads = default_threads(args.gpus, os.cpu_count() or 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.gpus:
            rows.append(_launch(k, args, os.path.join(tmp, f"gpus{k}.json")))
            r = rows[-1]
            print(f"done: {k} GPU(s) in {r['launch_s']:.0f} s", file=sys.stderr, flush=True)
    import numpy as np

    ref = rows[0]
    ref_epoch = float(np.median(ref["epoch_s"][1:] or ref["epoch_s"]))
    print(
        f"EEGM2 pretraining, {ref['n_windows']} windows of {ref['shape'][0]} ch x "
        f"{ref['shape'][1]} samples, global batch {ref['global_batch']}, precision "
        f"{args.precision}, scan backend {ref['backend']}, {ref['device']}, "
        f"{ref['threads']} CPU thread(s) per process"
    )
    header = (
        f"{'GPUs':>4} {'batch/GPU':>9} {'epoch s':>8} {'windows/s':>9} {'speed-up':>8} "
        f"{'peak GiB':>8} {'max rel. loss diff':>18}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        epoch = float(np.median(r["epoch_s"][1:] or r["epoch_s"]))
        diff = max(
            abs(a - b) / abs(b) for a, b in zip(r["train_loss"], ref["train_loss"], strict=True)
        )
        print(
            f"{r['world_size']:>4} {r['global_batch'] // r['world_size']:>9} {epoch:>8.2f} "
            f"{r['n_windows'] / epoch:>9.1f} {ref_epoch / epoch:>7.2f}x "
            f"{r['peak_gib']:>8.2f} {diff:>18.2e}"
        )
    print("\ntrain loss per epoch")
    print(f"{'epoch':>5} " + " ".join(f"{str(r['world_size']) + ' GPU':>12}" for r in rows))
    for e in range(len(ref["train_loss"])):
        print(f"{e + 1:>5} " + " ".join(f"{r['train_loss'][e]:>12.6f}" for r in rows))
    print("\nepoch seconds (first epoch includes kernel compilation)")
    for r in rows:
        print(f"{r['world_size']} GPU: " + ", ".join(f"{s:.2f}" for s in r["epoch_s"]))


if __name__ == "__main__":
    main()
