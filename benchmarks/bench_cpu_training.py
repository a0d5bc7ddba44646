"""CPU speed of the pure-PyTorch EEGM2: training throughput, linearity in T, inference.

Three measurements, each the median of ``--repeats`` runs after a warm-up, with the
variants of a comparison interleaved in the same process (fair on a shared machine):

1. ``train``: paper-size EEGM2 (``--n-chans`` 19, 4-s windows at 128 Hz = 512 samples,
   batch 32), temporal-spectral loss, AdamW (weight decay 1e-2): windows per second of
   whole training steps. ``--scan-methods`` compares forms of the scan's intra-chunk term
   (``factored``, the default of the library, and the textbook ``quadratic`` one).
2. ``linearity``: forward+backward of 1 window of 12,800 samples against 8 windows of 1,600
   (same number of samples): the time ratio is 1 for a linear-time network.
3. ``predict``: forward passes under ``torch.inference_mode`` (what the estimators'
   ``predict``/``transform`` do), windows per second.

Both wall-clock and process CPU time are reported; on a machine shared with other jobs the
CPU time is the steadier of the two. ``--tune-allocator`` calls
:func:`eegm2_sklearn.training.tune_cpu_allocator` first (glibc keeps freed memory instead of
unmapping it, which removes page-fault time from every step); run once with and once
without it to see its effect, since it cannot be undone inside a process.

Examples::

    python benchmarks/bench_cpu_training.py                      # all three, library defaults
    python benchmarks/bench_cpu_training.py --tune-allocator --threads 2
    python benchmarks/bench_cpu_training.py --what train --scan-methods factored quadratic
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import eegm2_sklearn.ops.scan as _scan  # noqa: E402
from eegm2_sklearn.losses import TemporalSpectralLoss  # noqa: E402
from eegm2_sklearn.models import EEGM2  # noqa: E402
from eegm2_sklearn.ops import ssd_chunked_torch  # noqa: E402
from eegm2_sklearn.training import tune_cpu_allocator  # noqa: E402


def use_scan_method(method: str) -> None:
    """Make every torch-backend scan of the library use ``method`` (benchmark only)."""
    _scan.ssd_chunked_torch = functools.partial(ssd_chunked_torch, method=method)


def timed(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def interleaved(variants: dict, repeats: int, warmup: int) -> dict:
    """Median (wall s, cpu s) of each variant, run in turns."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    runs = {k: [] for k in variants}
    for _ in range(repeats):
        for k, fn in variants.items():
            runs[k].append(timed(fn))
    return {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in runs.items()
    }


def bench_train(args) -> None:
    x = torch.randn(args.batch, args.n_chans, args.n_times)
    loss_fn = TemporalSpectralLoss()
    variants = {}
    for method in args.scan_methods:
        torch.manual_seed(0)
        model = EEGM2(n_chans=args.n_chans, n_times=args.n_times, backend="torch")
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-2)

        def step(model=model, opt=opt, method=method) -> None:
            use_scan_method(method)
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), x).backward()
            opt.step()

        variants[method] = step
    res = interleaved(variants, args.repeats, args.warmup)
    print(
        f"\ntraining step, EEGM2 paper size, {args.n_chans} ch x {args.n_times} samples, "
        f"batch {args.batch}, AdamW"
    )
    print("| scan method | step s (wall) | windows/s (wall) | step s (CPU) |")
    print("| --- | --- | --- | --- |")
    for k, (w, c) in res.items():
        print(f"| {k} | {w:.2f} | {args.batch / w:.1f} | {c:.2f} |")
    use_scan_method("auto")


def bench_linearity(args) -> None:
    torch.manual_seed(0)
    model = EEGM2(n_chans=args.n_chans, backend="torch")
    shapes = {"1 x 12800": (1, 12800), "8 x 1600": (8, 1600)}
    inputs = {k: torch.randn(b, args.n_chans, t) for k, (b, t) in shapes.items()}

    def fwd_bwd(x) -> None:
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()

    res = interleaved(
        {k: functools.partial(fwd_bwd, x) for k, x in inputs.items()}, args.repeats, 1
    )
    (w1, c1), (w8, c8) = res["1 x 12800"], res["8 x 1600"]
    print("\nlinearity, forward+backward, same number of samples")
    print("| batch x T | wall s | CPU s |")
    print("| --- | --- | --- |")
    for k, (w, c) in res.items():
        print(f"| {k} | {w:.2f} | {c:.2f} |")
    print(f"ratio (1 x 12800) / (8 x 1600): wall {w1 / w8:.2f}, CPU {c1 / c8:.2f}")


def bench_predict(args) -> None:
    torch.manual_seed(0)
    model = EEGM2(n_chans=args.n_chans, n_times=args.n_times, backend="torch").eval()
    x = torch.randn(args.batch, args.n_chans, args.n_times)

    def predict() -> None:
        with torch.inference_mode():
            model(x)

    def with_grad() -> None:
        model(x)

    res = interleaved({"inference_mode": predict, "autograd on": with_grad}, args.repeats, 1)
    print(f"\nforward only, batch {args.batch} x {args.n_times}")
    print("| mode | wall s | windows/s (wall) | CPU s |")
    print("| --- | --- | --- | --- |")
    for k, (w, c) in res.items():
        print(f"| {k} | {w:.2f} | {args.batch / w:.1f} | {c:.2f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--what", nargs="+", default=["train", "linearity", "predict"])
    ap.add_argument("--n-chans", type=int, default=19)
    ap.add_argument("--n-times", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--scan-methods", nargs="+", default=["auto"])
    ap.add_argument("--tune-allocator", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tuned = tune_cpu_allocator() if args.tune_allocator else False
    print(
        f"{_dt.date.today().isoformat()}; {platform.processor() or platform.machine()}; "
        f"torch {torch.__version__}; {torch.get_num_threads()} threads; allocator tuned: "
        f"{tuned}; repeats {args.repeats}",
        flush=True,
    )
    for what in args.what:
        {"train": bench_train, "linearity": bench_linearity, "predict": bench_predict}[what](args)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
