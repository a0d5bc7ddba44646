"""``compile=True``: the passes of fit under torch.compile, every Mamba-2 block compiled.

The estimator test compiles a small network with Inductor on the CPU (about a minute on
two cores); the block-count test uses Dynamo alone.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch._dynamo
from skorch.callbacks import Callback
from torch import nn
from torch._dynamo.utils import counters

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.models import EEGM2Net
from eegm2_sklearn.training import CompiledNetwork

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, device="cpu", verbose=0)


@torch.compiler.disable
def opaque(x):
    """Stands in for mamba-ssm's scan, which the compiler does not trace into."""
    return x * 2


class Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.lin = nn.Linear(width, width + 1)
        self.width = width

    def forward(self, x):
        y = opaque(torch.relu(self.lin(x)))  # a graph break, as in each Mamba-2 block
        return y.view(x.shape[0], self.width + 1) + 1


def blocks_net(n: int) -> nn.Sequential:
    return nn.Sequential(*(Block(4 + i) for i in range(n)))


def compiled_graphs(wrap, net, x) -> tuple[int, torch.Tensor]:
    torch._dynamo.reset()
    counters.clear()
    out = wrap(net)(x)
    return counters["stats"]["unique_graphs"], out


def test_compiled_network_compiles_every_block_past_dynamos_default_limit():
    """12 blocks of 12 widths, each split in two frames by the opaque call: plain
    torch.compile stops compiling the block's code at Dynamo's limit of 8 and runs the rest
    uncompiled; the wrapper compiles all 24 frames, gives the same output and leaves the
    global limit as it was."""
    torch.manual_seed(0)
    net, x = blocks_net(12), torch.randn(2, 4)
    limit = torch._dynamo.config.recompile_limit
    plain, out_plain = compiled_graphs(lambda m: torch.compile(m, backend="eager"), net, x)
    ours, out_ours = compiled_graphs(lambda m: CompiledNetwork(m, backend="eager"), net, x)
    assert limit < 12 and plain < 2 * 12  # the limit this wrapper exists for
    assert ours == 2 * 12
    torch.testing.assert_close(out_ours, net(x), rtol=0, atol=0)
    torch.testing.assert_close(out_plain, net(x), rtol=0, atol=0)
    assert torch._dynamo.config.recompile_limit == limit
    assert {n for n, _ in CompiledNetwork(net).named_parameters()} == {
        f"compiled._orig_mod.{n}" for n, _ in net.named_parameters()
    }  # shared, not copied


class CountCompiled(Callback):
    """Compiled wrappers held by the net at each epoch's end (training and validation)."""

    def initialize(self):
        self.held = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.held.append(len(net.__dict__.get("_compiled") or {}))


def test_compile_trains_like_eager_and_leaves_an_uncompiled_model():
    """Training and validation passes run compiled (the PyTorch scan's compiled form is
    the quadratic one: the same numbers up to float32 rounding); after fit the model is
    the plain network, predictions (the estimator's and the skorch net's) run it
    uncompiled and the estimator pickles."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3, 64)).astype("float32")
    y = np.array(["a", "b"] * 20)
    fits = {}
    for flag in (False, True):
        count = CountCompiled()
        est = EEGM2Classifier(
            compile=flag, max_epochs=2, batch_size=16, validation_split=0.2, random_state=0,
            callbacks=[("count", count)], **TINY,
        )  # fmt: skip
        torch._dynamo.reset()
        counters.clear()
        fits[flag] = est.fit(X, y)
        fits[flag].graphs_, fits[flag].held_ = counters["stats"]["unique_graphs"], count.held
    eager, compiled = fits[False], fits[True]
    assert eager.graphs_ == 0 and eager.held_ == [0, 0]
    assert compiled.graphs_ > 0 and compiled.held_ == [1, 1]  # one wrapper: training and valid
    for key in ("train_loss", "valid_loss"):
        np.testing.assert_allclose(compiled.history_[:, key], eager.history_[:, key], rtol=1e-5)
    assert type(compiled.module_) is EEGM2Net
    assert compiled.module_.state_dict().keys() == eager.module_.state_dict().keys()
    assert compiled.net_.__dict__.get("_compiled") is None  # dropped after fit
    counters.clear()
    compiled.net_.forward(X[:4])  # skorch's own inference after fit: uncompiled too
    assert counters["stats"]["unique_graphs"] == 0
    np.testing.assert_allclose(
        compiled.decision_function(X), eager.decision_function(X), rtol=1e-4, atol=1e-5
    )
    again = pickle.loads(pickle.dumps(compiled))
    np.testing.assert_array_equal(again.decision_function(X), compiled.decision_function(X))


@pytest.mark.parametrize("cls", [EEGM2Pretrainer, EEGM2Classifier])
def test_compile_is_off_by_default_and_checked(cls):
    assert cls().compile is False
    with pytest.raises(ValueError, match=r"`compile`: expected True or False; got 'yes'"):
        cls(compile="yes", **TINY).fit(np.zeros((8, 3, 64), "float32"), np.arange(8) % 2)
