"""Activation checkpointing of the EEGM2 networks: same gradients, less kept."""

import pytest
import torch

from eegm2_sklearn.models import (
    EEGM2,
    EEGM2Light,
    EEGM2Net,
    MambaBlock,
)

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4)


@pytest.mark.parametrize("cls", [EEGM2, EEGM2Light])
def test_checkpointing_gives_the_same_gradients(cls):
    torch.manual_seed(0)
    plain = cls(n_chans=3, **TINY).double()
    ckpt = cls(n_chans=3, checkpointing=True, **TINY).double()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 40, dtype=torch.float64)
    for model in (plain, ckpt):
        model(x).square().mean().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-12, rtol=1e-10, msg=name)


def test_checkpointing_acts_only_when_training_with_grad(monkeypatch):
    import torch.utils.checkpoint as ckpt_mod

    from eegm2_sklearn.models import blocks as eegm2_mod

    calls = []
    real = ckpt_mod.checkpoint

    def spy(*args, **kwargs):
        calls.append(kwargs.get("use_reentrant"))
        return real(*args, **kwargs)

    monkeypatch.setattr(eegm2_mod, "checkpoint", spy)
    model = EEGM2(n_chans=3, checkpointing=True, **TINY)
    x = torch.randn(2, 3, 32)
    model.eval()
    model(x)
    with torch.no_grad():
        model.train()(x)
    assert calls == []
    model.train()(x).sum().backward()
    assert calls == [False] * 4  # the four Mamba blocks, non-reentrant


def test_checkpointing_setter_and_net_keyword():
    model = EEGM2(n_chans=3, **TINY)
    assert model.checkpointing is False
    model.checkpointing = True
    blocks = [m for m in model.modules() if isinstance(m, MambaBlock)]
    assert len(blocks) == 4 and all(b.checkpointing for b in blocks)
    net = EEGM2Net(n_chans=3, n_outputs=2, n_times=64, checkpointing=True, **TINY)
    assert net.backbone.checkpointing is True
    assert net(torch.randn(2, 3, 64)).shape == (2, 2)
    # the option changes no parameter
    assert set(EEGM2(n_chans=3, checkpointing=True, **TINY).state_dict()) == set(
        EEGM2(n_chans=3, **TINY).state_dict()
    )


def test_checkpointing_in_batch_slices_gives_the_same_gradients(monkeypatch):
    from eegm2_sklearn.models import blocks as eegm2_mod

    monkeypatch.setattr(eegm2_mod, "CHECKPOINT_POSITIONS", 100)  # 40-step windows: 2 a slice
    torch.manual_seed(0)
    plain = EEGM2(n_chans=3, **TINY).double()
    sliced = EEGM2(n_chans=3, checkpointing=True, **TINY).double()
    sliced.load_state_dict(plain.state_dict())
    x = torch.randn(5, 3, 40, dtype=torch.float64)
    outs = [m(x) for m in (plain, sliced)]
    torch.testing.assert_close(outs[1], outs[0])
    for out in outs:
        out.square().mean().backward()
    for p, q in zip(plain.parameters(), sliced.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-12, rtol=1e-10)


def saved_bytes(model, x) -> int:
    """Bytes of the tensors autograd keeps for the backward pass (each storage once)."""
    kept: dict[int, int] = {}

    def pack(t):
        kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    out.square().mean().backward()
    return sum(kept.values())


@pytest.mark.parametrize("cls", [EEGM2, EEGM2Light])
def test_light_checkpointing_same_gradients_less_kept_scan_once(cls, monkeypatch):
    from eegm2_sklearn.models import mamba2

    scans = []
    real_scan = mamba2.ssd_scan
    monkeypatch.setattr(mamba2, "ssd_scan", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    torch.manual_seed(0)
    kept, grads, n_scans = {}, {}, {}
    x = torch.randn(2, 3, 64, dtype=torch.float64)
    for mode in (False, True, "light"):
        torch.manual_seed(0)
        model = cls(n_chans=3, checkpointing=mode, **TINY).double().train()
        scans.clear()
        kept[mode] = saved_bytes(model, x)
        n_scans[mode] = len(scans)
        grads[mode] = [p.grad for p in model.parameters()]
    for g_light, g_plain in zip(grads["light"], grads[False], strict=True):
        torch.testing.assert_close(g_light, g_plain, atol=1e-12, rtol=1e-10)
    n_layers = sum(isinstance(m, MambaBlock) for m in model.modules())
    assert n_scans == {False: n_layers, True: 2 * n_layers, "light": n_layers}
    # measured on these tiny float64 networks: light keeps 0.70 (EEGM2) and 0.73 (Light) of
    # the plain network's bytes, whole-block checkpointing 0.21 and 0.25
    assert kept[True] < kept["light"] < 0.8 * kept[False]


def test_light_checkpointing_setter_and_estimator_values():
    from eegm2_sklearn import EEGM2Pretrainer
    from eegm2_sklearn.models import Mamba2

    model = EEGM2(n_chans=3, **TINY)
    model.checkpointing = "light"
    assert all(m.recompute_cheap for m in model.modules() if isinstance(m, Mamba2))
    assert not any(m.checkpointing for m in model.modules() if isinstance(m, MambaBlock))
    model.checkpointing = True
    assert not any(m.recompute_cheap for m in model.modules() if isinstance(m, Mamba2))
    with pytest.raises(ValueError, match="False, True or 'light'; got 'heavy'"):
        model.checkpointing = "heavy"
    X = torch.randn(8, 3, 64).numpy() * 1e-5
    est = EEGM2Pretrainer(checkpointing="light", max_epochs=1, verbose=0, **TINY).fit(X)
    assert est.module_.checkpointing == "light"
    with pytest.raises(ValueError, match="checkpointing.*'light'"):
        EEGM2Pretrainer(checkpointing="heavy", max_epochs=1, verbose=0, **TINY).fit(X)
