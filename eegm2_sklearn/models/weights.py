"""Moving EEGM2 weights between the full network, its Light variant and classifiers."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn


def _short(items: list[str]) -> str:
    return ", ".join(items[:10]) + (f", ... ({len(items) - 10} more)" if len(items) > 10 else "")


def check_state_dict_compatible(
    expected: Mapping[str, Tensor],
    loaded: Mapping[str, Tensor],
    *,
    source: str = "The pretrained weights",
    allow_unexpected: bool = False,
) -> None:
    """Raise one ``ValueError`` listing missing, unexpected and mis-shaped tensors.

    The one check of weights against a network, before ``load_state_dict`` (whose errors
    name no setting to change).

    Parameters
    ----------
    expected : dict of str to Tensor
        The state dict of the freshly built network (e.g. ``module.state_dict()``).
    loaded : dict of str to Tensor
        The weights to load into it.
    source : str
        How the message names ``loaded`` (e.g. the folder).
    allow_unexpected : bool
        Accept tensors the network lacks (e.g. the decoder, for an ``EEGM2Light``).

    Raises
    ------
    ValueError
        The tensors that differ, what to do, and, when the input embedding differs, that
        the weights were trained on another number of channels.

    Examples
    --------
    >>> import torch
    >>> check_state_dict_compatible({"w": torch.ones(2)}, {"w": torch.zeros(2)})
    """
    missing = sorted(set(expected) - set(loaded))
    unexpected = [] if allow_unexpected else sorted(set(loaded) - set(expected))
    mismatched = [
        f"{k}: expected {tuple(expected[k].shape)}, got {tuple(loaded[k].shape)}"
        for k in sorted(set(expected) & set(loaded))
        if tuple(expected[k].shape) != tuple(loaded[k].shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        parts.append(f"missing tensors: {_short(missing)}")
    if unexpected:
        parts.append(f"unexpected tensors: {_short(unexpected)}")
    if mismatched:
        parts.append(f"shape mismatches: {_short(mismatched)}")
    hint = ""
    if any(m.startswith("encoder.embedding") for m in mismatched):
        hint = (
            " The input embedding differs: the weights were trained on another number of "
            "channels; pick the same channels (in the same order) as in pretraining."
        )
    raise ValueError(
        f"{source} do not fit this network ({'; '.join(parts)}).{hint} Build the network "
        "with the same settings as the pretrained one (base_width, d_state, expand, "
        "headdim, ..., variant), or pretrain again on data with these channels."
    )


def load_backbone_weights(
    backbone: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    strict: bool = False,
    source: str = "The pretrained weights",
) -> None:
    """Load an :class:`~eegm2_sklearn.models.EEGM2` state dict into a backbone.

    Every parameter of ``backbone`` must be present with the same shape; entries that the
    backbone lacks (the decoder, when ``backbone`` is an ``EEGM2Light``) are ignored
    unless ``strict``.

    Parameters
    ----------
    backbone : EEGM2 or EEGM2Light
    state_dict : dict of str to Tensor
    strict : bool
        Refuse entries the backbone lacks too.
    source : str
        How error messages name ``state_dict``.

    Raises
    ------
    ValueError
        If parameters are missing or have other shapes (see
        :func:`check_state_dict_compatible`).

    Examples
    --------
    >>> from eegm2_sklearn.models import EEGM2, EEGM2Light, load_backbone_weights
    >>> full = EEGM2(n_chans=4, base_width=8, expand=2, headdim=8)
    >>> light = EEGM2Light(n_chans=4, base_width=8, expand=2, headdim=8)
    >>> load_backbone_weights(light, full.state_dict())
    """
    own = backbone.state_dict()
    check_state_dict_compatible(own, state_dict, source=source, allow_unexpected=not strict)
    backbone.load_state_dict({k: state_dict[k] for k in own}, strict=True)
