"""Mistakes that used to end in a raw traceback (or a NaN loss) now raise a ``ValueError``
that names the parameter or file, what was expected and what to do. One test per case;
the damaged checkpoint files are in ``test_checkpoint_faults.py``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, EpochScoring

from eegm2_sklearn import CheckpointError, EEGM2Classifier, EEGM2Pretrainer

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=8)
TINY.update(max_epochs=1, random_state=0, device="cpu", verbose=0)
PRE = {**TINY, "mask_span": 8}  # the pretrainer's spans fit the 32-sample windows
X = np.random.default_rng(0).standard_normal((24, 3, 32)).astype("float32")
Y = np.array([0, 1] * 12)


class Spy(Callback):
    """Records the epochs trained (none, when a check refuses the fit up front)."""

    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, net, **kwargs):
        self.epochs.append(len(net.history))


# ------------------------------------------------------------------------- data
def test_float64_beyond_float32_range_says_the_cast_overflowed():
    big = X.astype(np.float64) * 1e39
    with pytest.raises(ValueError) as err:
        EEGM2Pretrainer(**PRE).fit(big)
    msg = str(err.value)
    assert "X has float64 values beyond float32's range" in msg
    assert "the cast to float32" in msg and "overflowed" in msg
    assert f"max |x| = {np.abs(big).max():.4g}" in msg and "Rescale X" in msg
    assert "NaN" not in msg


def test_a_tensor_that_requires_grad_is_refused_and_a_plain_tensor_is_taken():
    tensor = torch.tensor(X, requires_grad=True)
    with pytest.raises(ValueError, match=r"requires grad .*Pass X\.detach\(\)"):
        EEGM2Pretrainer(**PRE).fit(tensor)
    assert EEGM2Pretrainer(**PRE).fit(tensor.detach()).transform(X[:2]).shape[0] == 2


def test_validation_split_with_more_classes_than_validation_windows():
    y12 = np.arange(24) % 12
    with pytest.raises(ValueError) as err:
        EEGM2Classifier(validation_split=0.2, **TINY).fit(X, y12)
    msg = str(err.value)
    assert "validation_split=0.2 holds out 5 of the 24 windows" in msg
    assert "12 classes" in msg and "at least 0.5" in msg and "validation_split=None" in msg
    assert "test_size" not in msg  # scikit-learn's name for a setting never given


def test_validation_split_that_cannot_stratify_names_the_class_or_the_folds():
    y = np.array(["a"] * 23 + ["b"])
    with pytest.raises(ValueError, match="0.25 cannot stratify: class 'b' has 1 window"):
        EEGM2Classifier(validation_split=0.25, **TINY).fit(X, y)
    with pytest.raises(ValueError, match="30 folds need at least 30 windows .* has 23"):
        EEGM2Classifier(validation_split=30, **TINY).fit(X, y)


# ------------------------------------------------------------------------- class weights
def test_an_all_zero_class_weight_is_refused_before_training():
    spy = Spy()
    with pytest.raises(ValueError) as err:
        EEGM2Classifier(class_weight={0: 0.0, 1: 0}, callbacks=[spy], **TINY).fit(X, Y)
    msg = str(err.value)
    assert "gives every class of y ([0, 1]) weight 0" in msg and "NaN" in msg
    assert "at least one class a weight > 0" in msg
    assert spy.epochs == []
    # a class left out keeps weight 1: not all zero
    EEGM2Classifier(class_weight={0: 0.0}, **TINY).fit(X, Y)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "2"])
def test_negative_nan_or_non_number_class_weights_are_named(bad):
    with pytest.raises(ValueError) as err:
        EEGM2Classifier(class_weight={0: 1.0, 1: bad}, **TINY).fit(X, Y)
    msg = str(err.value)
    assert "`class_weight`: expected finite weights >= 0; got {1: " in msg
    assert "0 ignores the class" in msg


def test_class_weights_for_unknown_labels_are_refused_before_pretraining():
    spy = Spy()
    pre = EEGM2Pretrainer(callbacks=[spy], **PRE)  # unfitted: the classifier fits it first
    y = np.where(Y == 0, "rest", "task")
    with pytest.raises(ValueError) as err:
        EEGM2Classifier(pretrained=pre, class_weight={"rest": 1, "tsak": 2}, **TINY).fit(X, y)
    msg = str(err.value)
    assert "class_weight names labels that are not in y: ['tsak']" in msg
    assert "the labels are ['rest', 'task']" in msg
    assert spy.epochs == []
    with pytest.raises(ValueError, match="The keys must be the labels themselves.*'1' is not 1"):
        EEGM2Classifier(class_weight={"1": 2.0}, **TINY).fit(X, Y)


# ------------------------------------------------------------------------- callbacks
def test_callbacks_that_are_not_callbacks_are_listed():
    spy = Spy()
    callbacks = [spy, object(), ("scores", EpochScoring("accuracy")), "print", ("name", 3)]
    with pytest.raises(ValueError) as err:
        EEGM2Classifier(callbacks=callbacks, **TINY).fit(X, Y)
    msg = str(err.value)
    assert "`callbacks`: expected skorch callbacks" in msg
    assert "[1] <object object at" in msg and "[3] 'print' (str)" in msg
    assert "[4] ('name', 3) (tuple)" in msg
    assert "[0]" not in msg and "[2]" not in msg
    assert spy.epochs == []
    EEGM2Pretrainer(callbacks=[Spy, ("named", Spy())], **TINY).fit(X)  # classes, pairs


# ------------------------------------------------------------------------- pretrained folders
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pre") / "pre"
    EEGM2Pretrainer(**PRE).fit(X).save_pretrained(folder)
    return folder


def _edited(saved, tmp_path, edit):
    folder = tmp_path / "edited"
    shutil.copytree(saved, folder)
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


EDITS = {
    "a number as text": (
        lambda c: c.update(n_times="32"),
        "- `n_times`: expected an int >= 8; got '32' (str).",
    ),
    "a key removed": (lambda c: c.pop("n_chans"), "- `n_chans`: missing; expected an int >= 1."),
    "a size as text": (
        lambda c: c["architecture"].update(base_width="8"),
        "- `architecture.base_width`: expected an int >= 1; got '8' (str).",
    ),
    "a width changed in one place": (
        lambda c: c["params"].update(base_width=16),
        "- `params.base_width` (16) and `architecture.base_width` (8) differ",
    ),
    "too few channel names": (
        lambda c: c.update(ch_names=["Cz"]),
        "- `ch_names` has 1 names but `n_chans` is 3.",
    ),
}


@pytest.mark.parametrize("case", EDITS)
@pytest.mark.parametrize("reader", ["from_pretrained", "classifier"])
def test_an_edited_config_is_refused_with_every_bad_entry(saved, tmp_path, case, reader):
    edit, line = EDITS[case]
    folder = _edited(saved, tmp_path, edit)
    with pytest.raises(ValueError) as err:
        if reader == "from_pretrained":
            EEGM2Pretrainer.from_pretrained(folder)
        else:
            EEGM2Classifier(pretrained=folder, **TINY).fit(X, Y)
    msg = str(err.value)
    assert f"{folder}/config.json cannot rebuild the EEGM2Pretrainer saved there" in msg
    assert line in msg and "Save the model again with save_pretrained" in msg


def test_a_config_edited_consistently_names_the_weights_that_do_not_fit(saved, tmp_path):
    def widen(config):
        config["params"]["base_width"] = config["architecture"]["base_width"] = 16

    folder = _edited(saved, tmp_path, widen)
    for load in (
        lambda: EEGM2Pretrainer.from_pretrained(folder),
        lambda: EEGM2Classifier(pretrained=folder, **TINY).fit(X, Y),
    ):
        with pytest.raises(ValueError) as err:
            load()
        msg = str(err.value)
        assert "do not fit this network (shape mismatches: " in msg
        assert "expected (16," in msg and "base_width" in msg
    assert f"The weights in {str(folder)!r}" in str(
        pytest.raises(ValueError, EEGM2Pretrainer.from_pretrained, folder).value
    )


# ------------------------------------------------------------------------- resume
@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("clf") / "ckpt"
    EEGM2Classifier(checkpoint_dir=ckpt, class_weight={0: 1.0, 1: 2.0}, **TINY).fit(X, Y)
    return ckpt


@pytest.mark.parametrize(
    "change, y, then, now",
    [
        ({"head": "flatten"}, Y, "head='pool'", "head='flatten'"),
        ({}, np.arange(24) % 3, "classes=[0, 1], n_outputs=2", "classes=[0, 1, 2], n_outputs=3"),
        ({"class_weight": None}, Y, "class_weight={'0': 1.0, '1': 2.0}", "class_weight=None"),
        (
            {"class_weight": None},
            np.where(Y == 0, "a", "b"),
            "class_weight={'0': 1.0, '1': 2.0}, classes=[0, 1]",
            "class_weight=None, classes=['a', 'b']",
        ),
    ],
    ids=["head", "class count", "class_weight", "labels"],
)
def test_resume_with_other_classes_head_or_weights_lists_old_and_new(
    classifier_run, tmp_path, change, y, then, now
):
    ckpt = shutil.copytree(classifier_run, tmp_path / "ckpt")
    params = {**TINY, "class_weight": {0: 1.0, 1: 2.0}, **change}
    with pytest.raises(CheckpointError) as err:
        EEGM2Classifier(checkpoint_dir=ckpt, resume=True, **params).fit(X, y)
    msg = str(err.value)
    assert f"holds a checkpoint of a run with {then}, but this fit has {now}." in msg
    assert "start afresh with resume=False or another checkpoint_dir" in msg


def test_resume_with_the_same_class_weight_dict_continues(classifier_run, tmp_path):
    ckpt = shutil.copytree(classifier_run, tmp_path / "ckpt")
    params = {**TINY, "max_epochs": 1, "class_weight": {0: 1.0, 1: 2.0}}
    done = EEGM2Classifier(checkpoint_dir=ckpt, resume=True, **params).fit(X, Y)
    assert len(done.history_) == 1  # the finished run is loaded, not refused
