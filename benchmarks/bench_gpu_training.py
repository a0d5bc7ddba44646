"""Training throughput of EEGM2 against braindecode's EEGConformer, and bf16 against fp32.

Two measurements (``--what``), each row appended to a CSV as soon as it is measured:

1. ``throughput``: windows per second of whole training steps (forward, cross-entropy,
   backward, AdamW step) of one process, on 4-s windows (19 channels x 512 samples at
   128 Hz) in batches of ``--batch`` (64). Configurations (``--configs``, most important
   first):

   ===============================  ========================================================
   ``eegm2-<backend>-<precision>``   EEGM2's classifier network (paper size, pooled head) as
                                     ``EEGM2Classifier`` builds it; backend ``auto``,
                                     ``torch`` or ``mamba_ssm``; precision ``fp32``/``bf16``
   ``...-compile``                   the same under ``torch.compile``
   ``...-graphs``                    the same, forward and backward replayed as CUDA graphs
                                     (the recorder ``fit(cuda_graphs=True)`` uses)
   ``conformer-<precision>``         braindecode's ``EEGConformer`` (its defaults)
   ``fit-eegm2`` / ``fit-conformer`` one epoch of the estimators (``EEGM2Classifier``
                                     defaults; braindecode ``EEGClassifier``), data loading
                                     included: the median of skorch's epoch times
   ``fit-pretrainer``                the same for ``EEGM2Pretrainer`` (the whole U-Net)
   ``fit-...-graphs``                the same with ``cuda_graphs=True``
   ``fit-...-compile``               the same with ``compile=True`` (no graphs)
   ===============================  ========================================================

   The step loops run on batches already on the device (the network's speed alone); the
   ``fit-`` rows show what a user gets.
2. ``loss``: paper-size ``EEGM2`` pretrained with the temporal-spectral loss for ``--steps``
   (200) AdamW steps on the same batches in fp32, in bf16 autocast, and in fp32 from weights
   moved by one rounding step (how far rounding alone moves the result); the final loss is
   the mean of the last 20 steps. Real EEG when ``--data`` (an EEGMAT ``.npz`` from
   ``python -m benchmarks.eegmat --export-npz``) is given, else random windows.

Examples::

    python benchmarks/bench_gpu_training.py --device cuda --data eegmat128.npz --out-dir out
    python benchmarks/bench_gpu_training.py --device cpu --batch 4 --steps 4 --configs \\
        eegm2-torch-fp32 conformer-fp32       # smoke run
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from eegm2_sklearn.data import scale_windows  # noqa: E402
from eegm2_sklearn.losses import TemporalSpectralLoss  # noqa: E402
from eegm2_sklearn.models import EEGM2, EEGM2Net  # noqa: E402
from eegm2_sklearn.training import (  # noqa: E402
    CompiledNetwork,
    GraphedPasses,
    tune_cpu_allocator,
)

CONFIGS = [
    "eegm2-auto-fp32",
    "eegm2-auto-fp32-graphs",
    "eegm2-auto-bf16",
    "eegm2-auto-bf16-graphs",
    "conformer-fp32",
    "conformer-fp32-graphs",
    "conformer-bf16",
    "eegm2-torch-bf16",
    "eegm2-torch-bf16-compile",
    "eegm2-mamba_ssm-bf16-compile",
    "fit-eegm2",
    "fit-eegm2-graphs",
    "fit-conformer",
    "fit-pretrainer",
    "fit-pretrainer-graphs",
    "fit-pretrainer-compile",
]
FIELDS = ["what", "config", "status", "windows_per_s", "ms_per_step", "peak_gib", "detail",
          "device", "date"]  # fmt: skip
N_CHANS, N_TIMES, SFREQ = 19, 512, 128.0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else np.nan


def build_network(config: str, device: torch.device) -> tuple[torch.nn.Module, str, bool]:
    """The network of ``config``, its precision and whether to compile it."""
    parts = config.removesuffix("-graphs").split("-")
    compiled = parts[-1] == "compile"
    parts = parts[:-1] if compiled else parts
    if parts[0] == "conformer":
        from braindecode.models import EEGConformer

        net = EEGConformer(n_chans=N_CHANS, n_outputs=2, n_times=N_TIMES, sfreq=SFREQ)
        return net.to(device), parts[1], compiled
    _, backend, precision = parts
    net = EEGM2Net(n_chans=N_CHANS, n_outputs=2, n_times=N_TIMES, head="pool", backend=backend)
    return net.to(device), precision, compiled


def step_loop(model, batches, targets, precision, device, steps, loss_fn, passes=None):
    """Step times (s) of ``steps`` steps, and the losses; ``passes``: a
    :class:`GraphedPasses` of ``model`` that replays its forward and backward passes."""
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=1e-2)
    dtype = torch.bfloat16 if precision == "bf16" else None
    losses, times = [], []
    for i in range(steps):
        x, y = batches[i % len(batches)], targets[i % len(targets)]
        sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if passes is not None:
            out = passes(x)
        else:
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(x)
        loss = loss_fn(out.float(), x if y is None else y)
        loss.backward()
        opt.step()
        sync(device)
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    return times, losses


def random_batches(n: int, batch: int, device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(batch, N_CHANS, N_TIMES, generator=g).to(device) for _ in range(n)]
    ys = [torch.randint(0, 2, (batch,), generator=g).to(device) for _ in range(n)]
    return xs, ys


def throughput(config: str, args, device) -> dict:
    if config.startswith("fit-"):
        return fit_throughput(config, args, device)
    torch.manual_seed(0)
    model, precision, compiled = build_network(config, device)
    model.train()
    if compiled:  # the wrapper fit(compile=True) uses
        model = CompiledNetwork(model)
    xs, ys = random_batches(8, args.batch, device)
    ce = torch.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    step_loop(model, xs, ys, precision, device, args.warmup, ce)  # compilation, autotuning
    passes = None
    if config.endswith("-graphs"):
        passes = GraphedPasses(model, xs[0], torch.bfloat16 if precision == "bf16" else None)
    warm_s = time.perf_counter() - t0
    reset_peak(device)
    times, _ = step_loop(model, xs, ys, precision, device, args.repeats, ce, passes)
    sec = statistics.median(times)
    return dict(status="ok", windows_per_s=args.batch / sec, ms_per_step=sec * 1e3,
                peak_gib=peak_gib(device), detail=f"warm-up {warm_s:.1f} s")  # fmt: skip


def fit_throughput(config: str, args, device) -> dict:
    """One estimator ``fit`` of ``--fit-epochs`` epochs; skorch's median epoch time."""
    n = args.fit_windows
    reset_peak(device)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, N_CHANS, N_TIMES)).astype(np.float32) * 1e-5
    y = rng.integers(0, 2, n)
    base = config.removesuffix("-graphs").removesuffix("-compile")
    if base in ("fit-eegm2", "fit-pretrainer"):
        from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer

        cls = EEGM2Classifier if config.startswith("fit-eegm2") else EEGM2Pretrainer
        est = cls(max_epochs=args.fit_epochs, batch_size=args.batch, device=device.type,
                  verbose=0, random_state=0, cuda_graphs=config.endswith("-graphs"),
                  compile=config.endswith("-compile"))  # fmt: skip
        est.fit(X, y)
        durs = [h["dur"] for h in est.net_.history]
    else:
        from braindecode import EEGClassifier
        from braindecode.models import EEGConformer

        est = EEGClassifier(
            EEGConformer, module__n_chans=N_CHANS, module__n_outputs=2,
            module__n_times=N_TIMES, module__sfreq=SFREQ, max_epochs=args.fit_epochs,
            batch_size=args.batch, device=device.type, train_split=None, verbose=0,
            optimizer=torch.optim.AdamW, optimizer__lr=2e-4,
        )  # fmt: skip
        est.fit(X, y)
        durs = [h["dur"] for h in est.history]
    sec = statistics.median(durs[1:] or durs)
    return dict(status="ok", windows_per_s=n / sec, ms_per_step=sec * 1e3 * args.batch / n,
                peak_gib=peak_gib(device),
                detail=f"{n} windows, epochs {', '.join(f'{d:.2f}' for d in durs)} s")  # fmt: skip


