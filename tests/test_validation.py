"""User-facing ValueErrors for bad data and bad parameters, and device resolution."""

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import GroupKFold

from eegm2_sklearn.data.checks import (
    check_3d,
    check_channels,
    check_classification_y,
    check_finite,
    check_n_times,
    check_not_empty,
    check_sfreq,
    check_window_length,
    check_y_length,
)
from eegm2_sklearn.estimators.params import PARAM_CHECKS, validate_params
from eegm2_sklearn.training import resolve_device
from eegm2_sklearn.validation import check_option

# --------------------------------------------------------------------------------------
# data checks


def test_check_3d_messages():
    check_3d(np.zeros((2, 3, 16)))
    with pytest.raises(ValueError, match=r"got a 2-D array of shape \(3, 16\).*X\[np\.newaxis\]"):
        check_3d(np.zeros((3, 16)))
    with pytest.raises(ValueError, match=r"X\[:, np\.newaxis\]"):
        check_3d(np.zeros((3, 16)))
    with pytest.raises(ValueError, match=r"\(n_epochs, n_channels, n_times\); got a 1-D"):
        check_3d(np.zeros(16))
    with pytest.raises(ValueError, match=r"4-D.*reshape"):
        check_3d(np.zeros((2, 2, 3, 16)))


def test_check_not_empty():
    check_not_empty(1)
    with pytest.raises(ValueError, match="X is empty.*got 0 epochs"):
        check_not_empty(0)


def test_check_finite_counts_and_locates():
    X = np.zeros((5, 2, 16), np.float32)
    check_finite(X)
    X[3, 1, 4] = np.nan
    X[3, 0, 0] = np.nan
    X[4, 0, 2] = -np.inf
    with pytest.raises(ValueError) as info:
        check_finite(X)
    msg = str(info.value)
    assert "2 NaN and 1 inf values in 2 of 5 epochs (first bad epoch: index 3)" in msg
    assert "interpolate_bads" in msg and "drop" in msg


def test_check_n_times():
    check_n_times(8)
    with pytest.raises(ValueError, match="7 samples; EEGM2 needs at least 8.*MaxPool1d"):
        check_n_times(7)


def test_check_channels_count_with_names():
    fitted = ["Fz", "Cz", "Pz"]
    check_channels(3, fitted, 3, fitted)
    with pytest.raises(ValueError) as info:
        check_channels(3, fitted, 2, ["Fz", "Oz"])
    msg = str(info.value)
    assert "X has 2 channels but the estimator was fitted on 3" in msg
    assert "Missing: ['Cz', 'Pz']. Extra: ['Oz']" in msg
    assert "Fitted channels: ['Fz', 'Cz', 'Pz']; given: ['Fz', 'Oz']" in msg
    assert "epochs.pick(estimator.ch_names_)" in msg


def test_check_channels_count_without_names():
    check_channels(3, None, 3, ["a", "b", "c"])  # names unknown on one side: count only
    with pytest.raises(ValueError, match="fitted on 3. Pass data with the 3 channels"):
        check_channels(3, None, 4, None)
    with pytest.raises(ValueError, match=r"Fitted channels: \['Fz', 'Cz', 'Pz'\]"):
        check_channels(3, ["Fz", "Cz", "Pz"], 4, None)


def test_check_channels_names_same_count():
    fitted = ["Fz", "Cz", "Pz"]
    with pytest.raises(ValueError, match=r"another order.*reorder_channels"):
        check_channels(3, fitted, 3, ["Cz", "Fz", "Pz"])
    with pytest.raises(ValueError, match=r"Missing: \['Pz'\]. Extra: \['Oz'\]"):
        check_channels(3, fitted, 3, ["Fz", "Cz", "Oz"])
    check_channels(3, fitted, 3, ["Cz", "Fz", "Pz"], check_names=False)


def test_check_window_length_points_to_pool_head():
    check_window_length(512, 512)
    with pytest.raises(ValueError, match=r"256 samples \(2 s at 128 Hz\).*512 samples.*'pool'"):
        check_window_length(512, 256, sfreq=128.0)
    with pytest.raises(ValueError, match="head='pool'"):
        check_window_length(512, 256)


