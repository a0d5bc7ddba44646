"""GPU: training passes replayed as CUDA graphs give the eager passes' outputs and gradients.

Run on a CUDA machine: ``pytest -m cuda``. Skipped elsewhere.
"""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.models import EEGM2, EEGM2Net
from eegm2_sklearn.ops import mamba_ssm_available
from eegm2_sklearn.training import GraphedPasses, TrainingGraphs

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.usefixtures("no_tf32"),
]
needs_mamba = pytest.mark.skipif(not mamba_ssm_available(), reason="needs mamba-ssm")


def eager_pass(model, x, dtype):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
        out = model(x)
    out.float().square().mean().backward()
    return out.detach().clone(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def graphed_pass(passes, model, x):
    model.zero_grad(set_to_none=True)
    out = passes(x)
    out.float().square().mean().backward()
    return out.detach().clone(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def rel(a, b):
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


def max_rel(outs, refs):
    return max(rel(a, b) for a, b in zip(outs, refs, strict=True))


@pytest.mark.parametrize(
    "backend,dtype,head",
    [("torch", None, "flatten"), ("torch", torch.bfloat16, "flatten"), ("torch", None, "pool")]
    + [
        pytest.param("mamba_ssm", d, h, marks=needs_mamba)
        for d, h in ((None, "flatten"), (torch.bfloat16, "flatten"), (None, "pool"))
    ],
)
def test_replayed_passes_equal_eager_passes_after_updates(backend, dtype, head):
    """Paper-size network, 4-s windows: replays on new batches and updated weights give the
    eager outputs and gradients, as close as two eager passes are to each other (mamba-ssm's
    backward kernels add atomically, so eager passes differ too) or, for the PyTorch scan,
    whose recorded pass takes the quadratic form, within that form's rounding."""
    torch.manual_seed(0)
    model = EEGM2Net(n_chans=19, n_outputs=2, n_times=512, head=head, backend=backend)
    model = model.cuda().train()
    xs = [torch.randn(8, 19, 512, device="cuda") for _ in range(3)]
    passes = GraphedPasses(model, xs[0], autocast_dtype=dtype)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    form = 1e-4 if dtype is None else 2e-2  # quadratic against factored form (torch scan)
    for x in xs:
        out_e, grads_e = eager_pass(model, x, dtype)
        out_e2, grads_e2 = eager_pass(model, x, dtype)
        out_g, grads_g = graphed_pass(passes, model, x)
        assert out_g.dtype == out_e.dtype
        assert len(grads_g) == len(grads_e) > 0  # unused decoder weights get none
        noise_out, noise_grad = rel(out_e2, out_e), max_rel(grads_e2, grads_e)
        assert rel(out_g, out_e) <= 3 * noise_out + form, (rel(out_g, out_e), noise_out)
        if backend == "torch" and dtype is not None:
            # eager bf16 products against the recorded quadratic form's float32 ones: small
            # gradients differ by tens of percent, so the whole gradient's direction counts
            flat_g, flat_e = (torch.cat([g.flatten() for g in gs]) for gs in (grads_g, grads_e))
            assert torch.nn.functional.cosine_similarity(flat_g, flat_e, dim=0) > 0.99
        else:
            assert max_rel(grads_g, grads_e) <= 3 * noise_grad + 10 * form, noise_grad
        opt.step()  # in place: the next replay must read the new weights
    assert passes.matches(xs[0]) and not passes.matches(xs[0][:4])


class CountReplays(Callback):
    """Forward passes replayed by the net's graphs so far, at each epoch's end."""

    def __init__(self):
        self.replays = []

    def on_epoch_end(self, net, **kwargs):
        graphs = net.__dict__.get("_training_graphs")
        self.replays.append(0 if graphs is None else graphs.replays)


def fit_outputs(est, X, y):
    """Losses per epoch and outputs on the first 16 windows of one fit of ``est``."""
    est.fit(X, y)
    out = "decision_function" if isinstance(est, EEGM2Classifier) else "reconstruct"
    return est, est.history_[:, "train_loss"], getattr(est, out)(X[:16])


def relative_gaps(fit, ref):
    """Largest relative difference of the losses and of the outputs of two fits."""
    (_, loss, out), (_, ref_loss, ref_out) = fit, ref
    loss_gap = np.max(np.abs(np.subtract(loss, ref_loss)) / np.abs(ref_loss))
    return loss_gap, np.abs(out - ref_out).max() / np.abs(ref_out).max()


@pytest.mark.parametrize("cls", [EEGM2Pretrainer, EEGM2Classifier])
@pytest.mark.parametrize("precision", ["32", "bf16"])
def test_estimators_train_the_same_with_cuda_graphs(cls, precision):
    """fit with cuda_graphs=True replays every full batch (the last, smaller one runs
    eagerly) and reaches the losses and outputs of cuda_graphs=False, as close as two eager
    fits are to each other (mamba-ssm's backward adds atomically, and AdamW turns tiny
    gradient differences into whole steps); the graphs are freed after fit."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((72, 19, 512)).astype("float32")  # 4 full batches of 16 + 8
    y = np.array(["rest", "task"] * 36)
    fits, replays = [], []
    for flag in (False, False, True):
        counter = CountReplays()
        est = cls(
            cuda_graphs=flag, max_epochs=2, batch_size=16, precision=precision, device="cuda",
            random_state=0, verbose=0, callbacks=[("count", counter)],
        )  # fmt: skip
        fits.append(fit_outputs(est, X, y))
        replays.append(counter.replays)
    eager, eager_again, graphed = fits
    assert replays == [[0, 0], [0, 0], [4, 8]]  # 4 full batches an epoch
    assert graphed[0].net_.__dict__.get("_training_graphs") is None
    tol = 1e-3 if precision == "32" else 3e-2
    noise_loss, noise_out = relative_gaps(eager_again, eager)
    gap_loss, gap_out = relative_gaps(graphed, eager)
    assert gap_loss <= max(tol, 3 * noise_loss), (gap_loss, noise_loss)
    assert gap_out <= max(10 * tol, 3 * noise_out), (gap_out, noise_out)


def test_whole_unet_records_with_light_checkpointing():
    """checkpointing='light' recomputes inside the recorded backward pass."""
    torch.manual_seed(0)
    model = EEGM2(n_chans=16, checkpointing="light").cuda().train()
    x = torch.randn(4, 16, 1280, device="cuda")
    passes = GraphedPasses(model, x)
    out_e, grads_e = eager_pass(model, x, None)
    out_g, grads_g = graphed_pass(passes, model, x)
    assert rel(out_g, out_e) < 1e-4
    assert max(rel(g, e) for g, e in zip(grads_g, grads_e, strict=True)) < 1e-3


# last: a failed recording must leave CUDA usable, but if it does not, nothing follows
def test_a_synchronising_module_falls_back_to_eager_with_a_warning():
    class Syncs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x) * float(x.abs().max())  # reads a value back to the host

    graphs, module = TrainingGraphs(), Syncs().cuda().train()
    with pytest.warns(RuntimeWarning, match=r"(?s)CUDA graph failed.*continues without"):
        assert graphs(module, torch.randn(3, 4, device="cuda")) is None
    assert graphs.failed is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert graphs(module, torch.randn(3, 4, device="cuda")) is None  # warned once
