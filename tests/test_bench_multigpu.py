"""The data-parallel benchmark, as a CPU dry run: 1 and 2 Gloo processes under torchrun."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_multigpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_multigpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_and_two_processes_share_the_global_batch_and_agree(bench, capsys):
    bench.main(
        ["--tiny", "--gpus", "1", "2", "--epochs", "2", "--n-windows", "32",
         "--n-times", "128", "--batch-size", "8", "--threads", "1"]
    )  # fmt: skip
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "32 windows of 19 ch x 128 samples, global batch 8" in header
    # the thread count is the one each worker saw, not just the one asked for
    assert header.endswith("1 CPU thread(s) per process")
    table = out.split("-" * 70)[1].strip().splitlines()[:2]
    rows = [line.split() for line in table]
    assert [r[:2] for r in rows] == [["1", "8"], ["2", "4"]]  # GPUs, batch per process
    assert rows[0][4] == "1.00x"
    # Gloo on the CPU: the 2-process losses are the 1-process ones up to rounding
    assert float(rows[1][6]) < 1e-5
    losses = out.split("train loss per epoch")[1].strip().splitlines()[1:3]
    assert [len(line.split()) for line in losses] == [3, 3]


def test_threads_default_to_the_cores_over_the_largest_run(bench):
    assert bench.default_threads([1, 2, 4], 64) == 16
    assert bench.default_threads([1, 2], 32) == 16
    assert bench.default_threads([1, 8], 4) == 1  # never 0
