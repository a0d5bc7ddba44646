"""The CPU allocator setting of the estimators' fit: in force inside, undone after.

glibc's ``mallinfo2`` counts the blocks served by ``mmap`` (``hblks``), so each test runs
in a fresh interpreter (the setting is process-wide) and watches where a 64 MB buffer goes.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc's allocator only",
)

PROBE = textwrap.dedent(
    """
    import ctypes, sys
    sys.path.insert(0, {root!r})
    libc = ctypes.CDLL("libc.so.6")
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                    "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc.mallinfo2.restype = Info
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def mmapped_after_malloc():
        before = libc.mallinfo2().hblks
        p = libc.malloc(64 * 2**20)
        during = libc.mallinfo2().hblks
        libc.free(p)
        return during - before

    def kept_free_bytes():
        return libc.mallinfo2().fordblks

    from eegm2_sklearn.training import cpu_training_allocator, tune_cpu_allocator
    """
)


def run(body: str, env_extra: dict | None = None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "EEGM2_CPU"))}
    env.pop("GLIBC_TUNABLES", None)
    env.update(env_extra or {})
    code = PROBE.format(root=str(ROOT)) + textwrap.dedent(body)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_large_blocks_come_from_the_heap_inside_and_from_mmap_after():
    inside, applied, after, before = run(
        """
        before = mmapped_after_malloc()
        with cpu_training_allocator() as applied:
            inside = mmapped_after_malloc()
        print(inside, applied, mmapped_after_malloc(), before)
        """
    )
    assert before == "1"  # glibc's default: a 64 MB block is mmapped
    assert applied == "True"
    assert inside == "0"  # served from the heap while training
    assert after == "1"  # the default is back afterwards


def test_memory_kept_during_training_is_given_back():
    kept_inside, kept_after = map(
        int,
        run(
            """
            with cpu_training_allocator():
                p = libc.malloc(256 * 2**20)
                libc.free(p)
                kept_inside = kept_free_bytes()
            print(kept_inside, kept_free_bytes())
            """
        ),
    )
    assert kept_inside >= 256 * 2**20  # freed but kept in the process
    assert kept_after < 16 * 2**20  # trimmed on the way out


def test_nested_blocks_restore_once_at_the_outermost():
    outer, inner, between = run(
        """
        with cpu_training_allocator():
            with cpu_training_allocator():
                inner = mmapped_after_malloc()
            between = mmapped_after_malloc()
            outer = mmapped_after_malloc()
        print(outer, inner, between)
        """
    )
    assert (outer, inner, between) == ("0", "0", "0")


@pytest.mark.parametrize("env", [{"EEGM2_CPU_ALLOCATOR": "default"}, {"MALLOC_MMAP_MAX_": "65536"}])
def test_opt_out_and_user_glibc_settings_are_respected(env):
    applied, inside = run(
        """
        with cpu_training_allocator() as applied:
            print(applied, mmapped_after_malloc())
        """,
        env,
    )
    assert applied == "False"
    assert inside == "1"


def test_a_process_wide_tuning_is_not_undone():
    applied, after = run(
        """
        tune_cpu_allocator()
        with cpu_training_allocator() as applied:
            pass
        print(applied, mmapped_after_malloc())
        """
    )
    assert applied == "False"
    assert after == "0"  # the program asked for it for its whole life


def test_estimator_fit_trains_under_the_setting_and_restores_it():
    during, after = run(
        """
        import numpy as np
        from eegm2_sklearn import EEGM2Classifier
        from skorch.callbacks import Callback

        seen = []

        class Probe(Callback):
            def on_epoch_end(self, net, **kwargs):
                seen.append(mmapped_after_malloc())

        rng = np.random.default_rng(0)
        X = rng.standard_normal((16, 2, 64)).astype(np.float32)
        y = np.array([0, 1] * 8)
        EEGM2Classifier(base_width=4, expand=2, headdim=4, d_state=4, max_epochs=1,
                        batch_size=8, verbose=0, callbacks=[Probe()]).fit(X, y)
        print(seen[0], mmapped_after_malloc())
        """
    )
    assert (during, after) == ("0", "1")
