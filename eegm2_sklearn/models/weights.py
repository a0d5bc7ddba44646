"""Moving EEGM2 weights between the full network, its Light variant and classifiers."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn


def load_backbone_weights(backbone: nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """Load an :class:`~eegm2_sklearn.models.EEGM2` state dict into a backbone.

    Every parameter of ``backbone`` must be present with the same shape; entries that the
    backbone lacks (the decoder, when ``backbone`` is an ``EEGM2Light``) are ignored.

    Parameters
    ----------
    backbone : EEGM2 or EEGM2Light
    state_dict : dict of str to Tensor

    Raises
    ------
    ValueError
        If parameters are missing or have other shapes; the message names them (a mismatch
        in ``encoder.embedding`` means another channel count).

    Examples
    --------
    >>> from eegm2_sklearn.models import EEGM2, EEGM2Light, load_backbone_weights
    >>> full = EEGM2(n_chans=4, base_width=8, expand=2, headdim=8)
    >>> light = EEGM2Light(n_chans=4, base_width=8, expand=2, headdim=8)
    >>> load_backbone_weights(light, full.state_dict())
    """
    own = backbone.state_dict()
    missing = sorted(k for k in own if k not in state_dict)
    wrong = sorted(
        f"{k}: expected {tuple(own[k].shape)}, got {tuple(state_dict[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    )
    if missing or wrong:
        lines = []
        if missing:
            lines.append(f"missing {len(missing)} entries, e.g. {missing[:3]}")
        if wrong:
            lines.append(f"shape mismatch in {len(wrong)} entries, e.g. {wrong[:3]}")
        hint = ""
        if any(k.startswith("encoder.embedding") for k in wrong):
            hint = (
                " The input embedding differs: the weights were trained on another number of "
                "channels. Pick the same channels (in the same order) as in pretraining."
            )
        raise ValueError(
            "The pretrained weights do not fit this EEGM2 network: "
            + "; ".join(lines)
            + "."
            + hint
            + " Check that the model sizes (base_width, d_state, expand, headdim, ...) match "
            "the pretrained ones."
        )
    backbone.load_state_dict({k: state_dict[k] for k in own}, strict=True)
