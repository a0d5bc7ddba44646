"""Result rows: the CSV log (resumable), progress lines and the markdown table."""

from __future__ import annotations

import csv
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .config import CSV_COLUMNS, model_label


def evaluation_of(args) -> str:
    """What a run's rows score: ``"validation"`` subjects or ``"test"`` subjects."""
    return "validation" if args.validation_subjects else "test"


def row_evaluation(row: dict) -> str:
    return row.get("evaluation") or "test"  # CSVs written before the column was added


def row_key(row: dict) -> tuple:
    """(model, window s, label fraction, fold): what one CSV row stands for."""
    return row["model"], float(row["window_s"]), float(row["label_fraction"]), int(row["fold"])


def row_pair(row: dict) -> tuple[float, int]:
    """(window s, fold): the pair a ``--processes`` worker runs."""
    return float(row["window_s"]), int(row["fold"])


def write_csv(path: Path, rows: list[dict]) -> None:
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


class CsvLog:
    """Append rows to the CSV as they come (header written once)."""

    def __init__(self, path: str, resume: bool, evaluation: str = "test"):
        self.path = Path(path)
        self.rows: list[dict] = []
        self.columns = CSV_COLUMNS
        if resume and self.path.is_file():
            with self.path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.rows = list(reader)
                # a CSV written before a column was added keeps its own header
                self.columns = reader.fieldnames or CSV_COLUMNS
            found = {row_evaluation(r) for r in self.rows}
            if found - {evaluation}:
                raise SystemExit(
                    f"--resume: {path} holds {', '.join(sorted(found))} scores, this run "
                    f"makes {evaluation} scores; write them to another --out file."
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_csv(self.path, [])

    def done(self, model, window_s, fraction, fold) -> bool:
        key = (model, window_s, fraction, fold)
        return any(row_key(r) == key and r["status"] == "ok" for r in self.rows)

    def add(self, row: dict) -> None:
        row["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.rows.append(row)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(row)


def read_rows(paths: list[str]) -> list[dict]:
    """Rows of several per-fold CSVs; a (model, window, labels, fold) seen twice is an error."""
    rows, seen = [], {}
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                key = (*row_key(row), row_evaluation(row))
                if key in seen:
                    raise SystemExit(
                        f"--summarize: {path} and {seen[key]} both hold {key[0]} at "
                        f"{key[1]:g} s, labels {key[2]:g}, fold {key[3]}; pass each run once."
                    )
                seen[key] = path
                rows.append(row)
    kinds = {key[-1] for key in seen}
    if len(kinds) > 1:
        raise SystemExit(
            "--summarize: these CSVs mix test and validation scores; summarize each kind "
            "on its own."
        )
    return rows


def format_progress(row: dict) -> str:
    head = (
        f"  [{row['window_s']:g} s] {row['model_label']:<30} labels "
        f"{float(row['label_fraction']):>4.0%} fold {row['fold']}: "
    )
    if row["status"] != "ok":
        return head + "ERROR " + row["error"]
    pre = f" (+ pretrain {row['pretrain_seconds']} s)" if row["pretrain_seconds"] != "" else ""
    return head + (
        f"bal. acc {row['balanced_accuracy']:.3f}  AUC {row['roc_auc']:.3f}  "
        f"fit {row['fit_seconds']:.1f} s{pre}"
    )


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and std over folds per (model, window, label fraction)."""
    keys = []
    for r in rows:
        key = (r["model"], float(r["window_s"]), float(r["label_fraction"]))
        if key not in keys:
            keys.append(key)
    out = []
    for model, window_s, fraction in keys:
        group = [
            r
            for r in rows
            if (r["model"], float(r["window_s"]), float(r["label_fraction"]))
            == (model, window_s, fraction)
        ]
        ok = [r for r in group if r["status"] == "ok"]

        def values(col, rows_=ok):
            return np.array([float(r[col]) for r in rows_ if r[col] not in ("", None)])

        errors = sorted({r["error"] for r in group if r["status"] != "ok"})
        out.append(
            {
                "model": model,
                "model_label": model_label(model),
                "window_s": window_s,
                "label_fraction": fraction,
                "n_ok": len(ok),
                "n_folds": len(group),
                "bacc": values("balanced_accuracy"),
                "auc": values("roc_auc"),
                "fit_s": values("fit_seconds"),
                "pretrain_s": values("pretrain_seconds"),
                "errors": errors,
            }
        )
    return out


def _mean_std(values: np.ndarray, scale: float = 1.0, digits: int = 1) -> str:
    if len(values) == 0:
        return "-"
    return f"{values.mean() * scale:.{digits}f} +- {values.std() * scale:.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
    """Markdown table of :func:`summarize` (accuracy in %, seconds per fold)."""
    lines = [
        "| model | window | labels | bal. acc (%) | ROC AUC | train s/fold | pretrain s/fold "
        "| folds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summarize(rows):
        folds = f"{s['n_ok']}/{s['n_folds']}"
        if s["errors"]:
            folds += " (error: " + "; ".join(e[:80] for e in s["errors"]) + ")"
        fit = f"{s['fit_s'].mean():.0f}" if len(s["fit_s"]) else "-"
        pre = f"{s['pretrain_s'].mean():.0f}" if len(s["pretrain_s"]) else "-"
        lines.append(
            f"| {s['model_label']} | {s['window_s']:g} s | {s['label_fraction']:.0%} "
            f"| {_mean_std(s['bacc'], 100)} | {_mean_std(s['auc'], 1, 3)} | {fit} | {pre} "
            f"| {folds} |"
        )
    return "\n".join(lines)


def describe_run(args) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    device = torch.cuda.get_device_name(0) if args.device == "cuda" else cpu
    return (
        f"device {args.device} ({device}), {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, torch {torch.__version__}, python "
        f"{platform.python_version()}"
    )
