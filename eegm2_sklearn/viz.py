"""Figures for EEGM2 models: training curves, reconstructions and confusion matrices.

Every function returns a :class:`matplotlib.figure.Figure` and draws nothing else, so it
works in scripts (save the figure), notebooks and the documentation's gallery alike.
matplotlib is imported when a function is called, not with the package.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["plot_confusion", "plot_history", "plot_reconstruction"]


def _history_rows(estimator_or_history) -> list[dict]:
    """The per-epoch rows of a fitted estimator, a skorch net or History, or a list of dicts."""
    obj = estimator_or_history
    if hasattr(obj, "steps") and hasattr(obj, "named_steps"):  # a Pipeline: its last step
        obj = obj.steps[-1][1]
    if not isinstance(obj, (list, tuple)):
        for attr in ("history_", "history"):
            try:
                obj = getattr(obj, attr)
            except AttributeError:  # not there, or an unfitted estimator (NotFittedError)
                continue
            break
    if isinstance(obj, (list, tuple)) and all(isinstance(row, dict) for row in obj):
        return list(obj)
    raise TypeError(
        "plot_history expects a fitted EEGM2Pretrainer or EEGM2Classifier (or a Pipeline "
        "ending in one), a skorch net, a skorch History or a list of per-epoch dicts; got "
        f"{type(estimator_or_history).__name__}. Fit the estimator before plotting."
    )


def plot_history(
    estimator_or_history,
    ax=None,
    *,
    keys: Sequence[str] = ("train_loss", "valid_loss"),
    logy: bool = False,
    title: str | None = None,
):
    """Plot the loss per training epoch.

    Parameters
    ----------
    estimator_or_history : estimator, skorch net, skorch History or list of dict
        A fitted :class:`~eegm2_sklearn.EEGM2Pretrainer` or
        :class:`~eegm2_sklearn.EEGM2Classifier` (its ``history_``), a
        :class:`~sklearn.pipeline.Pipeline` ending in one, a skorch ``NeuralNet`` (its
        ``history``), a skorch ``History``, or a list of dicts with one row per epoch.
    ax : matplotlib.axes.Axes | None
        Axes to draw into; ``None`` makes a new figure.
    keys : sequence of str
        History columns to draw, one line each; columns that no epoch has are left out
        (``valid_loss`` exists only with ``validation_split``).
    logy : bool
        Logarithmic loss axis.
    title : str | None
        Axes title; ``None`` leaves it empty.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes; a line per drawn key, labelled with the key, x = epoch number
        (1-based), y = the value.

    Raises
    ------
    TypeError
        If no history can be found in ``estimator_or_history``.
    ValueError
        If none of ``keys`` is in the history.

    Examples
    --------
    >>> from eegm2_sklearn.viz import plot_history
    >>> history = [{"epoch": 1, "train_loss": 2.0, "valid_loss": 2.5},
    ...            {"epoch": 2, "train_loss": 1.0, "valid_loss": 1.5}]
    >>> fig = plot_history(history)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['train_loss', 'valid_loss']
    """
    import matplotlib.pyplot as plt

    rows = _history_rows(estimator_or_history)
    drawn = [k for k in keys if any(k in row for row in rows)]
    if not drawn:
        available = sorted({k for row in rows for k in row})
        raise ValueError(
            f"None of the keys {list(keys)} is in the history (it has {available}); "
            "pass keys= with column names from it."
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    else:
        fig = ax.figure
    for key in drawn:
        epochs = [row.get("epoch", i + 1) for i, row in enumerate(rows) if key in row]
        values = [float(row[key]) for row in rows if key in row]
        ax.plot(epochs, values, marker="o", markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def _window(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 1:
        a = a[np.newaxis]
    if a.ndim != 2:
        raise ValueError(
            f"{name} must be one window of shape (n_channels, n_times); got shape {a.shape}. "
            f"Pass a single epoch, e.g. {name}[0] of a (n_epochs, n_channels, n_times) array."
        )
    return a


def _pick_indices(picks, ch_names: list[str], n_chans: int) -> list[int]:
    if picks is None:
        return list(range(min(n_chans, 4)))
    if isinstance(picks, (str, int, np.integer)):
        picks = [picks]
    out = []
    for p in picks:
        if isinstance(p, str):
            if p not in ch_names:
                raise ValueError(f"picks names channel {p!r}, which is not in {ch_names}.")
            out.append(ch_names.index(p))
        elif isinstance(p, (int, np.integer)) and -n_chans <= p < n_chans:
            out.append(int(p) % n_chans)
        else:
            raise ValueError(
                f"picks must hold channel names or indices in [0, {n_chans}); got {p!r}."
            )
    if not out:
        raise ValueError("picks is empty; pass at least one channel name or index.")
    return out


def plot_reconstruction(
    x,
    x_hat,
    sfreq: float,
    ch_names: Sequence[str] | None = None,
    picks=None,
    *,
    scale: float = 1e6,
    unit: str = "µV",
    fmin: float = 0.0,
    fmax: float | None = None,
    n_fft: int | None = None,
    title: str | None = None,
):
    """Plot a window beside its reconstruction, in time and as power spectra.

    The left column has one axes per picked channel with the original and the
    reconstructed trace over time; the right axes has the power spectral density of both,
    averaged over the picked channels, in decibels as MNE plots spectra
    (``10 * log10(psd)`` of the scaled data). The spectra are Welch estimates from
    :func:`mne.time_frequency.psd_array_welch`.

    Parameters
    ----------
    x, x_hat : ndarray, shape (n_channels, n_times)
        One window and its reconstruction (e.g. from
        :meth:`EEGM2Pretrainer.reconstruct <eegm2_sklearn.EEGM2Pretrainer.reconstruct>`);
        ``(1, n_channels, n_times)`` is accepted too.
    sfreq : float
        Sampling rate in Hz.
    ch_names : sequence of str | None
        Channel names (default ``"ch0"``, ``"ch1"``, ...).
    picks : str | int | list of str or int | None
        Channels to draw, by name or index; ``None`` draws the first four.
    scale : float
        Factor from the data's unit to ``unit``: ``1e6`` for MNE data in volts shown in
        microvolts (default); ``1.0`` for data already in the unit to show.
    unit : str
        Unit of the scaled data, used in the axis labels.
    fmin, fmax : float | None
        Frequency range of the spectrum in Hz (``fmax=None``: Nyquist).
    n_fft : int | None
        Welch segment length in samples; default ``min(n_times, 2 * sfreq)`` (2-s
        segments, 0.5 Hz resolution).
    title : str | None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        ``len(picks) + 1`` axes: per picked channel an axes with two lines (labels
        ``"original"`` and ``"reconstruction"``, x in seconds, y in ``unit``), then the
        spectrum axes with the same two lines (x in Hz, y in dB).

    Raises
    ------
    ValueError
        If ``x`` and ``x_hat`` differ in shape, are not single windows, hold non-finite
        values, or ``picks`` names unknown channels.

    Examples
    --------
    >>> import numpy as np
    >>> from eegm2_sklearn.viz import plot_reconstruction
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((3, 512)) * 1e-5  # volts
    >>> x_hat = 0.9 * x
    >>> fig = plot_reconstruction(x, x_hat, sfreq=128.0, ch_names=["Fz", "Cz", "Pz"],
    ...                           picks=["Cz", "Pz"])
    >>> len(fig.axes)
    3
    >>> fig.axes[0].get_ylabel()
    'Cz (µV)'
    """
    import matplotlib.pyplot as plt
    from mne.time_frequency import psd_array_welch

    x, x_hat = _window("x", x), _window("x_hat", x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(
            f"x and x_hat must have the same shape (n_channels, n_times); got {x.shape} and "
            f"{x_hat.shape}."
        )
    if not (np.isfinite(x).all() and np.isfinite(x_hat).all()):
        raise ValueError("x and x_hat must hold finite values; found NaN or inf.")
    if not sfreq > 0:
        raise ValueError(f"sfreq must be a positive number of Hz; got {sfreq!r}.")
    n_chans, n_times = x.shape
    names = list(ch_names) if ch_names is not None else [f"ch{i}" for i in range(n_chans)]
    if len(names) != n_chans:
        raise ValueError(f"ch_names has {len(names)} names for {n_chans} channels.")
    idx = _pick_indices(picks, names, n_chans)

    fig = plt.figure(figsize=(10, 1.2 + 1.3 * len(idx)), layout="constrained")
    grid = fig.add_gridspec(len(idx), 2, width_ratios=(2.2, 1))
    times = np.arange(n_times) / sfreq
    first = None
    for row, ch in enumerate(idx):
        ax = fig.add_subplot(grid[row, 0], sharex=first)
        first = first or ax
        ax.plot(times, x[ch] * scale, color="k", lw=0.8, label="original")
        ax.plot(times, x_hat[ch] * scale, color="C1", lw=0.8, alpha=0.85, label="reconstruction")
        ax.set_ylabel(f"{names[ch]} ({unit})")
        ax.grid(True, alpha=0.3)
        if row < len(idx) - 1:
            ax.tick_params(labelbottom=False)
    first.legend(loc="upper right", fontsize=8, ncols=2)
    ax.set_xlabel("time (s)")

    n_fft = int(n_fft) if n_fft is not None else int(min(n_times, round(2 * sfreq)))
    fmax = sfreq / 2 if fmax is None else fmax
    both = np.stack([x[idx], x_hat[idx]]) * scale
    psd, freqs = psd_array_welch(both, sfreq, fmin=fmin, fmax=fmax, n_fft=n_fft, verbose=False)
    psd_db = 10 * np.log10(np.maximum(psd, np.finfo(float).tiny)).mean(axis=1)
    ax_psd = fig.add_subplot(grid[:, 1])
    ax_psd.plot(freqs, psd_db[0], color="k", lw=1.0, label="original")
    ax_psd.plot(freqs, psd_db[1], color="C1", lw=1.0, label="reconstruction")
    ax_psd.set_xlabel("frequency (Hz)")
    ax_psd.set_ylabel(f"PSD ({unit}²/Hz, dB)")
    ax_psd.set_title(
        "mean over "
        + ("channel " if len(idx) == 1 else "channels ")
        + ", ".join(names[i] for i in idx),
        fontsize=9,
    )
    ax_psd.grid(True, alpha=0.3)
    ax_psd.legend(fontsize=8)
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_confusion(
    y_true,
    y_pred,
    labels=None,
    *,
    normalize: str | None = None,
    ax=None,
    cmap: str = "Blues",
    title: str | None = None,
):
    """Plot a confusion matrix with scikit-learn's ConfusionMatrixDisplay.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_samples,)
        True and predicted labels (any label type).
    labels : array-like | None
        Order of the classes on both axes; default: sorted union of both.
    normalize : {"true", "pred", "all"} | None
        Normalise counts over true rows, predicted columns or all; ``None``: counts.
    ax : matplotlib.axes.Axes | None
        Axes to draw into; ``None`` makes a new figure.
    cmap : str
        Colour map.
    title : str | None
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The matrix axes (rows: true label, columns: predicted label) and its colour bar.

    See Also
    --------
    sklearn.metrics.ConfusionMatrixDisplay.from_predictions : what draws it.

    Examples
    --------
    >>> from eegm2_sklearn.viz import plot_confusion
    >>> fig = plot_confusion(["rest", "rest", "task"], ["rest", "task", "task"])
    >>> fig.axes[0].get_xlabel()
    'Predicted label'
    """
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4), layout="constrained")
    display = ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=labels, normalize=normalize, ax=ax, cmap=cmap, colorbar=True
    )
    if title is not None:
        display.ax_.set_title(title)
    return display.figure_
