"""The pure-PyTorch SSD scan against a step-by-step recurrence written here."""

import math

import pytest
import torch
import torch.nn.functional as F

from eegm2_sklearn.ops import resolve_backend, ssd_chunked_torch, ssd_scan, torch_chunk_size


def recurrence(x, dt, A, B, C, D=None, z=None, dt_bias=None, initial_state=None):
    """Mamba-2 recurrence, one time step after another, float64 (independent of the package)."""
    b, l, h, p = x.shape
    g, n = B.shape[-2:]
    dt = F.softplus(dt + dt_bias) if dt_bias is not None else dt
    state = torch.zeros(b, h, p, n, dtype=x.dtype) if initial_state is None else initial_state
    out = torch.empty_like(x)
    for t in range(l):
        for head in range(h):
            grp = head // (h // g)
            decay = torch.exp(dt[:, t, head] * A[head])  # (b,)
            inp = dt[:, t, head, None, None] * x[:, t, head, :, None] * B[:, t, grp, None, :]
            state[:, head] = decay[:, None, None] * state[:, head] + inp
            y = (state[:, head] * C[:, t, grp, None, :]).sum(-1)
            if D is not None:
                y = y + D[head] * x[:, t, head]
            out[:, t, head] = y
    if z is not None:
        out = out * z * torch.sigmoid(z)
    return out, state


def random_inputs(b=2, l=45, h=4, p=3, g=1, n=5, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=gen, dtype=dtype)

    return dict(
        x=r(b, l, h, p),
        dt=r(b, l, h),
        A=-torch.rand(h, generator=gen, dtype=dtype) * 4,
        B=r(b, l, g, n),
        C=r(b, l, g, n),
        D=r(h),
        z=r(b, l, h, p),
        dt_bias=r(h),
        initial_state=r(b, h, p, n),
    )


@pytest.mark.parametrize("ngroups", [1, 2])
@pytest.mark.parametrize("length,chunk", [(45, 16), (16, 16), (1, 8), (70, 32), (13, 64)])
@pytest.mark.parametrize("with_init", [False, True])
def test_chunked_equals_recurrence(ngroups, length, chunk, with_init):
    inp = random_inputs(l=length, g=ngroups)
    init = inp.pop("initial_state") if with_init else None
    inp.pop("initial_state", None)
    y_ref, s_ref = recurrence(**inp, initial_state=None if init is None else init.clone())
    y, s = ssd_chunked_torch(
        inp["x"],
        inp["dt"],
        inp["A"],
        inp["B"],
        inp["C"],
        chunk,
        D=inp["D"],
        z=inp["z"],
        dt_bias=inp["dt_bias"],
        dt_softplus=True,
        initial_states=init,
        return_final_states=True,
    )
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)


def test_chunk_size_does_not_change_result():
    inp = random_inputs(l=200, h=2, g=1)
    args = (inp["x"], inp["dt"].abs() * 0.1, inp["A"], inp["B"], inp["C"])
    ys = [ssd_chunked_torch(*args, c, D=inp["D"]) for c in (8, 64, 256)]
    for y in ys[1:]:
        torch.testing.assert_close(y, ys[0], atol=1e-10, rtol=1e-10)


def test_final_state_streams_across_calls():
    """Scanning two halves with the carried state equals scanning the whole sequence."""
    inp = random_inputs(l=50, g=2)
    kw = dict(D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True)
    full = ssd_chunked_torch(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 16, **kw)
    y1, s1 = ssd_chunked_torch(
        inp["x"][:, :23],
        inp["dt"][:, :23],
        inp["A"],
        inp["B"][:, :23],
        inp["C"][:, :23],
        16,
        return_final_states=True,
        **kw,
    )
    y2 = ssd_chunked_torch(
        inp["x"][:, 23:],
        inp["dt"][:, 23:],
        inp["A"],
        inp["B"][:, 23:],
        inp["C"][:, 23:],
        16,
        initial_states=s1,
        **kw,
    )
    torch.testing.assert_close(torch.cat([y1, y2], 1), full, atol=1e-10, rtol=1e-10)


def test_dt_limit_clamps_step_sizes():
    inp = random_inputs(l=20)
    kw = dict(D=None, dt_softplus=True)
    clamped = ssd_chunked_torch(
        inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 8, dt_limit=(0.2, 0.5), **kw
    )
    manual_dt = F.softplus(inp["dt"]).clamp(0.2, 0.5)
    ref = ssd_chunked_torch(inp["x"], manual_dt, inp["A"], inp["B"], inp["C"], 8)
    torch.testing.assert_close(clamped, ref)