def load_windows(path: str | None, n: int, batch: int, device) -> tuple[list, str]:
    """Up to ``n`` batches of 4-s EEGMAT windows (robust-scaled per window), else random."""
    if path is None:
        xs, _ = random_batches(n, batch, device)
        return xs, "random windows"
    data = np.load(path)
    keys = [k for k in data.files if k.startswith("data_")]  # one int16 array a recording
    windows = []
    for k in keys:
        rec = data[k].astype(np.float32)  # per-window scaling below: the int16 scale drops out
        for s in range(0, rec.shape[1] - N_TIMES + 1, N_TIMES):
            windows.append(rec[:N_CHANS, s : s + N_TIMES])
    W, _ = scale_windows(np.stack(windows), "robust")  # as the estimators' default scaling
    n = min(n, len(W) // batch)  # the steps cycle over these batches
    order = np.random.default_rng(0).permutation(len(W))[: n * batch]
    xs = [torch.from_numpy(W[order[i * batch : (i + 1) * batch]]).to(device) for i in range(n)]
    return xs, f"EEGMAT, {len(keys)} recordings"


def loss_comparison(args, device) -> list[dict]:
    """fp32, bf16, and fp32 once more with the initial weights moved by one float32 rounding
    step (relative 2**-24): the last run tells how far two fp32 trajectories drift apart by
    rounding alone, the yardstick for bf16's difference."""
    xs, source = load_windows(args.data, args.steps, args.batch, device)
    finals = {}
    rows = []
    for run in ("fp32", "bf16", "fp32-rounding"):
        torch.manual_seed(0)
        model = EEGM2(n_chans=N_CHANS, n_times=N_TIMES, backend=args.loss_backend)
        model = model.to(device).train()
        if run == "fp32-rounding":
            gen = torch.Generator(device="cpu").manual_seed(1)
            with torch.no_grad():
                for p in model.parameters():
                    sign = torch.randint(0, 2, p.shape, generator=gen).to(p.device) * 2 - 1
                    p.mul_(1 + sign * 2.0**-24)
        precision = run.split("-")[0]
        _, losses = step_loop(model, xs, [None], precision, device, args.steps,
                              TemporalSpectralLoss())  # fmt: skip
        finals[run] = float(np.mean(losses[-20:]))
        rows.append(dict(config=f"pretrain-{run}", status="ok",
                         detail=f"{source}; {args.steps} steps of batch {args.batch}; final "
                         f"loss (mean of the last 20) {finals[run]:.5f}; "
                         f"first {losses[0]:.5f}"))  # fmt: skip
    for run in ("bf16", "fp32-rounding"):
        rel = finals[run] / finals["fp32"] - 1
        rows.append(dict(config=f"pretrain-{run}-vs-fp32", status="ok",
                         detail=f"relative difference of the final loss {rel:+.4%}"))  # fmt: skip
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--what", nargs="+", default=["loss", "throughput"], choices=["loss", "throughput"]
    )
    ap.add_argument("--configs", nargs="+", default=CONFIGS, help=", ".join(CONFIGS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--fit-windows", type=int, default=4096)
    ap.add_argument("--fit-epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200, help="steps of the bf16/fp32 run")
    ap.add_argument("--loss-backend", default="auto", help="EEGM2 scan of the loss run")
    ap.add_argument("--data", default=None, help="EEGMAT .npz for the loss comparison")
    ap.add_argument("--max-minutes", type=float, default=1e9)
    ap.add_argument("--out-dir", default="bench_gpu_training_out")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cpu" and "loss" in args.what:
        tune_cpu_allocator()  # as the estimators' fit does (the step loops are ours)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    date = _dt.date.today().isoformat()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"device {name}; torch {torch.__version__}; batch {args.batch}; {date}", flush=True)
    start = time.perf_counter()
    with open(out / "bench_gpu_training.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()

        def emit(row: dict) -> None:
            row = {**dict.fromkeys(FIELDS, ""), **row, "device": name, "date": date}
            writer.writerow(row)
            fh.flush()
            print(" | ".join(str(row[k]) for k in FIELDS[:7]), flush=True)

        for what in args.what:  # in the order given
            if what == "loss":
                try:
                    for row in loss_comparison(args, device):
                        emit(dict(what="loss", **row))
                except Exception as err:
                    emit(dict(what="loss", config="pretrain", status=f"error: {err!r}"[:200]))
                continue
            for config in args.configs:
                if (time.perf_counter() - start) / 60 > args.max_minutes:
                    emit(dict(what="throughput", config=config, status="skipped"))
                    continue
                try:
                    emit(dict(what="throughput", config=config, **throughput(config, args, device)))
                except Exception as err:  # a backend missing here, out of memory, ...
                    msg = (str(err).splitlines() or [""])[0][:160]
                    emit(dict(what="throughput", config=config,
                              status=f"error: {type(err).__name__}: {msg}"))  # fmt: skip
                torch._dynamo.reset()
                if device.type == "cuda":
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
