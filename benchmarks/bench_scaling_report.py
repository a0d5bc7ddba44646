"""Tables and plot of :mod:`bench_scaling`'s rows (its CSV fields)."""

from __future__ import annotations

import math
from pathlib import Path


def fmt(v: float, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _order(config: str, configs: list[str]) -> int:
    return configs.index(config) if config in configs else len(configs)


def print_table(rows: list[dict], configs: list[str], references: list[str]) -> None:
    """Markdown table: time, peak memory and their ratios to the first of ``references`` that
    ran, at the same T; rows in the order of ``configs``."""
    present = {r["config"] for r in rows if r["status"] == "ok"}
    reference = next((c for c in references if c in present), references[0])
    ref = {r["n_times"]: r for r in rows if r["config"] == reference and r["status"] == "ok"}
    print(
        f"\n| config | T | batch | step ms | memory GiB | time / {reference} "
        f"| memory / {reference} |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r["n_times"], _order(r["config"], configs))):
        if r["status"] != "ok":
            print(f"| {r['config']} | {r['n_times']} | {r['batch']} | {r['status']} | | | |")
            continue
        a = ref.get(r["n_times"])
        tr = r["ms"] / a["ms"] if a else math.nan
        mr = r["peak_gib"] / a["peak_gib"] if a and a["peak_gib"] else math.nan
        print(
            f"| {r['config']} | {r['n_times']} | {r['batch']} | {r['ms']:.1f} "
            f"| {fmt(r['peak_gib'], '.2f')} | {fmt(tr, '.2f')} | {fmt(mr, '.2f')} |"
        )
    # summary lines that the issue's targets ask for
    ok = {(r["config"], r["n_times"]): r for r in rows if r["status"] == "ok"}
    eegm2 = sorted({r["config"] for r in rows if r["config"].startswith("eegm2")})
    print("\nBest EEGM2 configuration per length (fastest):")
    for t in sorted({r["n_times"] for r in rows}):
        cands = [ok[(c, t)] for c in eegm2 if (c, t) in ok]
        if not cands:
            continue
        best = min(cands, key=lambda r: r["ms"])
        a = ref.get(t)
        vs = f", speed {a['ms'] / best['ms']:.2f}x that of {reference}" if a else ""
        print(f"  T={t}: {best['config']} {best['ms']:.1f} ms{vs}")
    for c in eegm2:
        short, long_ = ok.get((c, 12800)), ok.get((c, 102400))
        if short and long_ and short["peak_gib"] and not math.isnan(short["peak_gib"]):
            print(
                f"  linear memory {c}: peak(102400 x {long_['batch']}) / "
                f"peak(12800 x {short['batch']}) = {long_['peak_gib'] / short['peak_gib']:.2f}"
            )


def plot(rows: list[dict], path: Path, title: str, configs: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for config in sorted({r["config"] for r in rows}, key=lambda c: _order(c, configs)):
        pts = sorted(
            (r for r in rows if r["config"] == config and r["status"] == "ok"),
            key=lambda r: r["n_times"],
        )
        if not pts:
            continue
        style = "--" if config.startswith("attention") else "-"
        marker = "s" if "ckpt" in config else "o"
        ts = [r["n_times"] for r in pts]
        axes[0].loglog(ts, [r["ms"] / r["batch"] for r in pts], style, marker=marker, label=config)
        mem = [r["peak_gib"] * 1024 / r["batch"] for r in pts]
        if not all(math.isnan(m) for m in mem):
            axes[1].loglog(ts, mem, style, marker=marker, label=config)
    axes[0].set_ylabel("forward+backward time per window (ms)")
    axes[1].set_ylabel("memory per window (MiB)")
    for ax in axes:
        ax.set_xlabel("window length T (samples)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
