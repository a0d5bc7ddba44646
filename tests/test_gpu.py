"""GPU: the PyTorch scan against mamba-ssm's Triton kernel, and weights shared with mamba_ssm.

Run on a CUDA machine with mamba-ssm installed: ``pytest -m cuda``. Skipped elsewhere.
"""

import pytest
import torch

from eegm2_sklearn.models import EEGM2, Mamba2
from eegm2_sklearn.ops import mamba_ssm_available, resolve_backend, ssd_scan

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.usefixtures("no_tf32"),
]
needs_mamba = pytest.mark.skipif(not mamba_ssm_available(), reason="needs mamba-ssm")

# Triton's dot products round their inputs to TF32 even with PyTorch's TF32 switch off,
# so fp32 agreement is ~1e-3 relative (measured: DESIGN section 6); bf16 is looser.
TOL = {torch.float32: 5e-3, torch.bfloat16: 5e-2}


def rel_err(a, b):
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12)).item()


def test_auto_picks_mamba_ssm_on_cuda_when_installed():
    expected = "mamba_ssm" if mamba_ssm_available() else "torch"
    assert resolve_backend("auto", "cuda") == expected
    assert resolve_backend("auto", "cpu") == "torch"


@needs_mamba
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("ngroups,length", [(1, 1000), (2, 4096)])
def test_scan_backends_agree_outputs_and_gradients(dtype, ngroups, length):
    torch.manual_seed(0)
    b, h, p, n = 2, 8, 64, 16
    dev = "cuda"
    x = torch.randn(b, length, h, p, device=dev, dtype=dtype)
    dt = torch.randn(b, length, h, device=dev, dtype=dtype)
    A = -torch.rand(h, device=dev) * 8 - 1
    B = torch.randn(b, length, ngroups, n, device=dev, dtype=dtype)
    C = torch.randn(b, length, ngroups, n, device=dev, dtype=dtype)
    D = torch.randn(h, device=dev)
    dt_bias = torch.randn(h, device=dev) - 3
    init = torch.randn(b, h, p, n, device=dev)
    results = {}
    for backend in ("torch", "mamba_ssm"):
        leaves = [t.clone().requires_grad_(True) for t in (x, dt, B, C, D, dt_bias)]
        y, final = ssd_scan(
            leaves[0],
            leaves[1],
            A,
            leaves[2],
            leaves[3],
            256,
            D=leaves[4],
            dt_bias=leaves[5],
            dt_softplus=True,
            initial_states=init,
            return_final_states=True,
            backend=backend,
        )
        (y.float().square().mean() + final.float().square().mean()).backward()
        results[backend] = (y, final, [t.grad for t in leaves])
    (y_t, f_t, g_t), (y_m, f_m, g_m) = results["torch"], results["mamba_ssm"]
    assert y_t.dtype == y_m.dtype == dtype
    assert rel_err(y_t, y_m) < TOL[dtype]
    assert rel_err(f_t, f_m) < TOL[dtype]
    for name, gt, gm in zip(["x", "dt", "B", "C", "D", "dt_bias"], g_t, g_m, strict=True):
        assert rel_err(gt, gm) < 2 * TOL[dtype], name


@needs_mamba
@pytest.mark.parametrize("direction", ["theirs_to_ours", "ours_to_theirs"])
def test_state_dict_moves_between_mamba_ssm_and_ours(direction):
    from mamba_ssm import Mamba2 as TheirMamba2

    torch.manual_seed(0)
    kw = dict(d_model=64, d_state=16, d_conv=2, expand=8, headdim=64)
    theirs = TheirMamba2(**kw, use_mem_eff_path=False).cuda()
    ours = Mamba2(**kw, backend="torch").cuda()
    if direction == "theirs_to_ours":
        ours.load_state_dict(theirs.state_dict(), strict=True)
    else:
        theirs.load_state_dict(ours.state_dict(), strict=True)
    u = torch.randn(4, 1500, 64, device="cuda")
    ref = theirs(u)
    assert rel_err(ours(u), ref) < TOL[torch.float32]
    ours.backend = "mamba_ssm"
    assert rel_err(ours(u), ref) < TOL[torch.float32]


