"""What the training options do inside the optimiser: the one-cycle learning rate at every
step, weight decay per parameter, gradient clipping, class weights in the loss, bf16.

Shaped arrays and tiny networks: these are properties of the training loop, not of EEG.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import Callback

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, device="cpu", verbose=0)
X = np.random.default_rng(0).standard_normal((40, 3, 64)).astype("float32")
Y = np.array([0, 1] * 20)


class Record(Callback):
    """Per training batch: the learning rate of every parameter group at the update, and
    the gradients as the optimiser gets them (after clipping, which runs first)."""

    def initialize(self):
        self.lrs, self.norms, self.grads = [], [], []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.lrs.append([group["lr"] for group in net.optimizer_.param_groups])

    def on_grad_computed(self, net, named_parameters, training=False, **kwargs):
        grads = {name: p.grad.clone() for name, p in named_parameters if p.grad is not None}
        self.grads.append(grads)
        norms = torch.stack([g.norm() for g in grads.values()])
        self.norms.append(float(torch.linalg.vector_norm(norms)))


def one_cycle_lr(step: int, total: int, peak: float, pct_start: float) -> float:
    """torch's two-phase cosine one-cycle schedule (div_factor 25, final_div_factor 1e4)."""
    initial = peak / 25.0
    phases = [(pct_start * total - 1, initial, peak), (total - 1, peak, initial / 1e4)]
    start_step = 0.0
    for i, (end_step, lo, hi) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            pct = (step - start_step) / (end_step - start_step)
            return hi + (lo - hi) / 2.0 * (math.cos(math.pi * pct) + 1)
        start_step = end_step
    raise AssertionError("unreachable")


# n windows in batches of 16, 2 epochs: 2, 2, 4, 10 and 10 optimiser steps
@pytest.mark.parametrize("n_windows", [1, 5, 17, 71, 80])
def test_onecycle_learning_rate_at_every_step(n_windows):
    """Peak ``lr`` after 10 % of the steps (at least one warm-up step), cosine annealing,
    every parameter group; below 4 steps in all, ``lr`` throughout."""
    lr = 2e-3
    record = Record()
    Xn = np.random.default_rng(0).standard_normal((n_windows, 3, 16)).astype("float32")
    pre = EEGM2Pretrainer(
        max_epochs=2,
        lr=lr,
        batch_size=16,
        mask_span=4,
        random_state=0,
        callbacks=[record],
        **TINY,
    ).fit(Xn)
    total = 2 * math.ceil(n_windows / 16)
    assert len(record.lrs) == total and len(pre.history_) == 2
    assert all(len(set(group_lrs)) == 1 for group_lrs in record.lrs)  # decay or not
    used = [group_lrs[0] for group_lrs in record.lrs]
    if total < 4:
        assert used == [lr] * total
        return
    expected = [one_cycle_lr(s, total, lr, max(0.1, 2.0 / total)) for s in range(total)]
    assert used == pytest.approx(expected, rel=1e-12, abs=0)  # measured: equal
    assert used[0] == pytest.approx(lr / 25) and max(used) == pytest.approx(lr)
    assert used[-1] == pytest.approx(lr / 25 / 1e4)
    logged = [b["event_lr"] for row in pre.history_ for b in row["batches"]]
    assert logged == used  # the history logs the rate each batch was trained with


def test_constant_schedule_keeps_lr():
    record = Record()
    EEGM2Classifier(
        max_epochs=2, lr=3e-3, lr_schedule="constant", batch_size=10, callbacks=[record], **TINY
    ).fit(X, Y)
    assert record.lrs == [[3e-3] * len(record.lrs[0])] * 8


