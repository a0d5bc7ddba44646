"""Mamba-2 mixer with the parameters of ``mamba_ssm.Mamba2``.

Parameter names, shapes and initialisation follow mamba-ssm 2.x, so a state dict moves
between ``mamba_ssm.Mamba2`` and :class:`Mamba2` with ``strict=True``; the scan runs on
mamba-ssm's Triton kernel on CUDA when available, and on the pure-PyTorch SSD elsewhere.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..ops import resolve_backend, ssd_scan
from ..ops.backend import fused_gated_rmsnorm


def _upcast(t: Tensor) -> Tensor:
    """float64 stays float64; every other float dtype computes in float32."""
    return t if t.dtype == torch.float64 else t.float()


def causal_depthwise_conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Causal depthwise convolution over time in the ``(batch, length, channels)`` layout.

    Same result as ``nn.Conv1d(c, c, k, groups=c, padding=k - 1)`` on the transposed input,
    cut to the first ``length`` outputs: ``out_t = bias + sum_j weight[:, 0, k-1-j] x_{t-j}``.
    Written as ``k`` shifted multiply-adds, it needs no transposes or contiguous copies of
    the strided slice of ``in_proj``'s output, and its result is contiguous in the layout
    the scan reads (on a CPU the whole Mamba-2 layer trains about 20 % faster this way).

    Parameters
    ----------
    x : Tensor, shape (batch, length, channels)
    weight : Tensor, shape (channels, 1, k)
        ``conv1d.weight`` of the layer.
    bias : Tensor, shape (channels,), optional

    Returns
    -------
    out : Tensor, shape (batch, length, channels)
    """
    k = weight.shape[-1]
    # in the dtype of x, as nn.Conv1d under autocast (element-wise ops are not autocast)
    w = weight[:, 0].to(x.dtype)  # (c, k); w[:, -1] multiplies the current step
    if bias is not None:
        out = torch.addcmul(bias.to(x.dtype), x, w[:, -1])
    else:
        out = x * w[:, -1]
    for lag in range(1, min(k, x.shape[1] + 1)):
        shifted = F.pad(x[:, :-lag], (0, 0, lag, 0))  # x_{t - lag}, zeros before the start
        out = torch.addcmul(out, shifted, w[:, -1 - lag])
    return out


