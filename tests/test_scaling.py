"""Per-window, per-channel scaling and its inverse."""

import numpy as np
import pytest
from sklearn.preprocessing import robust_scale

from eegm2_sklearn.data import inverse_scale_windows, scale_windows


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    # EEG-like magnitudes in volts, with per-channel offsets and spreads
    base = rng.standard_t(df=5, size=(6, 4, 256))
    return base * rng.uniform(5e-6, 5e-5, size=(6, 4, 1)) + rng.normal(0, 1e-4, (6, 4, 1))


def test_robust_matches_sklearn_robust_scale(X):
    Z, stats = scale_windows(X, "robust")
    ref = robust_scale(X.reshape(-1, X.shape[-1]), axis=1).reshape(X.shape)
    assert Z.dtype == np.float32 and Z.shape == X.shape
    np.testing.assert_allclose(Z, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats.center[..., 0], np.median(X, axis=-1), rtol=1e-6)
    iqr = np.subtract(*np.percentile(X, [75, 25], axis=-1))
    np.testing.assert_allclose(stats.scale[..., 0], iqr, rtol=1e-6)
    # after scaling every (window, channel) has median 0 and IQR 1
    np.testing.assert_allclose(np.median(Z, axis=-1), 0, atol=1e-5)
    q25, q75 = np.percentile(Z, [25, 75], axis=-1)
    np.testing.assert_allclose(q75 - q25, 1, rtol=1e-4)


def test_percentile95_is_the_paper_scaling(X):
    Z, stats = scale_windows(X, "percentile95")
    p95 = np.percentile(np.abs(X), 95, axis=-1, keepdims=True)
    np.testing.assert_allclose(Z, X / p95, rtol=1e-5)
    np.testing.assert_allclose(np.percentile(np.abs(Z), 95, axis=-1), 1, rtol=1e-5)
    assert np.all(stats.center == 0)


@pytest.mark.parametrize("method", ["robust", "percentile95", None])
def test_inverse_restores_the_users_units(X, method):
    Z, stats = scale_windows(X, method)
    np.testing.assert_allclose(inverse_scale_windows(Z, stats), X, rtol=1e-5, atol=1e-11)


@pytest.mark.parametrize("method", ["robust", "percentile95"])
def test_scaling_removes_the_unit(X, method):
    in_volts, _ = scale_windows(X, method)
    in_microvolts, _ = scale_windows(X * 1e6, method)
    np.testing.assert_allclose(in_volts, in_microvolts, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["robust", "percentile95"])
def test_zero_channels_become_zeros(X, method):
    X = X.copy()
    X[4, 0] = 0.0  # e.g. a zero-padded missing electrode
    X[2, 3, 100] = 1e-4  # zero channel with one spike: spread (IQR or P95) still 0
    X[2, 3, :100] = X[2, 3, 101:] = 0.0
    Z, stats = scale_windows(X, method)
    assert np.all(np.isfinite(Z))
    assert np.all(Z[4, 0] == 0) and np.all(Z[2, 3] == 0)
    assert stats.flat[4, 0, 0] and stats.flat[2, 3, 0] and stats.flat.sum() == 2
    assert stats.scale[4, 0, 0] == 1.0
    # the other channels are scaled as without the flat ones
    Z_ref, _ = scale_windows(X[[0]], method)
    np.testing.assert_allclose(Z[0], Z_ref[0])
    np.testing.assert_array_equal(inverse_scale_windows(Z, stats)[4, 0], 0.0)


def test_constant_channel_robust_zeros_percentile95_ones(X):
    X = X.copy()
    X[1, 2] = 3e-5  # constant channel (e.g. a disconnected electrode with an offset)
    Z, stats = scale_windows(X, "robust")
    assert np.all(Z[1, 2] == 0) and stats.flat.sum() == 1
    np.testing.assert_allclose(inverse_scale_windows(Z, stats)[1, 2], 3e-5, rtol=1e-6)
    # the paper's scaling removes no offset: a constant channel is divided by itself
    Z, stats = scale_windows(X, "percentile95")
    np.testing.assert_allclose(Z[1, 2], 1.0, rtol=1e-6)
    assert stats.flat.sum() == 0


def test_eps_sets_the_flatness_floor(X):
    Z, stats = scale_windows(X, "robust", eps=1.0)  # every volt-scale channel is "flat"
    assert stats.flat.all() and np.all(Z == 0)


def test_none_is_identity_without_copy_for_float32():
    X = np.arange(2 * 3 * 16, dtype=np.float32).reshape(2, 3, 16)
    Z, stats = scale_windows(X, None)
    assert Z is X
    Z64, _ = scale_windows(X.astype(np.float64), None)
    assert Z64.dtype == np.float32
    np.testing.assert_array_equal(Z64, X)
    assert stats.method is None and np.all(stats.scale == 1) and np.all(stats.center == 0)


def test_float64_input_gives_float32_output(X):
    Z, stats = scale_windows(X, "robust")
    assert Z.dtype == np.float32
    assert stats.center.dtype == np.float32 and stats.scale.dtype == np.float32
    assert stats.center.shape == (6, 4, 1)


def test_bad_method_lists_allowed_values(X):
    with pytest.raises(ValueError, match=r"`scaling`.*'robust', 'percentile95' or None"):
        scale_windows(X, "zscore")


def test_inverse_checks_shapes(X):
    Z, stats = scale_windows(X, "robust")
    with pytest.raises(ValueError, match="statistics of the same windows"):
        inverse_scale_windows(Z[:2], stats)
    # another length of the same windows (e.g. a model output) is fine
    assert inverse_scale_windows(Z[..., :8], stats).shape == (6, 4, 8)


def test_not_3d_is_rejected():
    with pytest.raises(ValueError, match=r"\(n_epochs, n_channels, n_times\)"):
        scale_windows(np.zeros((3, 16)), "robust")