@needs_mamba
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_eegm2_backends_agree(dtype):
    torch.manual_seed(0)
    model = EEGM2(n_chans=16, backend="torch").cuda()
    x = torch.randn(4, 16, 1283, device="cuda")
    outs, grads = {}, {}
    for backend in ("torch", "mamba_ssm"):
        model.backend = backend
        model.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            out = model(x)
        out.float().square().mean().backward()
        outs[backend] = out.detach()
        grads[backend] = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert rel_err(outs["torch"], outs["mamba_ssm"]) < TOL[dtype]
    assert rel_err(grads["torch"], grads["mamba_ssm"]) < 4 * TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_torch_scan_forms_agree_on_cuda(dtype):
    """Factored and quadratic forms of the PyTorch scan, outputs and gradients, on the GPU."""
    from eegm2_sklearn.ops import ssd_chunked_torch

    torch.manual_seed(0)
    b, length, h, p, n = 2, 3000, 8, 64, 16
    dev = "cuda"
    base = dict(
        x=torch.randn(b, length, h, p, device=dev, dtype=dtype),
        dt=torch.randn(b, length, h, device=dev, dtype=dtype),
        B=torch.randn(b, length, 1, n, device=dev, dtype=dtype),
        C=torch.randn(b, length, 1, n, device=dev, dtype=dtype),
    )
    A = -torch.rand(h, device=dev) * 8 - 1
    dt_bias = torch.full((h,), -4.0, device=dev)
    results = {}
    for method in ("factored", "quadratic"):
        leaves = {k: v.clone().requires_grad_(True) for k, v in base.items()}
        y = ssd_chunked_torch(
            leaves["x"], leaves["dt"], A, leaves["B"], leaves["C"], 128,
            D=torch.ones(h, device=dev), dt_bias=dt_bias, dt_softplus=True, method=method,
        )  # fmt: skip
        y.float().square().mean().backward()
        results[method] = (y.detach(), {k: t.grad for k, t in leaves.items()})
    (y_f, g_f), (y_q, g_q) = results["factored"], results["quadratic"]
    assert y_f.dtype == dtype
    # fp32: both forms are exact up to rounding; bf16: the factored form multiplies in bf16
    tol_y, tol_g = (1e-4, 1e-3) if dtype == torch.float32 else (3e-2, 1e-1)
    assert rel_err(y_f, y_q) < tol_y
    for k in base:
        assert rel_err(g_f[k], g_q[k]) < tol_g, k


def _peak_and_grads(model, x, dtype):
    model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        out = model(x)
    out.float().square().mean().backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    return peak, torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize(
    "backend", ["torch", pytest.param("mamba_ssm", marks=needs_mamba)]
)  # fmt: skip
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_checkpointing_cuts_peak_memory_same_gradients(backend, dtype):
    torch.manual_seed(0)
    model = EEGM2(n_chans=16, backend=backend).cuda()
    x = torch.randn(8, 16, 8192, device="cuda")
    peak_plain, g_plain = _peak_and_grads(model, x, dtype)
    model.checkpointing = True
    peak_ckpt, g_ckpt = _peak_and_grads(model, x, dtype)
    assert rel_err(g_ckpt, g_plain) < (1e-4 if dtype == torch.float32 else 2e-2)
    # only one Mamba block's expand-8 activations live at a time instead of all four
    assert peak_ckpt < 0.6 * peak_plain, (peak_ckpt / 2**30, peak_plain / 2**30)


def test_attention_variant_uses_flash_kernel_in_bf16():
    """The attention ablation's layout qualifies for PyTorch's flash kernel (fast kernels on)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from eegm2_sklearn.models import EEGM2Attention

    torch.manual_seed(0)
    model = EEGM2Attention(n_chans=16).cuda()
    x = torch.randn(2, 16, 4096, device="cuda")
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION), torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x)  # raises if flash attention cannot run these inputs
    out.float().square().mean().backward()
    assert out.shape == x.shape
    assert all(p.grad is not None for p in model.parameters())
