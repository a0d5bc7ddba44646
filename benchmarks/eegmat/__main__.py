"""``python -m benchmarks.eegmat``: run the EEGMAT accuracy benchmark."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .config import log, resolve_args
from .data import export_npz, load_recordings
from .pool import run_parallel
from .report import describe_run, markdown_table, read_rows
from .runner import run


def main(argv=None) -> int:
    args = resolve_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.export_npz:
        export_npz(load_recordings(args), args.export_npz)
        return 0
    if args.summarize:
        print(markdown_table(read_rows(args.summarize)))
        return 0
    log("command: " + " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]))
    log(describe_run(args))
    t0 = time.perf_counter()
    rows = run_parallel(args) if args.processes > 1 else run(args)
    log(f"\nfinished in {(time.perf_counter() - t0) / 60:.1f} min; per-fold rows in {args.out}\n")
    if args.validation_subjects:
        log(
            f"VALIDATION scores: {args.validation_subjects} of each fold's training subjects, "
            "trained on the others; the test subjects took no part.\n"
        )
    log(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