class GatedRMSNorm(nn.Module):
    """RMSNorm gated by ``silu(z)``, as ``mamba_ssm``'s ``RMSNormGated``.

    With ``norm_before_gate=False`` (Mamba-2's setting) it computes
    ``rmsnorm(x * silu(z)) * weight``, the RMS taken over groups of ``group_size`` features.

    Parameters
    ----------
    hidden_size : int
    eps : float
    group_size : int, optional
        Size of the normalised groups (default: all features).
    norm_before_gate : bool
    """

    def __init__(
        self,
        hidden_size: int,
        eps: float = 1e-5,
        group_size: int | None = None,
        norm_before_gate: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.eps = eps
        self.group_size = group_size or hidden_size
        self.norm_before_gate = norm_before_gate
        self.weight = nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype))

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        dtype = x.dtype
        x = _upcast(x)
        if z is not None and not self.norm_before_gate:
            x = x * F.silu(_upcast(z))
        shape = x.shape
        xg = x.reshape(*shape[:-1], shape[-1] // self.group_size, self.group_size)
        xg = xg * torch.rsqrt(xg.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        out = xg.reshape(shape) * _upcast(self.weight)
        if z is not None and self.norm_before_gate:
            out = out * F.silu(_upcast(z))
        return out.to(dtype)


class Mamba2(nn.Module):
    """Mamba-2 mixer (Dao and Gu, 2024): input ``(batch, length, d_model)``, same output.

    ``in_proj`` produces the gate ``z``, the scan input ``x``, ``B``, ``C`` and ``dt``; a
    causal depthwise convolution and SiLU act on ``(x, B, C)``; the selective state space
    scan (:func:`eegm2_sklearn.ops.ssd_scan`) mixes along time; a gated RMSNorm and
    ``out_proj`` close the block.

    Parameters
    ----------
    d_model : int
        Feature width of the input and output.
    d_state : int
        State size ``N`` per head.
    d_conv : int
        Kernel size of the causal depthwise convolution.
    expand : int
        Inner width is ``expand * d_model``.
    headdim : int
        Width ``P`` of a head; ``expand * d_model`` must be divisible by it.
    ngroups : int
        Number of groups sharing ``B`` and ``C``.
    chunk_size : int
        Chunk size handed to mamba-ssm's kernel.
    A_init_range : tuple of float
        ``A = -exp(A_log)`` with ``exp(A_log)`` drawn uniformly in this range.
    dt_min, dt_max, dt_init_floor : float
        Range of the initial step sizes (log-uniform), as in mamba-ssm.
    dt_limit : tuple of float
        Clamp of the step sizes in the forward pass.
    conv_init : float, optional
        If given, the convolution weights are drawn uniformly in ``(-conv_init, conv_init)``.
    bias, conv_bias : bool
        Biases of the projections and of the convolution.
    norm_before_gate : bool
        Gated RMSNorm order (Mamba-2 uses ``False``).
    backend : {"auto", "torch", "mamba_ssm"}
        Scan implementation (see :func:`eegm2_sklearn.ops.resolve_backend`). With
        ``"mamba_ssm"`` the gated RMSNorm also runs on mamba-ssm's fused Triton kernel.
    torch_chunk : int, optional
        Chunk size of the PyTorch scan (default: chosen per device).

    Attributes
    ----------
    recompute_cheap : bool
        Selective activation checkpointing (default ``False``): in training with gradients,
        the convolution + SiLU and the gated norm + ``out_proj`` are recomputed in the
        backward pass instead of stored; ``in_proj``'s output and the scan's inputs and
        output are kept, so the scan itself is never run twice.

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.models import Mamba2
    >>> layer = Mamba2(d_model=64, d_state=16, d_conv=2, expand=8)
    >>> sorted((k, tuple(v.shape)) for k, v in layer.state_dict().items())[:3]
    [('A_log', (8,)), ('D', (8,)), ('conv1d.bias', (544,))]
    >>> layer(torch.randn(2, 100, 64)).shape
    torch.Size([2, 100, 64])
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 128,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 64,
        ngroups: int = 1,
        chunk_size: int = 256,
        A_init_range: tuple[float, float] = (1.0, 16.0),
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_limit: tuple[float, float] = (0.0, math.inf),
        conv_init: float | None = None,
        bias: bool = False,
        conv_bias: bool = True,
        norm_before_gate: bool = False,
        backend: str = "auto",
        torch_chunk: int | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = expand * d_model
        self.headdim = headdim
        self.ngroups = ngroups
        if self.d_inner % headdim:
            raise ValueError(
                f"expand * d_model ({self.d_inner}) must be divisible by headdim ({headdim})."
            )
        if (self.d_inner // headdim) % ngroups:
            raise ValueError(
                f"The number of heads ({self.d_inner // headdim}) must be divisible by "
                f"ngroups ({ngroups})."
            )
        self.nheads = self.d_inner // headdim
        self.chunk_size = chunk_size
        self.dt_limit = dt_limit
        self.backend = backend
        self.torch_chunk = torch_chunk

        d_in_proj = 2 * self.d_inner + 2 * ngroups * d_state + self.nheads
        self.in_proj = nn.Linear(d_model, d_in_proj, bias=bias, **factory)
        conv_dim = self.d_inner + 2 * ngroups * d_state
        self.conv1d = nn.Conv1d(
            conv_dim,
            conv_dim,
            kernel_size=d_conv,
            groups=conv_dim,
            padding=d_conv - 1,
            bias=conv_bias,
            **factory,
        )
        if conv_init is not None:
            nn.init.uniform_(self.conv1d.weight, -conv_init, conv_init)

        # Step sizes log-uniform in [dt_min, dt_max]; dt_bias is softplus^{-1}(dt).
        dt = torch.exp(
            torch.rand(self.nheads, **factory) * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        A = torch.empty(self.nheads, dtype=torch.float32, device=device).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A).to(dtype=dtype))
        self.D = nn.Parameter(torch.ones(self.nheads, device=device))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True  # honoured by the estimators' optimiser groups

        self.norm = GatedRMSNorm(
            self.d_inner,
            eps=1e-5,
            group_size=self.d_inner // ngroups,
            norm_before_gate=norm_before_gate,
            **factory,
        )
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)

    recompute_cheap: bool = False

    def _conv_silu(self, xBC: Tensor) -> Tensor:
        # causal depthwise convolution over time (the parameters of self.conv1d), then SiLU
        return F.silu(causal_depthwise_conv(xBC, self.conv1d.weight, self.conv1d.bias))

    def _norm_out(self, y: Tensor, z: Tensor, backend: str) -> Tensor:
        # under torch.compile the plain norm, which the compiler fuses itself
        fused = backend == "mamba_ssm" and not torch.compiler.is_compiling()
        fused_norm = fused_gated_rmsnorm() if fused else None
        if fused_norm is not None:  # mamba-ssm's Triton kernel, as in its own Mamba2
            norm = self.norm
            y = fused_norm(
                y, norm.weight, None, z=z, eps=norm.eps, group_size=norm.group_size,
                norm_before_gate=norm.norm_before_gate,
            )  # fmt: skip
        else:
            y = self.norm(y, z)
        return self.out_proj(y)

    def forward(self, u: Tensor) -> Tensor:
        """Mix along time.

        Parameters
        ----------
        u : Tensor, shape (batch, length, d_model)

        Returns
        -------
        out : Tensor, shape (batch, length, d_model)
        """
        batch, length, _ = u.shape
        backend = resolve_backend(self.backend, u.device)
        zxbcdt = self.in_proj(u)  # (b, l, 2*d_inner + 2*g*n + h)
        gn = self.ngroups * self.d_state
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.d_inner + 2 * gn, self.nheads], dim=-1)
        light = self.recompute_cheap and self.training and torch.is_grad_enabled()
        if light:  # keeps only xBC (a view of in_proj's output) for the backward pass
            # no random numbers here, so no generator state is saved (see blocks.py)
            xBC = checkpoint(self._conv_silu, xBC, use_reentrant=False, preserve_rng_state=False)
        else:
            xBC = self._conv_silu(xBC)
        x, B, C = torch.split(xBC, [self.d_inner, gn, gn], dim=-1)
        y = ssd_scan(
            x.reshape(batch, length, self.nheads, self.headdim),
            dt,
            -torch.exp(_upcast(self.A_log)),
            B.reshape(batch, length, self.ngroups, self.d_state),
            C.reshape(batch, length, self.ngroups, self.d_state),
            chunk_size=self.chunk_size,
            D=self.D,
            dt_bias=self.dt_bias,
            dt_softplus=True,
            dt_limit=self.dt_limit,
            backend=backend,
            torch_chunk=self.torch_chunk,
        )
        y = y.reshape(batch, length, self.d_inner)
        if light:  # keeps y and z (both kept anyway) instead of the norm's intermediates
            return checkpoint(
                self._norm_out, y, z, backend, use_reentrant=False, preserve_rng_state=False
            )
        return self._norm_out(y, z, backend)
