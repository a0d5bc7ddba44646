"""Classification heads on the EEGM2 backbones: :class:`EEGM2Net` and its pooling.

The constructor arguments carry braindecode's names (``n_chans``, ``n_outputs``,
``n_times``, ``sfreq``, ``chs_info``) but not its order: pass them by keyword.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..validation import check_option
from .eegm2 import EEGM2, EEGM2Light
from .features import STATISTICS, bottleneck_statistics

HEADS = ("flatten", "pool")
VARIANTS = ("full", "light")


class StatisticsPooling(nn.Module):
    """:func:`~eegm2_sklearn.models.bottleneck_statistics` as a module."""

    def forward(self, z: Tensor) -> Tensor:
        return bottleneck_statistics(z)


class EEGM2Net(nn.Module):
    """EEGM2 backbone plus a classification head: ``(batch, n_chans, n_times) -> logits``.

    Heads (``hidden`` units, ReLU, then ``n_outputs``):

    - ``head="flatten"`` (the paper's EEGM2 Fine): the backbone's output flattened, i.e. the
      reconstruction ``(n_chans * n_times)`` for ``variant="full"`` and the pooled encoder
      output ``(4w * (n_times // 8))`` for ``variant="light"``. Needs ``n_times``; windows
      must keep that length.
    - ``head="pool"``: the nine time statistics of each bottleneck channel
      (:func:`~eegm2_sklearn.models.bottleneck_statistics`, ``9 * 4w`` features), so any
      window length works. With ``variant="light"`` this is the paper's EEGM2 Light.

    Parameters
    ----------
    n_chans : int
    n_outputs : int
        Number of classes.
    n_times : int, optional
        Window length; required by ``head="flatten"``.
    sfreq : float, optional
    chs_info : list of dict, optional
    head : {"flatten", "pool"}
    variant : {"full", "light"}
    hidden : int
        Width of the head's hidden layer (paper: 128).
    **backbone_kwargs
        Passed to :class:`EEGM2` / :class:`EEGM2Light` (``base_width``, ``d_state``, ...).

    Examples
    --------
    >>> import torch
    >>> from eegm2_sklearn.models import EEGM2Net
    >>> net = EEGM2Net(n_chans=4, n_outputs=3, n_times=64, head="flatten",
    ...                base_width=8, expand=2, headdim=8)
    >>> net(torch.randn(5, 4, 64)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int = 2,
        n_times: int | None = None,
        sfreq: float | None = None,
        chs_info: Sequence[dict] | None = None,
        *,
        head: str = "flatten",
        variant: str = "full",
        hidden: int = 128,
        **backbone_kwargs,
    ) -> None:
        super().__init__()
        check_option("head", head, HEADS)
        check_option("variant", variant, VARIANTS)
        if head == "flatten" and n_times is None:
            raise ValueError(
                "head='flatten' needs n_times (the window length); give n_times or use "
                "head='pool', which takes windows of any length."
            )
        backbone_cls = EEGM2 if variant == "full" else EEGM2Light
        self.backbone = backbone_cls(n_chans, n_times, sfreq, chs_info, **backbone_kwargs)
        self.n_chans = self.backbone.n_chans
        self.n_outputs = n_outputs
        self.n_times = n_times
        self.head_type = head
        self.variant = variant
        n_feat = self.backbone.n_features
        if head == "pool":
            n_in = len(STATISTICS) * n_feat
            pool: nn.Module = StatisticsPooling()
        elif variant == "full":
            n_in = self.n_chans * n_times
            pool = nn.Flatten()
        else:
            n_in = n_feat * (n_times // 8)
            pool = nn.Flatten()
        self.head = nn.Sequential(
            pool, nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs)
        )

    def features(self, x: Tensor) -> Tensor:
        """What the head receives before its pooling/flattening step."""
        if self.head_type == "pool":
            return self.backbone.encode(x)
        if self.n_times is not None and x.shape[-1] != self.n_times:
            raise ValueError(
                f"head='flatten' was built for windows of {self.n_times} samples; got "
                f"{x.shape[-1]}. Use windows of the training length or head='pool'."
            )
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores.

        Parameters
        ----------
        x : Tensor, shape (batch, n_chans, n_times)

        Returns
        -------
        logits : Tensor, shape (batch, n_outputs)
        """
        return self.head(self.features(x))
