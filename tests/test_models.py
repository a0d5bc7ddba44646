"""Mamba-2 mixer, EEGM2 networks, heads and the loss."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eegm2_sklearn.losses import TemporalSpectralLoss
from eegm2_sklearn.models import (
    EEGM2,
    STATISTICS,
    AttentionBlock,
    EEGM2Attention,
    EEGM2Light,
    EEGM2Net,
    Mamba2,
    bottleneck_statistics,
    load_backbone_weights,
)

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4)


def sequential_mamba2(layer: Mamba2, u: torch.Tensor) -> torch.Tensor:
    """Mamba-2 forward pass step by step from the layer's own parameters."""
    b, length, _ = u.shape
    di, n, g, h, p = layer.d_inner, layer.d_state, layer.ngroups, layer.nheads, layer.headdim
    zxbcdt = u @ layer.in_proj.weight.T
    z, xBC, dt = zxbcdt[..., :di], zxbcdt[..., di : 2 * di + 2 * g * n], zxbcdt[..., -h:]
    k = layer.d_conv
    w = layer.conv1d.weight[:, 0]  # (conv_dim, k)
    conv = torch.zeros_like(xBC)
    for t in range(length):
        for j in range(k):  # causal: output t sees inputs t-k+1 .. t
            src = t - (k - 1) + j
            if src >= 0:
                conv[:, t] += w[:, j] * xBC[:, src]
    xBC = F.silu(conv + layer.conv1d.bias)
    x, Bm, Cm = xBC[..., :di], xBC[..., di : di + g * n], xBC[..., di + g * n :]
    x = x.reshape(b, length, h, p)
    Bm, Cm = Bm.reshape(b, length, g, n), Cm.reshape(b, length, g, n)
    dt = F.softplus(dt + layer.dt_bias)
    A = -torch.exp(layer.A_log)
    state = torch.zeros(b, h, p, n, dtype=u.dtype)
    ys = []
    for t in range(length):
        grp = torch.arange(h) // (h // g)
        state = torch.exp(dt[:, t] * A)[..., None, None] * state + (
            dt[:, t, :, None, None] * x[:, t, :, :, None] * Bm[:, t, grp, None, :]
        )
        ys.append((state * Cm[:, t, grp, None, :]).sum(-1) + layer.D[:, None] * x[:, t])
    y = torch.stack(ys, 1).reshape(b, length, di)
    y = y * F.silu(z)
    yg = y.reshape(b, length, g, di // g)
    yg = yg / torch.sqrt(yg.pow(2).mean(-1, keepdim=True) + 1e-5)
    y = yg.reshape(b, length, di) * layer.norm.weight
    return y @ layer.out_proj.weight.T


@pytest.mark.parametrize("ngroups,d_conv,length", [(1, 2, 37), (2, 4, 70)])
def test_mixer_equals_sequential_forward(ngroups, d_conv, length):
    torch.manual_seed(0)
    layer = Mamba2(
        d_model=16,
        d_state=4,
        d_conv=d_conv,
        expand=2,
        headdim=8,
        ngroups=ngroups,
        torch_chunk=16,
    ).double()
    u = torch.randn(2, length, 16, dtype=torch.float64)
    torch.testing.assert_close(layer(u), sequential_mamba2(layer, u), atol=1e-10, rtol=1e-9)


def test_mixer_state_dict_matches_mamba_ssm_layout():
    """DESIGN 3.9: names and shapes of mamba_ssm.Mamba2(64, 16, 2, 8)."""
    expected = {
        "A_log": (8,),
        "D": (8,),
        "conv1d.bias": (544,),
        "conv1d.weight": (544, 1, 2),
        "dt_bias": (8,),
        "in_proj.weight": (1064, 64),
        "norm.weight": (512,),
        "out_proj.weight": (64, 512),
    }
    sd = Mamba2(d_model=64, d_state=16, d_conv=2, expand=8).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected


def test_mixer_initialisation_follows_mamba_ssm():
    torch.manual_seed(0)
    layer = Mamba2(d_model=64, d_state=16, d_conv=2, expand=8)
    A = torch.exp(layer.A_log)
    assert ((A >= 1) & (A <= 16)).all()
    dt = F.softplus(layer.dt_bias)
    assert ((dt >= 1e-3 - 1e-7) & (dt <= 0.1 + 1e-7)).all()
    assert torch.equal(layer.D, torch.ones(8))
    assert torch.equal(layer.norm.weight, torch.ones(512))
    assert all(
        getattr(getattr(layer, k), "_no_weight_decay", False) for k in ("A_log", "D", "dt_bias")
    )


def test_mixer_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible by headdim"):
        Mamba2(d_model=10, expand=2, headdim=64)
    with pytest.raises(ValueError, match="ngroups"):
        Mamba2(d_model=64, expand=2, headdim=64, ngroups=3)


@pytest.mark.parametrize(
    "cls,n_chans,expected",
    [
        (EEGM2, 16, 4_565_144),
        (EEGM2, 14, 4_563_606),
        (EEGM2Light, 16, 254_392),
    ],
)
def test_parameter_counts_match_paper(cls, n_chans, expected):
    model = cls(n_chans=n_chans, n_times=1280)
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("n_times", [8, 9, 15, 64, 101, 257])
def test_any_length_from_8(n_times):
    torch.manual_seed(0)
    model = EEGM2(n_chans=3, **TINY)
    x = torch.randn(2, 3, n_times)
    assert model(x).shape == x.shape
    assert model.encode(x).shape == (2, 32, n_times // 8)
    assert EEGM2Light(n_chans=3, **TINY)(x).shape == (2, 32, n_times // 8)


def test_too_short_and_wrong_channels_raise():
    model = EEGM2(n_chans=3, **TINY)
    with pytest.raises(ValueError, match="7 samples; EEGM2 needs at least 8"):
        model(torch.randn(1, 3, 7))
    with pytest.raises(ValueError, match=r"\(batch, 3, n_times\)"):
        model(torch.randn(1, 4, 64))
    with pytest.raises(ValueError, match="n_chans"):
        EEGM2()


def test_chs_info_sets_n_chans():
    chs = [{"ch_name": f"E{i}"} for i in range(5)]
    assert EEGM2(chs_info=chs, **TINY).n_chans == 5


def test_backward_reaches_every_parameter():
    torch.manual_seed(0)
    model = EEGM2(n_chans=3, **TINY)
    x = torch.randn(2, 3, 40)
    TemporalSpectralLoss()(model(x), x).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert no_grad == []


def test_backend_setter_reaches_all_layers():
    model = EEGM2(n_chans=3, **TINY)
    model.backend = "torch"
    layers = [m for m in model.modules() if isinstance(m, Mamba2)]
    assert len(layers) == 4 and all(m.backend == "torch" for m in layers)


def test_light_shares_weights_with_full():
    torch.manual_seed(0)
    full = EEGM2(n_chans=3, **TINY)
    light = EEGM2Light(n_chans=3, **TINY)
    load_backbone_weights(light, full.state_dict())
    x = torch.randn(2, 3, 48)
    pooled, _ = full.encoder.encode_with_skips(x)
    torch.testing.assert_close(light(x), pooled)


def test_weight_mismatch_names_the_channels():
    full = EEGM2(n_chans=4, **TINY)
    with pytest.raises(ValueError, match="another number of channels"):
        load_backbone_weights(EEGM2(n_chans=3, **TINY), full.state_dict())
    with pytest.raises(ValueError, match="missing"):
        load_backbone_weights(EEGM2(n_chans=4, **TINY), EEGM2Light(n_chans=4, **TINY).state_dict())


def test_bottleneck_statistics_values():
    z = torch.arange(2 * 3 * 21, dtype=torch.float32).reshape(2, 3, 21)
    stats = bottleneck_statistics(z).reshape(2, len(STATISTICS), 3).numpy()
    zn = z.numpy()
    expected = np.stack(
        [
            zn.min(-1),
            zn.max(-1),
            zn.mean(-1),
            zn.std(-1),
            *np.quantile(zn, [0.05, 0.25, 0.5, 0.75, 0.95], axis=-1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(stats, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "head,variant,n_in",
    [
        ("flatten", "full", 3 * 64),
        ("flatten", "light", 32 * 8),
        ("pool", "full", 9 * 32),
        ("pool", "light", 9 * 32),
    ],
)
def test_heads(head, variant, n_in):
    net = EEGM2Net(n_chans=3, n_outputs=4, n_times=64, head=head, variant=variant, **TINY)
    assert net.head[1].in_features == n_in
    assert net(torch.randn(5, 3, 64)).shape == (5, 4)


def test_pool_head_takes_other_lengths_flatten_does_not():
    pool = EEGM2Net(n_chans=3, n_outputs=2, n_times=64, head="pool", **TINY)
    assert pool(torch.randn(2, 3, 100)).shape == (2, 2)
    flat = EEGM2Net(n_chans=3, n_outputs=2, n_times=64, head="flatten", **TINY)
    with pytest.raises(ValueError, match="head='pool'"):
        flat(torch.randn(2, 3, 100))
    with pytest.raises(ValueError, match="needs n_times"):
        EEGM2Net(n_chans=3, n_outputs=2, head="flatten")
    with pytest.raises(
        ValueError, match="Invalid value for `head`: expected one of 'flatten' or 'pool'"
    ):
        EEGM2Net(n_chans=3, n_outputs=2, n_times=64, head="linear")


def test_loss_matches_formula():
    torch.manual_seed(0)
    x_hat, x = (
        torch.randn(3, 4, 50, dtype=torch.float64),
        torch.randn(3, 4, 50, dtype=torch.float64),
    )
    a, b = 0.7, 0.3
    xh, xn = x_hat.numpy(), x.numpy()
    expected = (
        a * np.abs(xh - xn).mean()
        + b * (np.abs(np.fft.rfft(xh, axis=-1) - np.fft.rfft(xn, axis=-1)) ** 2).mean()
    )
    got = TemporalSpectralLoss(alpha=a, beta=b)(x_hat, x)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # phase counts: a time shift keeps |rfft| but changes the spectral term
    shifted = torch.roll(x, 5, dims=-1)
    assert TemporalSpectralLoss(alpha=0, beta=1)(shifted, x) > 0
    with pytest.raises(ValueError, match="same shape"):
        TemporalSpectralLoss()(x_hat[:, :2], x)


def test_braindecode_eegclassifier_trains_eegm2net():
    from braindecode import EEGClassifier

    rng = np.random.default_rng(0)
    n, c, t = 40, 3, 64
    y = rng.integers(0, 2, n)
    X = rng.standard_normal((n, c, t)).astype("float32")
    X[y == 1, 0] += np.sin(np.linspace(0, 8 * np.pi, t)).astype("float32") * 2
    torch.manual_seed(0)
    clf = EEGClassifier(
        EEGM2Net,
        module__n_chans=c,
        module__n_outputs=2,
        module__n_times=t,
        module__head="pool",
        module__base_width=8,
        module__expand=2,
        module__headdim=8,
        module__d_state=4,
        max_epochs=15,
        lr=3e-3,
        batch_size=10,
        train_split=None,
        optimizer=torch.optim.AdamW,
        verbose=0,
    )
    clf.fit(X, y)
    losses = clf.history[:, "train_loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert clf.score(X, y) > 0.8


def test_attention_variant_shares_the_unet():
    torch.manual_seed(0)
    attn = EEGM2Attention(n_chans=3, base_width=8)
    mamba = EEGM2(n_chans=3, **TINY)
    x = torch.randn(2, 3, 57)
    assert attn(x).shape == x.shape
    assert attn.encode(x).shape == (2, 32, 7)
    blocks = [m for m in attn.modules() if isinstance(m, AttentionBlock)]
    assert len(blocks) == 4 and all(b.n_heads == 4 for b in blocks)
    # every layer outside the mixing blocks has the same name and shape as in EEGM2
    shared = {k: v.shape for k, v in mamba.state_dict().items() if ".mamba." not in k}
    shared = {k: v for k, v in shared.items() if not k.endswith(("1.norm.weight", "1.norm.bias"))}
    attn_sd = attn.state_dict()
    assert all(attn_sd[k].shape == s for k, s in shared.items())
    with pytest.raises(ValueError, match="divisible by n_heads"):
        EEGM2Attention(n_chans=3, base_width=6, n_heads=4)


def test_attention_block_matches_multihead_attention():
    """Same maths as torch's reference MultiheadAttention with copied weights."""
    torch.manual_seed(0)
    block = AttentionBlock(16, n_heads=4).double()
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(block.qkv.weight)
        mha.in_proj_bias.copy_(block.qkv.bias)
        mha.out_proj.weight.copy_(block.out_proj.weight)
        mha.out_proj.bias.copy_(block.out_proj.bias)
    x = torch.randn(2, 30, 16, dtype=torch.float64)
    expected = block.norm(mha(x, x, x, need_weights=False)[0]) + x
    torch.testing.assert_close(block(x), expected)
    # checkpointed attention gives the same gradients
    block.checkpointing = True
    x.requires_grad_(True)
    block(x).sum().backward()
    g1 = x.grad.clone()
    x.grad = None
    block.checkpointing = False
    block(x).sum().backward()
    torch.testing.assert_close(x.grad, g1)


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("length", [1, 3, 50])
def test_causal_depthwise_conv_equals_conv1d(k, length):
    from eegm2_sklearn.models.mamba2 import causal_depthwise_conv

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 6, k, groups=6, padding=k - 1).double()
    x = torch.randn(2, length, 6, dtype=torch.float64)
    expected = conv(x.transpose(1, 2))[..., :length].transpose(1, 2)
    torch.testing.assert_close(causal_depthwise_conv(x, conv.weight, conv.bias), expected)
    torch.testing.assert_close(
        causal_depthwise_conv(x, conv.weight, None), expected - conv.bias.detach()
    )


@pytest.mark.parametrize("cls", [EEGM2, EEGM2Light, EEGM2Attention])
def test_inference_mode_prediction_equals_training_forward(cls):
    torch.manual_seed(0)
    kw = dict(base_width=8) if cls is EEGM2Attention else TINY
    model = cls(n_chans=3, checkpointing=True, **kw).eval()
    x = torch.randn(2, 3, 77)
    with torch.inference_mode():
        pred = model(x)
    assert not pred.requires_grad
    torch.testing.assert_close(pred, model(x).detach())


def test_mixer_keeps_bfloat16_activations_under_autocast(monkeypatch):
    """Under bf16 autocast the convolution and scan inputs stay bf16, as with nn.Conv1d."""
    import eegm2_sklearn.models.mamba2 as mamba2_mod

    seen = {}
    real = mamba2_mod.ssd_scan

    def spy(x, *args, **kwargs):
        seen["x"] = x.dtype
        return real(x, *args, **kwargs)

    monkeypatch.setattr(mamba2_mod, "ssd_scan", spy)
    layer = Mamba2(d_model=16, d_state=4, expand=2, headdim=8)
    u = torch.randn(2, 40, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(u)
    assert seen["x"] == torch.bfloat16
    assert out.dtype == torch.bfloat16
    ref = layer(u)
    assert ((out.float() - ref).abs().max() / ref.abs().max()).item() < 5e-2


def test_bottleneck_quantiles_equal_torch_quantile():
    """The quantiles, worked out from sorted values without a tensor of quantiles on the
    device, are torch.quantile's (linear interpolation) at every length."""
    from eegm2_sklearn.models.features import _QUANTILES

    for n_steps in (1, 2, 7, 64, 160):
        z = torch.randn(3, 5, n_steps, generator=torch.Generator().manual_seed(n_steps))
        stats = bottleneck_statistics(z).reshape(3, len(STATISTICS), 5)
        expected = torch.quantile(z, torch.tensor(_QUANTILES), dim=-1).permute(1, 0, 2)
        torch.testing.assert_close(stats[:, 4:], expected, rtol=0, atol=3e-6)
        torch.testing.assert_close(stats[:, 0], z.amin(-1), rtol=0, atol=0)
        torch.testing.assert_close(stats[:, 1], z.amax(-1), rtol=0, atol=0)