def test_check_sfreq():
    check_sfreq(128.0, 128.0)
    check_sfreq(None, 256.0)
    with pytest.raises(ValueError, match=r"256 Hz.*fitted at 128 Hz.*resample\(128\)"):
        check_sfreq(128.0, 256.0)


def test_check_y_length():
    np.testing.assert_array_equal(check_y_length(2, [0, 1]), [0, 1])
    with pytest.raises(ValueError, match="X has 3 epochs but y has 2 labels"):
        check_y_length(3, [0, 1])
    with pytest.warns(DataConversionWarning, match=r"shape \(2, 1\).*y.ravel\(\)"):
        np.testing.assert_array_equal(check_y_length(2, np.zeros((2, 1))), [0, 0])
    with pytest.raises(ValueError, match="requires y to be passed"):
        check_y_length(2, None)
    with pytest.raises(ValueError, match="1-D"):
        check_y_length(2, np.zeros((2, 2)))


def test_check_classification_y():
    np.testing.assert_array_equal(check_classification_y(np.array(["b", "a", "b"])), ["a", "b"])
    with pytest.raises(ValueError, match=r"only one class \(\['rest'\]\)"):
        check_classification_y(np.array(["rest", "rest"]))
    with pytest.raises(ValueError, match="Unknown label type"):
        check_classification_y(np.array([0.1, 0.7, 0.3]))


# --------------------------------------------------------------------------------------
# options and parameters


def test_check_option_uniform_message():
    check_option("scaling", None, ("robust", "percentile95", None))
    check_option("precision", "bf16", ("32", "bf16"))
    with pytest.raises(
        ValueError,
        match=r"Invalid value for `variant`: expected one of 'full' or 'light'; got 'big' \(str\)",
    ):
        check_option("variant", "big", ("full", "light"))
    with pytest.raises(ValueError, match="expected one of '32' or 'bf16'; got 32 \\(int\\)"):
        check_option("precision", 32, ("32", "bf16"))


class _AllParams(BaseEstimator):
    def __init__(
        self,
        lr=5e-4,
        max_epochs=10,
        batch_size=64,
        validation_split=0.2,
        patience=None,
        device="auto",
        backend="auto",
        scaling="robust",
        verbose=1,
        alpha=1.0,
        beta=1.0,
        finetune="full",
        head="flatten",
        variant="full",
        class_weight=None,
        precision="32",
        window_seconds=None,
        window_stride_seconds=None,
        random_state=None,
        callbacks=None,
        pretrained=None,
    ):
        for name, value in locals().items():
            if name != "self":
                setattr(self, name, value)


class _FewParams(BaseEstimator):
    def __init__(self, lr=1e-3, head="pool"):
        self.lr = lr
        self.head = head


def test_defaults_are_valid():
    validate_params(_AllParams())
    validate_params(_FewParams())


