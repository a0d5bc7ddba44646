"""Data parallelism: two CPU processes (torchrun, Gloo) train like one with the same batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import _scale_out_worker as worker
import pytest
import torch

from eegm2_sklearn.training.sampler import EpochShuffleSampler, epoch_permutation

WORKER = Path(__file__).with_name("_scale_out_worker.py")


def test_shards_of_each_global_batch_make_the_one_process_batch():
    n, batch = 50, 8
    one = list(EpochShuffleSampler(n, seed=3))
    for world in (2, 4):
        shards = [list(EpochShuffleSampler(n, 3, rank=r, world_size=world)) for r in range(world)]
        assert {len(s) for s in shards} == {-(-n // world)}
        local = batch // world
        for b in range(n // batch):  # full batches: the same windows
            got = sorted(i for s in shards for i in s[b * local : (b + 1) * local])
            assert got == sorted(one[b * batch : (b + 1) * batch])


def test_permutation_depends_on_seed_and_epoch_only_and_skip_resumes():
    s = EpochShuffleSampler(20, seed=1)
    s.set_epoch(2)
    full = list(s)
    assert full == epoch_permutation(20, 1, 2).tolist() != epoch_permutation(20, 1, 3).tolist()
    s.skip_next(6)
    assert list(s) == full[6:]
    assert list(s) == full  # the skip applies once
    assert list(EpochShuffleSampler(5, 0, shuffle=False)) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="rank"):
        EpochShuffleSampler(5, 0, rank=2, world_size=2)


def torchrun(
    out: Path, *args: str, nproc: int = 2, kill: str | None = None, ok: bool = True
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        str(WORKER),
        str(out),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kill:
        env["EEGM2_TEST_KILL"] = kill
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if ok:
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return res


def assert_close_runs(two: dict, one: dict) -> None:
    for k, v in one["state"].items():
        torch.testing.assert_close(two["state"][k], v, rtol=1e-4, atol=1e-5, msg=k)
    for row2, row1 in zip(two["history"], one["history"], strict=True):
        b2 = [b["train_loss"] for b in row2["batches"]]
        b1 = [b["train_loss"] for b in row1["batches"]]
        assert b2 == pytest.approx(b1, rel=1e-5)
        assert row2["train_loss"] == pytest.approx(row1["train_loss"], rel=1e-5)


def test_two_processes_pretrain_like_one_with_the_same_global_batch(tmp_path):
    args = ("--batch-size", "16", "--windows", "64", "--epochs", "2")
    res = torchrun(tmp_path / "two.pt", *args, "--ckpt", str(tmp_path / "ckpt"))
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    one = worker.run_in_process(tmp_path / "one.pt", *args)
    assert_close_runs(two, one)
    # global batches of 16: 4 steps per epoch, each process did 8 windows a step
    assert [len(r["batches"]) for r in two["history"]] == [4, 4]
    assert {b["train_batch_size"] for r in two["history"] for b in r["batches"]} == {8}
    # rank 0 alone prints and saves
    assert res.stdout.count("train_loss") == 1
    # the newest checkpoint and the previous one are kept
    listing = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert listing == ["epoch00001", "epoch00002", "latest.json"]


def test_two_processes_finetune_a_pooling_head_like_one(tmp_path):
    """The decoder takes no part under head='pool': DDP must cope with unused weights."""
    args = ("--classifier", "--batch-size", "16", "--windows", "48", "--epochs", "2")
    torchrun(tmp_path / "two.pt", *args)
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    one = worker.run_in_process(tmp_path / "one.pt", *args)
    assert_close_runs(two, one)


def test_sigterm_on_one_process_stops_all_after_one_checkpoint_and_resumes(tmp_path):
    """Rank 0 alone gets SIGTERM: both processes stop after the same batch, rank 0 saves."""
    args = ("--batch-size", "16", "--windows", "64", "--epochs", "2")
    ckpt = str(tmp_path / "ckpt")
    res = torchrun(tmp_path / "a.pt", *args, "--ckpt", ckpt, kill="2:1:TERM:0", ok=False)
    assert res.returncode != 0
    # signalled after batch 1; the processes agree during the next step, and stop after it
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "epoch00001",
        "epoch00002-batch000002",
        "latest.json",
    ]
    torchrun(tmp_path / "b.pt", *args, "--ckpt", ckpt, "--resume")
    resumed = torch.load(tmp_path / "b.pt", weights_only=False)
    one = worker.run_in_process(tmp_path / "one.pt", *args)
    assert_close_runs(resumed, one)