def test_gradcheck_float64():
    inp = random_inputs(b=1, l=11, h=2, p=2, g=1, n=3)
    names = ["x", "dt", "A", "B", "C", "D", "dt_bias", "initial_state"]
    tensors = [inp[k].clone().requires_grad_(True) for k in names]

    def f(x, dt, A, B, C, D, dt_bias, init):
        y, s = ssd_chunked_torch(
            x,
            dt,
            A,
            B,
            C,
            4,
            D=D,
            dt_bias=dt_bias,
            dt_softplus=True,
            initial_states=init,
            return_final_states=True,
        )
        return y, s

    assert torch.autograd.gradcheck(f, tensors, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_inputs_accumulate_in_float32(dtype):
    inp = random_inputs(l=64, h=2, dtype=torch.float64)
    args64 = (inp["x"], inp["dt"].abs() * 0.1, inp["A"], inp["B"], inp["C"])
    ref = ssd_chunked_torch(*args64, 16, D=inp["D"])
    y = ssd_chunked_torch(*(a.to(dtype) for a in args64), 16, D=inp["D"].to(dtype))
    assert y.dtype == dtype
    err = ((y.double() - ref).abs().max() / ref.abs().max()).item()
    # measured: 7.3e-8 (float32) and 3.9e-3 (bfloat16)
    assert err < {torch.float32: 3e-7, torch.bfloat16: 2e-2}[dtype]
    # the error is that of rounding the inputs and the output to `dtype` (the scan of the
    # rounded inputs in float64, rounded), not of accumulation: measured 1.09x and 1.00x it
    rounded = [a.to(dtype).double() for a in args64]
    only_rounding = ssd_chunked_torch(*rounded, 16, D=inp["D"].to(dtype).double()).to(dtype)
    assert err <= 3 * ((only_rounding.double() - ref).abs().max() / ref.abs().max()).item()


def test_backend_dispatch_on_cpu():
    assert resolve_backend("auto", "cpu") == "torch"
    assert resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(
        ValueError, match="`backend`: expected one of 'auto', 'torch' or 'mamba_ssm'"
    ):
        resolve_backend("triton", "cpu")
    with pytest.raises(ValueError, match="mamba_ssm"):
        resolve_backend("mamba_ssm", "cpu")
    inp = random_inputs(l=30, dtype=torch.float32)
    y = ssd_scan(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], D=inp["D"], backend="auto")
    ref = ssd_chunked_torch(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 64, D=inp["D"])
    torch.testing.assert_close(y, ref)


def test_torch_chunk_size_per_device():
    assert torch_chunk_size("cpu") == 64
    assert torch_chunk_size("cuda") == 128
    assert torch_chunk_size("cpu", 32) == 32


def test_long_decay_is_numerically_stable():
    """Many chunks of strong decay: no NaN/inf, the state forgets as the recurrence says."""
    b, l, h, p, n = 1, 4096, 1, 2, 2
    x = torch.ones(b, l, h, p)
    dt = torch.full((b, l, h), 1.0)
    A = torch.tensor([-8.0])
    B = torch.ones(b, l, 1, n)
    C = torch.ones(b, l, 1, n)
    y = ssd_chunked_torch(x, dt, A, B, C, 64)
    assert torch.isfinite(y).all()
    # steady state of s = e^-8 s + 1 is 1 / (1 - e^-8); y = n * s
    torch.testing.assert_close(y[0, -1, 0], torch.full((p,), n / (1 - math.exp(-8.0))))


def _scan_with(inp, chunk, method, init=None):
    return ssd_chunked_torch(
        inp["x"],
        inp["dt"],
        inp["A"],
        inp["B"],
        inp["C"],
        chunk,
        D=inp["D"],
        z=inp["z"],
        dt_bias=inp["dt_bias"],
        dt_softplus=True,
        initial_states=init,
        return_final_states=True,
        method=method,
    )


@pytest.mark.parametrize("method", ["factored", "quadratic"])
@pytest.mark.parametrize("length,chunk,ngroups", [(45, 16, 1), (300, 8, 2), (1000, 8, 1)])
def test_both_methods_equal_recurrence(method, length, chunk, ngroups):
    """300 / 8 and 1000 / 8 exceed STATE_BLOCK chunks: the blockwise state passing runs."""
    inp = random_inputs(l=length, g=ngroups)
    inp["dt"] = inp["dt"] * 0.3  # decays the factored form can take at these chunk sizes
    init = inp.pop("initial_state")
    y_ref, s_ref = recurrence(**inp, initial_state=init.clone())
    y, s = _scan_with(inp, chunk, method, init)
    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)


