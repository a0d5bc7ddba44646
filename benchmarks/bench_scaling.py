"""Whole-network training-step time and peak memory of EEGM2 against fast attention, vs length.

For every window length ``T`` and every configuration it times one forward+backward step of
the *whole* network (temporal-spectral loss included, no optimiser step): the median of
``--repeats`` synchronised steps after ``--warmup`` steps, and the peak memory of those
steps. Configurations (``--configs``; default: all that can run here):

==============================  ===========================================================
``eegm2-mamba_ssm-{fp32,bf16}``  EEGM2, mamba-ssm's Triton scan (CUDA only)
``eegm2-torch-{fp32,bf16}``      EEGM2, the pure-PyTorch chunked scan
``...-ckpt``                     the same with activation checkpointing of the Mamba blocks
``...-light``                    the same with ``checkpointing="light"`` (the scan runs once)
``...-compile``                  the same under ``torch.compile`` (after ``-ckpt`` if both)
``...-graphs``                   the same, forward and backward replayed as CUDA graphs
                                 (last suffix; CUDA only)
``attention-{fp32,bf16}``        the same U-Net with 4-head attention (paper ablation S5),
                                 ``scaled_dot_product_attention`` with its fast kernels ON
==============================  ===========================================================

On a CPU the default is the float32 rows only (``eegm2-torch-fp32``, its ``-ckpt`` twin and
``attention-fp32``), and "memory" is the size of the tensors autograd saves for the backward
pass (the CPU allocator has no peak counter); on CUDA it is the allocator's peak.
``bf16`` is ``torch.autocast(dtype=torch.bfloat16)``. Out-of-memory is recorded as ``OOM``
(and larger batch x length of the same configuration are then skipped). Each result is
appended to the CSV as soon as it is measured, so an interrupted run leaves what it did.
At the end it prints a markdown table with ratios to ``attention-bf16`` and draws a log-log
plot (time and peak memory per window against ``T``).

Runtime control (a GPU run by default ends inside ~6 minutes):

- ``--budget-s`` (15): a measurement whose warm-up step is slow takes fewer repeats, at
  least ``--min-repeats`` (3), so that it lasts about this long;
- ``--max-minutes`` (5 on CUDA): once passed, the remaining measurements are recorded as
  ``skipped``; configurations run in the order of ``--configs`` (most important first), all
  lengths of one before the next;
- ``--configs`` / ``--lengths`` / ``--batch`` / ``--batch-long`` narrow the grid.

Examples::

    # GPU (H100/H200), the issue's grid, ~6 min; needs mamba-ssm for the mamba_ssm rows
    python benchmarks/bench_scaling.py --device cuda --out-dir bench_out
    # CPU smoke run
    python benchmarks/bench_scaling.py --device cpu --lengths 1280 3840 --batch 2

Only torch, numpy and matplotlib are needed (mamba-ssm optional).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import gc
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from eegm2_sklearn.losses import TemporalSpectralLoss  # noqa: E402
from eegm2_sklearn.models import EEGM2, EEGM2Attention  # noqa: E402
from eegm2_sklearn.ops import mamba_ssm_available  # noqa: E402
from eegm2_sklearn.training import CompiledNetwork, GraphedPasses  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scaling_report import fmt, plot, print_table  # noqa: E402

LENGTHS = [1280, 3840, 7680, 12800, 25600, 51200, 102400]
# Most important first: with --max-minutes the tail of this list is what gets cut.
ALL_CONFIGS = [
    "attention-bf16",
    "eegm2-mamba_ssm-bf16",
    "eegm2-mamba_ssm-fp32",
    "eegm2-torch-bf16",
    "eegm2-torch-fp32",
    "eegm2-mamba_ssm-bf16-ckpt",
    "eegm2-torch-bf16-ckpt",
    "eegm2-mamba_ssm-fp32-ckpt",
    "eegm2-torch-fp32-ckpt",
    "attention-fp32",
    "eegm2-torch-bf16-compile",
    "eegm2-mamba_ssm-bf16-compile",
    "eegm2-mamba_ssm-bf16-light",
    "eegm2-torch-bf16-light",
    "attention-bf16-graphs",
    "eegm2-mamba_ssm-bf16-graphs",
    "eegm2-mamba_ssm-bf16-light-graphs",
]
# Ratios are taken to the first of these that ran (fast attention; fp32 on CPUs).
REFERENCES = ["attention-bf16", "attention-fp32"]
FIELDS = [
    "config",
    "model",
    "backend",
    "precision",
    "checkpointing",
    "compiled",
    "graphs",
    "n_times",
    "batch",
    "status",
    "ms",
    "ms_q1",
    "ms_q3",
    "repeats",
    "peak_gib",
    "windows_per_s",
    "device",
    "date",
]


def parse_config(name: str) -> dict:
    """``eegm2-torch-bf16-ckpt`` -> model, backend, precision, checkpointing, compiled,
    graphs."""
    parts = name.split("-")
    graphs = parts[-1] == "graphs"
    if graphs:
        parts = parts[:-1]
    compiled = parts[-1] == "compile"
    if compiled:
        parts = parts[:-1]
    ckpt = {"ckpt": True, "light": "light"}.get(parts[-1], False)
    if ckpt:
        parts = parts[:-1]
    if parts[0] == "attention" and len(parts) == 2:
        model, backend, precision = "attention", "sdpa", parts[1]
    elif parts[0] == "eegm2" and len(parts) == 3:
        model, backend, precision = parts
    else:
        raise ValueError(f"unknown configuration {name!r}; known: {', '.join(ALL_CONFIGS)}")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16 in {name!r}")
    if backend not in ("torch", "mamba_ssm", "sdpa"):
        raise ValueError(f"backend must be torch or mamba_ssm in {name!r}")
    return dict(
        model=model, backend=backend, precision=precision, checkpointing=ckpt, compiled=compiled,
        graphs=graphs,
    )  # fmt: skip


def build_model(cfg: dict, n_chans: int, device: torch.device) -> torch.nn.Module:
    if cfg["model"] == "attention":
        model = EEGM2Attention(n_chans=n_chans, checkpointing=cfg["checkpointing"])
    else:
        model = EEGM2(n_chans=n_chans, backend=cfg["backend"], checkpointing=cfg["checkpointing"])
    model = model.to(device).train()
    # the wrapper fit(compile=True) uses: room for a compilation per Mamba-2 block
    return CompiledNetwork(model) if cfg["compiled"] else model


class PeakMemory:
    """Memory of the steps run inside the block (GiB, in ``.gib``).

    CUDA: the allocator's peak (``torch.cuda.max_memory_allocated``), everything included;
    for CUDA-graph rows the peak *reserved* memory, since the memory a graph replays in
    belongs to its private pool and is not counted as allocated.
    CPU: the tensors autograd keeps for the backward pass (activations, counted once per
    storage, largest over the steps), the bulk of a training step's memory; the CPU
    allocator has no peak counter.
    """

    def __init__(self, device: torch.device, reserved: bool = False) -> None:
        self.device = device
        self.reserved = reserved
        self.saved: dict[int, int] = {}
        self.gib = math.nan

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        self.saved[storage.data_ptr()] = storage.nbytes()
        return t

    def step_done(self) -> None:
        if self.device.type != "cuda":
            total = sum(self.saved.values()) / 2**30
            self.gib = total if math.isnan(self.gib) else max(self.gib, total)
            self.saved.clear()

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
            self.hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            cuda = torch.cuda
            peak = cuda.max_memory_reserved if self.reserved else cuda.max_memory_allocated
            self.gib = peak(self.device) / 2**30
        else:
            self.hooks.__exit__(*exc)


def make_step(model, x, loss_fn, precision: str, device: torch.device, graphs: bool = False):
    dtype = torch.bfloat16 if precision == "bf16" else None
    # the package's recorder of the training passes, as fit(cuda_graphs=True) uses it
    passes = GraphedPasses(model, x, autocast_dtype=dtype) if graphs else None

    def step() -> None:
        model.zero_grad(set_to_none=True)
        if passes is not None:
            out = passes(x)
        else:
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(x)
        loss_fn(out.float(), x).backward()

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(step, device, warmup, repeats, min_repeats, budget_s, reserved=False):
    """Median/quartiles of synchronised step times (s), repeats used, peak GiB.

    Slow steps get fewer warm-up steps (one, once a step takes more than a tenth of
    ``budget_s``) and fewer repeats (about ``budget_s`` in all, at least ``min_repeats``).
    """
    t_warm = math.inf
    for i in range(max(warmup, 1)):
        if i and t_warm > budget_s / 10:
            break
        t0 = time.perf_counter()
        step()
        sync(device)
        t_warm = time.perf_counter() - t0
    n = int(min(repeats, max(min_repeats, budget_s // max(t_warm, 1e-9))))
    times = []
    with PeakMemory(device, reserved) as mem:
        for _ in range(n):
            t0 = time.perf_counter()
            step()
            sync(device)
            times.append(time.perf_counter() - t0)
            mem.step_done()
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return statistics.median(times), q[0], q[2], n, mem.gib


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--lengths", type=int, nargs="+", default=None)
    ap.add_argument("--batch", type=int, default=None, help="batch up to --batch-switch T")
    ap.add_argument("--batch-long", type=int, default=None, help="batch beyond --batch-switch")
    ap.add_argument("--batch-switch", type=int, default=12800)
    ap.add_argument("--n-chans", type=int, default=16)
    ap.add_argument("--configs", nargs="+", default=None, help=", ".join(ALL_CONFIGS))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--min-repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=15.0)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in fp32 matmuls/convs")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads")
    ap.add_argument("--out-dir", default="bench_scaling_out")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    lengths = args.lengths or (LENGTHS if cuda else [1280, 3840])
    batch = args.batch or (64 if cuda else 2)
    batch_long = args.batch_long or min(8, batch)
    max_minutes = args.max_minutes if args.max_minutes is not None else (5.0 if cuda else 1e9)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    has_mamba = cuda and mamba_ssm_available()
    if args.configs:
        configs = args.configs
    elif cuda:
        configs = [c for c in ALL_CONFIGS if has_mamba or "mamba_ssm" not in c]
    else:  # CPU: float32 rows only (bf16 is emulated and slow on most CPUs)
        configs = ["eegm2-torch-fp32", "eegm2-torch-fp32-ckpt", "attention-fp32"]
    parsed = {c: parse_config(c) for c in configs}

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "bench_scaling.csv"
    name = torch.cuda.get_device_name(device) if cuda else (platform.processor() or "cpu")
    if not cuda:
        name = f"{name} {platform.machine()}, {torch.get_num_threads()} threads"
    date = _dt.date.today().isoformat()
    print(
        f"device: {device} ({name}); torch {torch.__version__}; mamba_ssm "
        f"{'yes' if has_mamba else 'no'}; tf32 {args.tf32}; batch {batch} up to T="
        f"{args.batch_switch}, {batch_long} beyond; {date}",
        flush=True,
    )
    print(f"configs: {', '.join(configs)}\nlengths: {lengths}\nCSV: {csv_path}", flush=True)

    loss_fn = TemporalSpectralLoss()
    rows: list[dict] = []
    start = time.perf_counter()
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        fh.flush()
        for config in configs:
            cfg = parsed[config]
            oom_at = math.inf  # smallest batch x T that ran out of memory
            model = None
            for n_times in lengths:
                b = batch if n_times <= args.batch_switch else batch_long
                row = dict(config=config, **cfg, n_times=n_times, batch=b, device=name, date=date)
                row.update(ms=math.nan, ms_q1=math.nan, ms_q3=math.nan, repeats=0)
                row.update(peak_gib=math.nan, windows_per_s=math.nan)
                elapsed_min = (time.perf_counter() - start) / 60
                if elapsed_min > max_minutes:
                    row["status"] = f"skipped (--max-minutes {max_minutes:g})"
                elif b * n_times >= oom_at:
                    row["status"] = "OOM (skipped: smaller size ran out of memory)"
                else:
                    try:
                        if model is None:
                            torch.manual_seed(0)
                            model = build_model(cfg, args.n_chans, device)
                            # compile / autotune kernels (Triton) outside the measurements
                            small = torch.randn(2, args.n_chans, 1280, device=device)
                            make_step(model, small, loss_fn, cfg["precision"], device)()
                            sync(device)
                        x = torch.randn(b, args.n_chans, n_times, device=device)
                        step = make_step(model, x, loss_fn, cfg["precision"], device, cfg["graphs"])
                        sec, q1, q3, n, peak = measure(
                            step, device, args.warmup, args.repeats, args.min_repeats,
                            args.budget_s, reserved=cfg["graphs"],
                        )  # fmt: skip
                        row.update(status="ok", ms=sec * 1e3, ms_q1=q1 * 1e3, ms_q3=q3 * 1e3)
                        row.update(repeats=n, peak_gib=peak, windows_per_s=b / sec)
                    except torch.OutOfMemoryError:
                        row["status"] = "OOM"
                        oom_at = min(oom_at, b * n_times)
                    except Exception as err:  # a kernel without support for a size, ...
                        msg = (str(err).splitlines() or [""])[0][:120]
                        row["status"] = f"error: {type(err).__name__}: {msg}"
                    finally:
                        x = step = None
                        if model is not None:
                            model.zero_grad(set_to_none=True)
                        free(device)
                rows.append(row)
                writer.writerow(row)
                fh.flush()
                print(
                    f"[{(time.perf_counter() - start) / 60:5.1f} min] {config:28s} T={n_times:6d} "
                    f"b={b:3d}  {row['status']:>4s}  {fmt(row['ms'], '9.1f')} ms  "
                    f"{fmt(row['peak_gib'], '6.2f')} GiB  ({row['repeats']} reps)",
                    flush=True,
                )
            model = None
            free(device)

    print_table(rows, ALL_CONFIGS, REFERENCES)
    mem_kind = "peak allocated" if cuda else "saved activations"
    title = (
        f"EEGM2 vs attention, whole network, forward+backward; memory: {mem_kind}\n"
        f"{name}, torch {torch.__version__}, {date}"
    )
    png = out_dir / "bench_scaling.png"
    try:
        plot(rows, png, title, ALL_CONFIGS)
        print(f"\nplot: {png}", flush=True)
    except Exception as err:  # the numbers matter more than the figure
        print(f"\nplot failed: {err}", flush=True)
    print(f"CSV: {csv_path}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
