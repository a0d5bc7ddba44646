"""Masked-span pretraining: the masks, the loss, and what the network sees in training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegm2_sklearn import EEGM2Pretrainer
from eegm2_sklearn.models import TemporalSpectralLoss, masked_loss, span_mask
from eegm2_sklearn.training import MaskedReconstructionNet, ReconstructionNet

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=8, random_state=0)
X = np.random.default_rng(0).standard_normal((24, 3, 128)).astype("float32")


def test_span_mask_hides_the_ratio_in_whole_spans():
    mask = span_mask(50, 128, 0.25, 16, generator=torch.Generator().manual_seed(1))
    assert mask.shape == (50, 1, 128) and mask.dtype == torch.float32
    spans = mask[:, 0].reshape(50, 8, 16)
    assert torch.all(spans.amin(-1) == spans.amax(-1))  # each span hidden or kept whole
    assert torch.all(spans[:, :, 0].sum(1) == 2)  # round(0.25 * 8) spans per window
    assert len({tuple(m.tolist()) for m in spans[:, :, 0]}) > 10  # drawn per window
    again = span_mask(50, 128, 0.25, 16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(mask, again)


def test_span_mask_keeps_one_span_and_hides_one_and_cuts_a_last_short_span():
    assert span_mask(4, 100, 0.99, 10).sum(-1).max() == 90  # never all hidden
    assert span_mask(4, 100, 0.01, 10).sum(-1).min() == 10  # never nothing hidden
    short = span_mask(3, 70, 0.5, 32, generator=torch.Generator().manual_seed(0))
    assert short.shape == (3, 1, 70)  # 3 spans, the last one 6 samples long


def test_masked_loss_counts_only_the_hidden_spans_or_all():
    loss = TemporalSpectralLoss()
    x = torch.randn(4, 3, 64)
    mask = span_mask(4, 64, 0.5, 8, generator=torch.Generator().manual_seed(0))
    wrong_where_kept = x + (1 - mask) * 5.0
    assert float(masked_loss(loss, wrong_where_kept, x, mask, "masked")) == 0.0
    assert float(masked_loss(loss, wrong_where_kept, x, mask, "all")) == pytest.approx(
        float(loss(wrong_where_kept, x))
    )
    with pytest.raises(ValueError, match="on must be one of"):
        masked_loss(loss, x, x, mask, "kept")


def _training_inputs(pre: EEGM2Pretrainer, X: np.ndarray) -> list[torch.Tensor]:
    """The inputs the network received in training, by a forward pre-hook."""
    seen = []

    class Hook:
        def on_train_begin(self, net, **kwargs):
            net.module_.register_forward_pre_hook(
                lambda module, args: seen.append((module.training, args[0].detach().clone()))
            )

    from skorch.callbacks import Callback

    hook = type("SeeInputs", (Callback,), {"on_train_begin": Hook.on_train_begin})()
    pre.set_params(callbacks=[hook]).fit(X)
    return seen


def test_training_input_has_the_ratio_hidden_and_validation_masks_repeat():
    pre = EEGM2Pretrainer(
        max_epochs=2, mask_ratio=0.25, mask_span=16, validation_split=0.25, verbose=0, **TINY
    )
    seen = _training_inputs(pre, X)
    train = [x for training, x in seen if training]
    valid = [x for training, x in seen if not training]
    hidden = torch.cat([(x == 0).all(dim=1).float().mean(-1) for x in train])
    assert torch.allclose(hidden, torch.full_like(hidden, 0.25))  # 2 of 8 spans per window
    assert isinstance(pre.net_, MaskedReconstructionNet)
    # the same validation windows get the same masks in epoch 1 and epoch 2
    assert len(valid) == 2 and torch.equal(valid[0], valid[1])
    assert pre.history_[-1, "valid_loss"] > 0


def test_masks_do_not_depend_on_the_global_random_state():
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        pre = EEGM2Pretrainer(max_epochs=1, mask_span=16, verbose=0, **TINY)
        runs.append([x for training, x in _training_inputs(pre, X) if training])
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_reconstruct_is_the_papers_plain_objective():
    pre = EEGM2Pretrainer(objective="reconstruct", max_epochs=1, verbose=0, **TINY)
    seen = [x for training, x in _training_inputs(pre, X) if training]
    assert type(pre.net_) is ReconstructionNet
    assert not any(bool((x == 0).all(dim=1).any()) for x in seen)


def test_a_span_longer_than_half_the_window_warns_and_is_shortened():
    with pytest.warns(UserWarning, match="mask_span=64 samples is more than half the windows' 64"):
        pre = EEGM2Pretrainer(max_epochs=1, verbose=0, **TINY).fit(X[:, :, :64])
    assert pre.net_.mask_span == 8


def test_objective_and_masks_are_part_of_the_checkpoint_fingerprint(tmp_path):
    EEGM2Pretrainer(max_epochs=1, mask_span=16, checkpoint_dir=tmp_path, verbose=0, **TINY).fit(X)
    with pytest.raises(ValueError, match="mask_ratio=0.5.*mask_ratio=0.3"):
        EEGM2Pretrainer(
            max_epochs=1, mask_span=16, mask_ratio=0.3, checkpoint_dir=tmp_path, resume=True,
            verbose=0, **TINY,
        ).fit(X)  # fmt: skip
