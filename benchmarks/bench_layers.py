"""Forward+backward time and peak memory of the Mamba-2 mixer and of EEGM2 vs length.

Prints a markdown table (and writes CSV with ``--csv``). Every available backend is measured:
``torch`` everywhere, ``mamba_ssm`` on CUDA when mamba-ssm imports.

Examples::

    python benchmarks/bench_layers.py                       # CPU, short lengths
    python benchmarks/bench_layers.py --device cuda --lengths 1024 4096 16384 --batch 16
    python benchmarks/bench_layers.py --chunk-sweep         # torch scan chunk sizes (CPU)
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import time

import torch

from eegm2_sklearn.models import EEGM2, Mamba2
from eegm2_sklearn.ops import mamba_ssm_available


def measure(fn, device: torch.device, repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Median seconds of ``fn()`` and peak memory (GiB, CUDA only; NaN on CPU)."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return statistics.median(times), peak


def step_fn(model, x):
    def run():
        model.zero_grad(set_to_none=True)
        out = model(x)
        out.float().square().mean().backward()

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--n-chans", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--what", nargs="+", default=["mixer", "eegm2"], choices=["mixer", "eegm2"])
    ap.add_argument(
        "--chunk-sweep",
        action="store_true",
        help="time the torch scan of the mixer for chunk sizes 32..256",
    )
    ap.add_argument(
        "--tune-allocator",
        action="store_true",
        help="CPU: keep large tensors on the heap (eegm2_sklearn.training.tune_cpu_allocator)",
    )
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    if args.tune_allocator:
        from eegm2_sklearn.training import tune_cpu_allocator

        print("allocator tuned:", tune_cpu_allocator())

    device = torch.device(args.device)
    torch.manual_seed(0)
    backends = ["torch"] + (
        ["mamba_ssm"] if device.type == "cuda" and mamba_ssm_available() else []
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    print(
        f"device: {device} ({name}), torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}, batch {args.batch}"
    )
    rows = []
    chunks = [32, 64, 128, 256] if args.chunk_sweep else [None]
    for what in args.what:
        for backend in backends:
            for chunk in chunks:
                if what == "mixer":
                    model = Mamba2(
                        64, d_state=16, d_conv=2, expand=8, backend=backend, torch_chunk=chunk
                    )
                else:
                    model = EEGM2(n_chans=args.n_chans, backend=backend, torch_chunk=chunk)
                model = model.to(device)
                for length in args.lengths:
                    shape = (
                        (args.batch, length, 64)
                        if what == "mixer"
                        else (args.batch, args.n_chans, length)
                    )
                    x = torch.randn(*shape, device=device)
                    try:
                        sec, peak = measure(step_fn(model, x), device, args.repeats)
                    except torch.OutOfMemoryError:
                        sec, peak = float("nan"), float("inf")
                        torch.cuda.empty_cache()
                    rows.append(
                        dict(
                            what=what,
                            backend=backend,
                            chunk=chunk or "auto",
                            length=length,
                            batch=args.batch,
                            ms=sec * 1e3,
                            peak_gib=peak,
                            samples_per_s=args.batch * length / sec,
                        )
                    )
    print()
    print("| model | backend | torch chunk | length | batch | fwd+bwd ms | peak GiB | samples/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['what']} | {r['backend']} | {r['chunk']} | {r['length']} | {r['batch']} "
            f"| {r['ms']:.1f} | {r['peak_gib']:.2f} | {r['samples_per_s']:.0f} |"
        )
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
