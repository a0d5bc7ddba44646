"""What the figures of eegm2_sklearn.viz draw: axes, lines, labels and the data of the lines."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from eegm2_sklearn.viz import plot_confusion, plot_history, plot_reconstruction  # noqa: E402

TINY = dict(base_width=8, expand=2, headdim=8, d_state=4, batch_size=8, device="cpu")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _lines(ax) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {ln.get_label(): (ln.get_xdata(), ln.get_ydata()) for ln in ax.get_lines()}


# ----------------------------------------------------------------------------- history
def test_plot_history_from_rows_draws_one_line_per_key():
    rows = [
        {"epoch": 1, "train_loss": 3.0, "valid_loss": 3.5},
        {"epoch": 2, "train_loss": 2.0, "valid_loss": 2.9},
        {"epoch": 3, "train_loss": 1.5, "valid_loss": 2.8},
    ]
    fig = plot_history(rows, title="pretraining")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    lines = _lines(ax)
    assert list(lines) == ["train_loss", "valid_loss"]
    np.testing.assert_array_equal(lines["train_loss"][0], [1, 2, 3])
    np.testing.assert_allclose(lines["train_loss"][1], [3.0, 2.0, 1.5])
    np.testing.assert_allclose(lines["valid_loss"][1], [3.5, 2.9, 2.8])
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert ax.get_title() == "pretraining"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train_loss", "valid_loss"]


def test_plot_history_skips_missing_keys_and_draws_into_given_axes():
    rows = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]
    fig, (ax0, ax1) = plt.subplots(1, 2)
    out = plot_history(rows, ax=ax1, logy=True)
    assert out is fig
    assert len(ax0.get_lines()) == 0
    assert list(_lines(ax1)) == ["train_loss"]
    assert ax1.get_yscale() == "log"


def test_plot_history_errors():
    with pytest.raises(TypeError, match="expects a fitted EEGM2Pretrainer"):
        plot_history(object())
    with pytest.raises(ValueError, match="None of the keys"):
        plot_history([{"epoch": 1, "train_loss": 1.0}], keys=["valid_acc"])


def test_plot_history_of_fitted_estimator_and_pipeline():
    from eegm2_sklearn import EEGM2Pretrainer

    X = np.random.default_rng(0).standard_normal((24, 3, 64)).astype("float32")
    pre = EEGM2Pretrainer(max_epochs=3, validation_split=0.25, random_state=0, **TINY)
    with pytest.raises(TypeError, match="Fit the estimator"):
        plot_history(pre)
    pre.fit(X)
    fig = plot_history(pre)
    lines = _lines(fig.axes[0])
    np.testing.assert_array_equal(lines["train_loss"][0], [1, 2, 3])
    np.testing.assert_allclose(lines["train_loss"][1], pre.history_[:, "train_loss"])
    np.testing.assert_allclose(lines["valid_loss"][1], pre.history_[:, "valid_loss"])
    # a skorch net, its History and a Pipeline ending in the estimator give the same lines
    for source in (pre.net_, pre.history_, make_pipeline(pre)):
        again = _lines(plot_history(source).axes[0])
        np.testing.assert_allclose(again["valid_loss"][1], lines["valid_loss"][1])


# ----------------------------------------------------------------------------- reconstruction
def _sine_window(sfreq=128.0, n_times=1024, freqs=(10.0, 6.0, 20.0)):
    t = np.arange(n_times) / sfreq
    return np.stack([20e-6 * np.sin(2 * np.pi * f * t) for f in freqs])  # volts


def test_plot_reconstruction_axes_lines_and_data():
    sfreq = 128.0
    x = _sine_window(sfreq)
    x_hat = 0.5 * x
    fig = plot_reconstruction(x, x_hat, sfreq, ch_names=["Fz", "Cz", "Pz"], picks=["Pz", 0])
    assert len(fig.axes) == 3  # two channels, one spectrum
    ax_pz, ax_fz, ax_psd = fig.axes
    assert ax_pz.get_ylabel() == "Pz (µV)" and ax_fz.get_ylabel() == "Fz (µV)"
    assert ax_fz.get_xlabel() == "time (s)"
    for ax, ch in ((ax_pz, 2), (ax_fz, 0)):
        lines = _lines(ax)
        assert list(lines) == ["original", "reconstruction"]
        np.testing.assert_allclose(lines["original"][0], np.arange(x.shape[1]) / sfreq)
        np.testing.assert_allclose(lines["original"][1], x[ch] * 1e6)
        np.testing.assert_allclose(lines["reconstruction"][1], x_hat[ch] * 1e6)
    psd = _lines(ax_psd)
    assert list(psd) == ["original", "reconstruction"]
    assert ax_psd.get_xlabel() == "frequency (Hz)"
    assert ax_psd.get_ylabel() == "PSD (µV²/Hz, dB)"
    freqs, orig_db = psd["original"]
    assert freqs[0] == 0 and freqs[-1] == pytest.approx(sfreq / 2)
    assert freqs[1] - freqs[0] == pytest.approx(0.5)  # default 2-s Welch segments
    # halving the amplitude lowers the power by 20 log10(2) dB at every frequency
    np.testing.assert_allclose(orig_db - psd["reconstruction"][1], 20 * np.log10(2), atol=1e-9)
    # the spectrum peaks at the sines of the picked channels (20 Hz on Pz, 10 Hz on Fz),
    # not at the 6 Hz of the channel left out
    floor = np.median(orig_db)
    at = {f: orig_db[np.argmin(np.abs(freqs - f))] for f in (6.0, 10.0, 20.0)}
    assert at[10.0] > floor + 30 and at[20.0] > floor + 30
    assert at[6.0] < floor + 10


def test_plot_reconstruction_defaults_and_options():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 256))
    fig = plot_reconstruction(
        x[np.newaxis], x, 100.0, scale=1.0, unit="a.u.", fmin=1.0, fmax=30.0, title="t"
    )
    assert len(fig.axes) == 5  # first four channels + spectrum
    assert fig.axes[3].get_ylabel() == "ch3 (a.u.)"
    freqs = fig.axes[4].get_lines()[0].get_xdata()
    assert freqs.min() >= 1.0 and freqs.max() <= 30.0
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), x[0])
    assert fig.get_suptitle() == "t"


@pytest.mark.parametrize(
    ("x", "x_hat", "kwargs", "match"),
    [
        (np.zeros((2, 3, 64)), np.zeros((2, 3, 64)), {}, "one window"),
        (np.zeros((3, 64)), np.zeros((3, 32)), {}, "same shape"),
        (np.full((3, 64), np.nan), np.zeros((3, 64)), {}, "finite"),
        (np.zeros((3, 64)), np.zeros((3, 64)), {"picks": ["Oz"]}, "not in"),
        (np.zeros((3, 64)), np.zeros((3, 64)), {"picks": [5]}, r"indices in \[0, 3\)"),
        (np.zeros((3, 64)), np.zeros((3, 64)), {"ch_names": ["a"]}, "1 names for 3"),
    ],
)
def test_plot_reconstruction_errors(x, x_hat, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_reconstruction(x, x_hat, 64.0, **kwargs)


# ----------------------------------------------------------------------------- confusion
def test_plot_confusion_matrix_values_and_labels():
    y_true = ["rest", "rest", "rest", "arithmetic", "arithmetic"]
    y_pred = ["rest", "arithmetic", "rest", "arithmetic", "rest"]
    fig = plot_confusion(y_true, y_pred, labels=["rest", "arithmetic"], title="held-out")
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # matrix and colour bar
    np.testing.assert_array_equal(
        ax.images[0].get_array(),
        confusion_matrix(y_true, y_pred, labels=["rest", "arithmetic"]),
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["rest", "arithmetic"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["rest", "arithmetic"]
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert ax.get_title() == "held-out"

    fig = plot_confusion(y_true, y_pred, normalize="true")
    rows = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