def test_blockwise_state_passing_equals_direct():
    from eegm2_sklearn.ops.state_passing import pass_states, pass_states_direct

    gen = torch.Generator().manual_seed(1)
    states = torch.randn(2, 3, 150, 5, generator=gen, dtype=torch.float64)
    log_decay = -torch.rand(2, 3, 150, generator=gen, dtype=torch.float64) * 3
    init = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
    direct = pass_states_direct(states, log_decay, init)
    for block in (4, 7, 64):
        blocked = pass_states(states, log_decay, init, block=block)
        torch.testing.assert_close(blocked, direct, atol=1e-12, rtol=1e-12)


def test_factored_halves_chunk_then_falls_back():
    """Strong decays: smaller chunks for the factored form, the quadratic form beyond."""
    from eegm2_sklearn.ops.ssd_torch import FACTORED_MAX_LOG_RANGE, _factored_chunk

    limit = FACTORED_MAX_LOG_RANGE[torch.float64]
    per_step = torch.full((1, 256, 2), -limit / 20)  # a chunk of 20 steps is at the limit
    assert _factored_chunk(per_step.double(), 64, torch.float64) == 16
    assert _factored_chunk(-per_step.double() * 0 - limit, 64, torch.float64) is None

    inp = random_inputs(l=64, h=2)
    inp["A"] = torch.full((2,), -1e4, dtype=torch.float64)  # exp(dt A) underflows
    inp.pop("initial_state")
    y_ref, s_ref = recurrence(**inp)
    y, s = _scan_with(inp, 16, "auto")
    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=1e-10)
    with pytest.raises(ValueError, match="method='auto'"):
        _scan_with(inp, 16, "factored")
    with pytest.raises(ValueError, match="Invalid value for `method`"):
        _scan_with(inp, 16, "fast")


@pytest.mark.parametrize("method", ["factored", "quadratic"])
def test_gradcheck_both_methods_two_groups(method):
    inp = random_inputs(b=1, l=13, h=4, p=2, g=2, n=3)
    names = ["x", "dt", "B", "C", "D", "dt_bias", "initial_state"]
    tensors = [inp[k].clone().requires_grad_(True) for k in names]

    def f(x, dt, B, C, D, dt_bias, init):
        return ssd_chunked_torch(
            x,
            dt,
            inp["A"],
            B,
            C,
            4,
            D=D,
            dt_bias=dt_bias,
            dt_softplus=True,
            initial_states=init,
            return_final_states=True,
            method=method,
        )

    assert torch.autograd.gradcheck(f, tensors, eps=1e-6, atol=1e-6)


def test_bfloat16_products_stay_close_to_float32():
    inp = random_inputs(b=2, l=200, h=4, p=16, n=8, dtype=torch.float32)
    args = (inp["x"], inp["dt"].abs() * 0.1, inp["A"], inp["B"], inp["C"])
    ref = ssd_chunked_torch(*args, 64, D=inp["D"])
    y = ssd_chunked_torch(*(a.bfloat16() for a in args), 64, D=inp["D"])
    assert y.dtype == torch.bfloat16
    # measured: 6.8e-3 (4.4e-3 to 7.5e-3 over five seeds of the inputs)
    assert ((y.float() - ref).abs().max() / ref.abs().max()).item() < 3e-2


def test_scan_traces_in_one_graph_under_torch_compile():
    """Under torch.compile the scan has no host synchronisation (the factored form's range
    check would break the graph, and fullgraph=True would raise): it takes the quadratic
    form there, with the same result as the eager scan."""
    inp = random_inputs(l=70, g=2, dtype=torch.float32)
    args = (inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 16)
    kwargs = dict(D=inp["D"], z=inp["z"], dt_bias=inp["dt_bias"], dt_softplus=True)
    torch._dynamo.reset()
    compiled = torch.compile(ssd_chunked_torch, backend="eager", fullgraph=True)
    out = compiled(*args, **kwargs)
    eager = ssd_chunked_torch(*args, **kwargs)
    quadratic = ssd_chunked_torch(*args, **kwargs, method="quadratic")
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, quadratic, rtol=0, atol=0)
    with pytest.raises(Exception, match="method='factored' checks its chunks"):
        torch.compile(ssd_chunked_torch, backend="eager", fullgraph=True)(
            *args, **kwargs, method="factored"
        )
    torch._dynamo.reset()
