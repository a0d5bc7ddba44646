"""
.. _ex-long-windows:

Long windows: time, memory and the scan backend
===============================================

Attention compares every time step with every other one, so its cost grows with the
square of the window length. EEGM2's Mamba-2 blocks scan the sequence instead (the
structured state space duality, SSD), so time and memory grow linearly with the length:
minutes of EEG fit in one window.

This example reads the results of ``benchmarks/bench_scaling.py`` (one training step,
forward and backward, of the whole paper-size network) from a CSV file and plots time and
memory per window against the window length, then shows how the package chooses the
implementation of the scan. Nothing is benchmarked here: timing belongs to the benchmark
script, run on the machine you care about::

    python benchmarks/bench_scaling.py --device cuda --out-dir bench_out
"""

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter

from eegm2_sklearn.models import EEGM2
from eegm2_sklearn.ops import mamba_ssm_available, resolve_backend

# %%
# The benchmark results
# ---------------------
# The documentation ships the CSV of one GPU run in ``docs/_static/bench_scaling_h100.csv``
# (and of a small CPU run in ``docs/_static/bench_scaling.csv``); the columns are those the
# benchmark writes. Point ``csv_path`` at your own
# ``bench_out/bench_scaling.csv`` to plot a run of yours.
try:
    here = Path(__file__).resolve().parent
except NameError:  # run interactively
    here = Path.cwd()
csv_path = here.parent / "docs" / "_static" / "bench_scaling_h100.csv"
results = pd.read_csv(csv_path)
print("measured on:", ", ".join(results["device"].unique()), "on", results["date"].iloc[0])
print(results[["config", "n_times", "batch", "status", "ms", "peak_gib"]].to_string(index=False))

# %%
# The run behind the committed CSV is named by its ``device`` and ``date`` columns,
# printed above: one NVIDIA H100 (torch 2.11, mamba-ssm 2.3.2's Triton kernels), batch 64
# up to 12,800 samples and 8 beyond, 2026-11-27. "Memory" is the CUDA allocator's peak. On
# a CPU run (the other CSV) it is the size of the activations autograd keeps for the
# backward pass. The Performance page discusses these numbers: flash attention is faster
# up to 12,800 samples, EEGM2 from 25,600 on (4.8x at 102,400), and checkpointing brings
# EEGM2's memory to within 2x of attention's.
#
# Time and memory per window, against the window length, on logarithmic axes: a straight
# line of slope 1 is linear growth, slope 2 quadratic.
ok = results[results["status"] == "ok"].copy()
ok["ms_per_window"] = ok["ms"] / ok["batch"]
ok["mib_per_window"] = ok["peak_gib"] * 1024 / ok["batch"]

fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
for i, (config, rows) in enumerate(ok.groupby("config", sort=False)):
    rows = rows.sort_values("n_times")
    style = dict(
        ls="--" if config.startswith("attention") else "-",
        marker="s" if config.endswith("ckpt") else "o",
        color=f"C{i}",
        label=config,
    )
    axes[0].loglog(rows["n_times"], rows["ms_per_window"], **style)
    axes[1].loglog(rows["n_times"], rows["mib_per_window"], **style)
axes[0].set_ylabel("forward + backward per window (ms)")
axes[1].set_ylabel("memory per window (MiB)")
lengths = sorted(ok["n_times"].unique())
for ax in axes:
    ax.set_xlabel("window length (samples)")
    ax.set_xticks(lengths, [f"{t:,}" for t in lengths], rotation=45)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
axes[0].legend(fontsize=8)
device = results["device"].iloc[0]
fig.suptitle(f"EEGM2 vs attention, one training step ({device}, {results['date'].iloc[0]})")