@pytest.mark.parametrize(
    "params",
    [
        {"lr": 1},
        {"max_epochs": np.int64(3)},
        {"validation_split": None},
        {"validation_split": 5},
        {"validation_split": GroupKFold(3)},
        {"validation_split": lambda ds, y: (ds, None)},
        {"patience": 3},
        {"device": "cuda:1"},
        {"device": torch.device("cpu")},
        {"scaling": None},
        {"scaling": "percentile95"},
        {"verbose": 0},
        {"verbose": True},
        {"alpha": 0.0},
        {"class_weight": "balanced"},
        {"class_weight": {"rest": 1.0, "task": 3}},
        {"precision": "bf16"},
        {"window_seconds": 4, "window_stride_seconds": 2.0},
        {"random_state": 0},
        {"random_state": np.random.RandomState(0)},
        {"callbacks": []},
        {"pretrained": "some/folder"},
    ],
)
def test_valid_values(params):
    validate_params(_AllParams(**params))


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"lr": 0}, "`lr`: expected a float > 0; got 0 (int)"),
        ({"lr": float("nan")}, "`lr`: expected a float > 0"),
        ({"max_epochs": 0}, "`max_epochs`: expected an int >= 1; got 0 (int)"),
        ({"max_epochs": 2.0}, "`max_epochs`: expected an int >= 1; got 2.0 (float)"),
        ({"batch_size": True}, "`batch_size`: expected an int >= 1; got True (bool)"),
        ({"validation_split": 1.0}, "`validation_split`: expected None, a float in (0, 1)"),
        ({"validation_split": 1}, "an int >= 2 (number of cross-validation folds)"),
        ({"patience": 0}, "`patience`: expected None or an int >= 1; got 0 (int)"),
        ({"device": "gpu"}, "`device`: expected 'auto', 'cpu', 'cuda', 'cuda:N' or a torch"),
        ({"device": "cuda:x"}, "`device`: expected"),
        ({"backend": "triton"}, "`backend`: expected one of 'auto', 'torch' or 'mamba_ssm'"),
        ({"scaling": "zscore"}, "`scaling`: expected one of 'robust', 'percentile95' or None"),
        ({"verbose": -1}, "`verbose`: expected an int >= 0; got -1 (int)"),
        ({"alpha": -1.0}, "`alpha`: expected a float >= 0"),
        ({"finetune": "partial"}, "`finetune`: expected one of 'full' or 'frozen'"),
        ({"head": "mean"}, "`head`: expected one of 'flatten' or 'pool'"),
        ({"variant": "tiny"}, "`variant`: expected one of 'full' or 'light'"),
        ({"class_weight": "auto"}, "`class_weight`: expected None, 'balanced' or a non-empty"),
        ({"class_weight": {"a": -1}}, "`class_weight`: expected"),
        ({"precision": "16"}, "`precision`: expected one of '32' or 'bf16'; got '16' (str)"),
        ({"window_seconds": 0}, "`window_seconds`: expected None or a float > 0"),
        ({"random_state": -1}, "`random_state`: expected None, an int in [0, 2**32 - 1]"),
        ({"callbacks": "progressbar"}, "`callbacks`: expected None or a list"),
        ({"pretrained": 3}, "`pretrained`: expected None, a fitted EEGM2Pretrainer"),
    ],
)
def test_invalid_values(params, expected):
    with pytest.raises(ValueError, match="Invalid parameter for _AllParams") as info:
        validate_params(_AllParams(**params))
    assert expected in str(info.value)


def test_every_bad_parameter_is_reported_at_once():
    est = _AllParams(lr=-1, batch_size=0, head="max", alpha=0.0, beta=0.0)
    with pytest.raises(ValueError) as info:
        validate_params(est)
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid parameters for _AllParams:"
    assert len(lines) == 5
    assert lines[1].startswith("- `lr`") and lines[2].startswith("- `batch_size`")
    assert lines[3].startswith("- `head`")
    assert "`alpha` and `beta` are both 0" in lines[4]


def test_stride_without_window_is_reported():
    with pytest.raises(ValueError, match="`window_stride_seconds` is set but `window_seconds`"):
        validate_params(_AllParams(window_stride_seconds=2.0))


def test_only_the_estimators_parameters_are_checked():
    validate_params(_FewParams())
    with pytest.raises(ValueError) as info:
        validate_params(_FewParams(lr=0, head="max"))
    assert str(info.value).count("\n- ") == 2


def test_custom_check_table():
    checks = {**PARAM_CHECKS, "lr": (lambda v: v < 1, "a float < 1")}
    validate_params(_FewParams(lr=-5), checks=checks)
    with pytest.raises(ValueError, match="`lr`: expected a float < 1; got 2"):
        validate_params(_FewParams(lr=2), checks=checks)


# --------------------------------------------------------------------------------------
# device


def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_resolve_device_rejects_unknown():
    with pytest.raises(ValueError, match=r"Invalid value for `device`.*got 'tpu'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_says_what_to_do():
    for device in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match="sees no CUDA GPU.*device='cpu'.*device='auto'"):
            resolve_device(device)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_out_of_range():
    n = torch.cuda.device_count()
    assert resolve_device("cuda").type == "cuda"
    with pytest.raises(ValueError, match=f"only {n} CUDA GPU"):
        resolve_device(f"cuda:{n}")
