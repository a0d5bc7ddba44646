"""``--processes``: the (window, fold) pairs in worker processes, spread over GPUs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import OPTIONS, log, option_dest
from .report import CsvLog, evaluation_of, read_rows, row_key, row_pair, write_csv
from .runner import planned_runs

#: The script the workers run (a thin entry point that works from any folder).
SCRIPT = Path(__file__).resolve().parents[1] / "eegmat_accuracy.py"

#: flags a worker process does not inherit: the parent sets them per task, or they only
#: make sense in the parent
_PARENT_ONLY = {
    "help", "processes", "out", "resume", "windows", "folds", "summarize", "export_npz",
    "quick", "smoke", "threads",
}  # fmt: skip


def worker_argv(args, window_s: float, fold: int, out: Path, threads: int) -> list[str]:
    """Command-line flags that make a worker run one (window, fold) pair of ``args``.

    Every other flag is passed with its resolved value (presets, ``--quick`` and
    ``--smoke`` already applied), so the worker computes exactly what the serial run would.
    """
    argv = []
    for flag, _ in OPTIONS:
        dest = option_dest(flag)
        value = getattr(args, dest, None)
        if dest in _PARENT_ONLY or value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]  # an empty list too: not the preset's
        else:
            argv += [flag, str(value)]
    argv += ["--windows", f"{window_s:g}", "--folds", str(fold), "--out", str(out)]
    return argv + ["--resume", "--threads", str(threads)]


def run_parallel(args) -> list[dict]:
    """Run each (window, fold) pair in a worker process, ``args.processes`` at a time.

    Workers write ``<out>.parts/<window>s_fold<k>.csv`` and resume from it; with
    ``--resume`` a part is first seeded with its rows of ``--out``. The parts are merged
    into ``--out`` at the end (also after a worker fails: its finished folds are kept),
    beside, with ``--resume``, the rows of ``--out`` for other windows and folds.
    """
    previous = CsvLog(args.out, args.resume, evaluation_of(args)).rows  # checks evaluation
    folds = args.folds if args.folds is not None else range(args.n_folds)
    # with --resume, a pair whose rows --out already holds starts no worker (and takes no
    # GPU slot from the pairs that still have work)
    finished = {row_key(r) for r in previous if r["status"] == "ok"}
    tasks = [
        (w, k)
        for w in sorted(args.windows, reverse=True)
        for k in folds
        if not all((m, w, f, k) in finished for m, f in planned_runs(args, w))
    ]
    parts = Path(f"{args.out}.parts")
    parts.mkdir(parents=True, exist_ok=True)
    gpus = visible_gpus() if args.device == "cuda" else [None]
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.processes)
    log(
        f"{len(tasks)} (window, fold) pairs in {args.processes} worker processes"
        + (f" on GPUs {', '.join(gpus)}" if gpus != [None] else "")
        + f", {threads} torch threads each; worker logs and CSVs in {parts}/"
    )
    running, failed = [], []
    interrupted = False
    previous_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        for i, (window_s, fold) in enumerate(tasks):
            part = parts / f"{window_s:g}s_fold{fold}.csv"
            if not args.resume:
                part.unlink(missing_ok=True)
            elif not part.is_file():
                write_csv(part, [r for r in previous if row_pair(r) == (window_s, fold)])
            while len(running) >= args.processes:
                running = _reap(running, failed)
            env = dict(os.environ)
            if gpus[i % len(gpus)] is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            cmd = [sys.executable, str(SCRIPT), *worker_argv(args, window_s, fold, part, threads)]
            logfile = part.with_suffix(".log").open("a")
            proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env)
            running.append((proc, logfile, f"{window_s:g}-s windows, fold {fold}"))
            log(f"  started {running[-1][2]} (GPU {env.get('CUDA_VISIBLE_DEVICES', '-')})")
        while running:
            running = _reap(running, failed)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM (a time limit, say): stop the workers, keep their finished rows
        interrupted = True
        for proc, logfile, name in running:
            proc.terminate()
            proc.wait()
            logfile.close()
            failed.append(f"{name} (interrupted)")
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    done = [parts / f"{w:g}s_fold{k}.csv" for w, k in tasks]
    rows = read_rows([str(path) for path in done if path.is_file()])
    # with --resume, rows of --out outside this run's (window, fold) pairs stay in it
    pairs = set(tasks)
    rows += [r for r in previous if row_pair(r) not in pairs]
    write_csv(args.out, rows)
    if failed:
        log(f"workers FAILED for {', '.join(failed)}; see their logs in {parts}/")
    if interrupted:
        log(f"interrupted: the finished rows are in {args.out}; run again with --resume")
        raise SystemExit(130)
    return rows


def visible_gpus() -> list[str]:
    """The GPUs the workers are spread over: ``CUDA_VISIBLE_DEVICES``, else all of them."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = [g.strip() for g in visible.split(",") if g.strip()]
    else:
        gpus = [str(i) for i in range(torch.cuda.device_count())]
    if not gpus:
        raise SystemExit(
            "--processes with --device cuda: no GPU is visible (CUDA_VISIBLE_DEVICES="
            f"{visible!r}); make one visible or run with --device cpu."
        )
    return gpus


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _reap(running: list, failed: list) -> list:
    """Wait a moment; return the workers still running, logging (and noting failed) ends."""
    time.sleep(0.5)
    still = []
    for proc, logfile, name in running:
        code = proc.poll()
        if code is None:
            still.append((proc, logfile, name))
            continue
        logfile.close()
        log(f"  finished {name}" + ("" if code == 0 else f": exit status {code}"))
        if code != 0:
            failed.append(name)
    return still