# %%
# The growth exponent of each configuration: the slope of a straight line through the
# logarithms (1 means linear).
for config, rows in ok.groupby("config", sort=False):
    rows = rows.dropna(subset=["ms_per_window", "mib_per_window"])
    if rows["n_times"].nunique() < 2:
        continue
    log_t = np.log(rows["n_times"])
    time_slope = np.polyfit(log_t, np.log(rows["ms_per_window"]), 1)[0]
    mem_slope = np.polyfit(log_t, np.log(rows["mib_per_window"]), 1)[0]
    print(f"{config:28s} time ~ T^{time_slope:.2f}   memory ~ T^{mem_slope:.2f}")

# %%
# Read the exponents with the lengths in mind. Below a few thousand samples the
# quadratic part of attention is small next to its linear projections, and PyTorch's
# fused attention kernels never store the full attention matrix, so attention grows
# almost linearly there too and is the faster of the two on short windows. The
# quadratic term takes over on long windows: on an H100 in bfloat16, attention layers
# with PyTorch's flash kernels took 113 ms against 207 ms for EEGM2's Mamba-2 layers
# (forward and backward, one layer at each of the four places they sit in the network)
# at 64 windows of 12,800 samples, but 802 ms against 206 ms at 8 windows of 102,400
# samples. Run the benchmark on your hardware and window lengths before choosing.
failed = results[results["status"] != "ok"]
if len(failed):
    print("\nruns that did not finish:")
    print(failed[["config", "n_times", "batch", "status"]].to_string(index=False))

# %%
# Any length, one network
# -----------------------
# The network has no positional embedding and no fixed length: the same weights take a
# 4-s window or a 2-minute one (any length that the three poolings can halve, at least 8
# samples). A small network on two minutes of 19-channel EEG at 128 Hz, on this CPU:
model = EEGM2(n_chans=19, base_width=8, expand=2, headdim=8, d_state=8).eval()
for seconds in (4, 120):
    x = torch.randn(1, 19, seconds * 128)
    start = time.perf_counter()
    with torch.inference_mode():
        x_hat = model(x)
    print(
        f"{seconds:4d} s window: input {tuple(x.shape)} -> reconstruction "
        f"{tuple(x_hat.shape)}, bottleneck {tuple(model.encode(x).shape)}, "
        f"{time.perf_counter() - start:.2f} s"
    )

# %%
# Which scan runs where
# ---------------------
# Every Mamba-2 layer decides at each call, from the device of its input, which SSD
# implementation to run. With ``backend="auto"`` (the default of the networks and the
# estimators):
#
# - on a CUDA tensor, mamba-ssm's Triton kernel ``mamba_chunk_scan_combined`` when the
#   package imports (``pip install "eegm2_sklearn[cuda]"``);
# - otherwise the chunked pure-PyTorch SSD of this package, which runs on any device.
#
# ``backend="torch"`` forces the PyTorch scan everywhere; ``backend="mamba_ssm"`` insists
# on the kernel and raises an error where it cannot run. The weights are the same for
# both: a model trained with one runs with the other.
print("mamba-ssm importable here:", mamba_ssm_available())
print("CUDA available here:      ", torch.cuda.is_available())
for device in ("cpu", "cuda"):
    print(f"backend='auto' on {device!r} runs:", resolve_backend("auto", device))

# %%
# Asking for the kernel where it cannot run gives an error that says what to do:
try:
    resolve_backend("mamba_ssm", "cpu")
except ValueError as err:
    print(err)

# %%
# The estimators pass ``backend`` and ``device`` down to the network:
# ``EEGM2Pretrainer(device="auto")`` trains on the GPU when PyTorch sees one, and the
# layers then pick mamba-ssm's kernel if it is installed. Two more options help with long
# windows on a GPU: ``precision="bf16"`` (bfloat16 autocast) and ``checkpointing=True``
# (recompute the Mamba blocks in the backward pass instead of storing their activations:
# the ``-ckpt`` rows above, less memory for some more time). The network's backend can
# also be switched after construction:
model.backend = "torch"
print(model.backend, {m.backend for m in model.modules() if hasattr(m, "in_proj")})