def test_weight_decay_spares_a_log_d_and_dt_bias_only():
    clf = EEGM2Classifier(max_epochs=1, weight_decay=0.03, batch_size=20, **TINY).fit(X, Y)
    names = {id(p): name for name, p in clf.module_.named_parameters()}
    decay = {}
    for group in clf.net_.optimizer_.param_groups:
        for p in group["params"]:
            assert names[id(p)] not in decay  # each parameter in one group
            decay[names[id(p)]] = group["weight_decay"]
    assert set(decay) == set(names.values())
    spared = {name for name, wd in decay.items() if wd == 0.0}
    mamba = {name for name in names.values() if ".mamba." in name}
    assert spared == {n for n in mamba if n.rsplit(".", 1)[1] in ("A_log", "D", "dt_bias")}
    assert len(spared) == 3 * 4  # four Mamba blocks in the U-Net
    assert {wd for name, wd in decay.items() if name not in spared} == {0.03}
    # norms, biases and the head decay like every other weight (as in mamba-ssm)
    assert decay["backbone.mediator.1.mamba.norm.weight"] == 0.03
    assert decay["head.3.bias"] == 0.03


def test_gradient_clipping_rescales_the_gradient_to_the_max_norm():
    """With clipping at 1e-2 every step's gradient norm is 1e-2 (the raw norms are 0.58 to
    2.4); the first step's gradient is the unclipped one times ``1e-2 / (norm + 1e-6)``."""
    raw, clipped = Record(), Record()
    common = dict(max_epochs=1, batch_size=10, lr=1e-3, random_state=0, **TINY)
    EEGM2Classifier(gradient_clip_value=None, callbacks=[raw], **common).fit(X, Y)
    EEGM2Classifier(gradient_clip_value=1e-2, callbacks=[clipped], **common).fit(X, Y)
    assert min(raw.norms) > 0.1  # measured 0.58, 0.62, 1.44, 2.43: clipping had work to do
    assert all(n <= 1e-2 for n in clipped.norms)
    assert clipped.norms == pytest.approx([1e-2] * 4, rel=1e-5)  # measured: 2e-6 below 1e-2
    coef = 1e-2 / (raw.norms[0] + 1e-6)  # torch.nn.utils.clip_grad_norm_
    for name, g in raw.grads[0].items():
        # measured: 1.9e-7 relative (float32 rounding of the product)
        torch.testing.assert_close(clipped.grads[0][name], g * coef, rtol=1e-6, atol=1e-12)
    # the default is the paper's clipping at 1.0
    default = Record()
    EEGM2Classifier(callbacks=[default], **common).fit(X, Y)
    assert max(default.norms) <= 1.0 + 1e-6 and max(raw.norms) > 1.0


@pytest.mark.parametrize(
    ("y", "class_weight", "expected"),
    [
        (["b", "a", "b", "b"] * 5, {"a": 2.0, "b": 0.5}, [2.0, 0.5]),
        ([2, 0, 1, 2] * 5, {2: 3.0, 0: 1.5}, [1.5, 1.0, 3.0]),  # unnamed classes: 1
        ([2, 0, 1, 2] * 5, None, None),
    ],
)
def test_class_weight_reaches_the_loss_in_classes_order(y, class_weight, expected):
    clf = EEGM2Classifier(max_epochs=1, class_weight=class_weight, batch_size=20, **TINY)
    clf.fit(X[:20], y)
    assert isinstance(clf.net_.criterion_, torch.nn.CrossEntropyLoss)
    weight = clf.net_.criterion_.weight
    if expected is None:
        assert weight is None
    else:
        assert weight.dtype == torch.float32
        assert weight.tolist() == expected


@pytest.mark.parametrize("y", [["b", "a", "b", "b", "c"] * 4, [2, 0, 1, 2, 2] * 4])
def test_balanced_class_weight_is_sklearns(y):
    clf = EEGM2Classifier(max_epochs=1, class_weight="balanced", batch_size=20, **TINY)
    clf.fit(X[:20], y)
    expected = compute_class_weight("balanced", classes=clf.classes_, y=np.asarray(y))
    # measured: equal up to the float32 cast of the weights
    np.testing.assert_allclose(clf.net_.criterion_.weight.numpy(), expected, rtol=1e-7)


def _relative(a, b) -> float:
    return float(np.abs(np.asarray(a, float) - b).max() / np.abs(b).max())


def test_bf16_on_cpu_fits_and_predicts_close_to_float32():
    """``precision="bf16"`` trains and predicts under bfloat16 autocast on CPU too; outputs
    stay float32 (probabilities float64, as for float32), near the float32 results."""
    y = np.array(["a", "b"] * 24)
    Xb = np.random.default_rng(0).standard_normal((48, 3, 128)).astype("float32")
    common = dict(max_epochs=2, batch_size=16, random_state=0, **TINY)
    pre = {p: EEGM2Pretrainer(precision=p, **common).fit(Xb) for p in ("32", "bf16")}
    clf = {p: EEGM2Classifier(precision=p, **common).fit(Xb, y) for p in ("32", "bf16")}
    for est in (pre, clf):  # measured: 1.9e-3 and 4.6e-4 at most
        np.testing.assert_allclose(
            est["bf16"].history_[:, "train_loss"], est["32"].history_[:, "train_loss"], rtol=1e-2
        )
    bf16_dtypes = []
    first_linear = next(m for m in pre["bf16"].module_.modules() if isinstance(m, torch.nn.Linear))
    hook = first_linear.register_forward_hook(lambda m, i, out: bf16_dtypes.append(out.dtype))
    outputs = {
        "transform": pre["bf16"].transform(Xb),
        "reconstruct": pre["bf16"].reconstruct(Xb),
        "decision_function": clf["bf16"].decision_function(Xb),
        "predict_proba": clf["bf16"].predict_proba(Xb),
    }
    hook.remove()
    assert set(bf16_dtypes) == {torch.bfloat16}  # the network did run in bf16
    for name, out in outputs.items():
        assert out.dtype == (np.float64 if name == "predict_proba" else np.float32), name
        assert np.isfinite(out).all()
    # the same bf16-trained weights evaluated in float32
    for est in (pre["bf16"], clf["bf16"]):
        est.net_.precision = "32"
    as_fp32 = {
        "transform": pre["bf16"].transform(Xb),
        "reconstruct": pre["bf16"].reconstruct(Xb),
        "decision_function": clf["bf16"].decision_function(Xb),
        "predict_proba": clf["bf16"].predict_proba(Xb),
    }
    # measured (relative to the largest value): 0.011, 0.022, 0.048 and 0.0021
    tolerance = {"transform": 0.05, "reconstruct": 0.1, "decision_function": 0.2,
                 "predict_proba": 0.01}  # fmt: skip
    for name, tol in tolerance.items():
        err = _relative(outputs[name], as_fp32[name])
        assert 1e-4 < err < tol, (name, err)  # bf16 rounding shows, within its tolerance
    assert pre["bf16"].score(Xb) == pytest.approx(pre["32"].score(Xb), rel=0.02)  # measured 0.5 %


@pytest.mark.parametrize("cls", [EEGM2Pretrainer, EEGM2Classifier])
def test_cuda_graphs_is_ignored_on_the_cpu_and_checked(cls):
    """``cuda_graphs`` applies on CUDA only: on the CPU every value trains bit for bit like
    ``cuda_graphs=False``; "auto" resolves to off there, and a bad value is reported like
    every bad parameter."""
    y = np.array(["a", "b"] * 20)
    fits = [
        cls(cuda_graphs=flag, max_epochs=2, batch_size=16, random_state=0, **TINY).fit(X, y)
        for flag in (False, True, "auto")
    ]
    for fit in fits[1:]:
        np.testing.assert_array_equal(
            fit.history_[:, "train_loss"], fits[0].history_[:, "train_loss"]
        )
        for a, b in zip(fit.module_.parameters(), fits[0].module_.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert fit.net_.__dict__.get("_training_graphs") is None  # never built on the CPU
    assert [f.net_.cuda_graphs for f in fits] == [False, True, False]
    assert cls().cuda_graphs == "auto"
    with pytest.raises(
        ValueError, match=r"`cuda_graphs`: expected 'auto', True or False; got 'yes'"
    ):
        cls(cuda_graphs="yes", **TINY).fit(X, y)
