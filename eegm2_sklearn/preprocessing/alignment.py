"""SubjectAlign: unsupervised per-subject alignment as a scikit-learn transformer."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..data import epochs_list_to_epochs
from ..data.alignment import METHODS, align_by_group
from ..data.checks import check_3d, check_finite
from ..validation import check_option

__all__ = ["SubjectAlign"]


class SubjectAlign(TransformerMixin, BaseEstimator):
    """Align each subject's EEG windows with statistics of that subject's own windows.

    Between-subject differences shift all windows of a subject alike; this step estimates
    the shift from the subject's **unlabelled** windows and removes it, for the training
    subjects at ``fit`` and for every new subject at ``transform``, so that a model sees
    windows that differ by brain state rather than by head. On cross-subject EEGMAT it is
    the largest single gain measured (see the benchmarks page).

    This is *transductive*: a new subject is aligned with statistics of the windows passed
    to ``transform`` (no labels are used). It is legitimate wherever a deployment has a
    block of the new subject's unlabelled EEG before it must decide (a calibration
    recording, or the session being analysed offline); it is not for deciding on a
    subject's first window alone. The windows of one subject passed together should
    cover the conditions the way a real recording would: aligning each condition's
    recording on its own (e.g. one EEGMAT file per state) removes the very difference to
    be detected.

    Parameters
    ----------
    method : {"euclidean", "riemann", "standardize"}
        ``"euclidean"`` (default): Euclidean alignment (He & Wu, 2019): whiten every window
        with the inverse square root of the subject's mean spatial covariance.
        ``"riemann"``: the same with the Riemannian mean (re-centring, Zanini et al.,
        2018). ``"standardize"``: per channel, the subject's median and interquartile range.
    by : str
        Column of ``Epochs.metadata`` that names the subject (default ``"subject"``, as
        :func:`~eegm2_sklearn.datasets.make_eegmat_epochs` writes it). Arrays take the
        subjects from ``groups`` instead.

    Attributes
    ----------
    alignments_ : dict
        Subject -> :class:`~eegm2_sklearn.data.alignment.Alignment` of the ``fit`` data;
        ``transform`` reuses these for subjects it has seen.
    n_chans_ : int
        Channels of the ``fit`` data.

    Notes
    -----
    For arrays, give the subject of each window as ``groups``: ``fit(X, groups=g)``,
    ``transform(X, groups=g)``. In a :class:`~sklearn.pipeline.Pipeline` this takes
    scikit-learn's metadata routing (``sklearn.set_config(enable_metadata_routing=True)``
    and ``SubjectAlign().set_fit_request(groups=True).set_transform_request(groups=True)``),
    and cross-validation routes ``groups`` to ``fit`` only, never to ``predict``: there,
    pass ``mne.Epochs`` whose metadata names the subject (``mne.EpochsArray(X, info,
    metadata=pandas.DataFrame({"subject": groups}))``), which carries it to every step.

    The output is the same kind as the input (Epochs come back as a new Epochs with the
    same metadata, a list of Epochs as one Epochs) and unitless: after
    ``"euclidean"``/``"riemann"`` each subject's average covariance is the identity.
    Give the next EEGM2 estimator ``scaling=None`` so that per-window scaling does not
    erase the power differences the alignment keeps.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 3, 128)) * np.repeat([1.0, 20.0], 20)[:, None, None]
    >>> groups = np.repeat(["s1", "s2"], 20)
    >>> Z = SubjectAlign().fit_transform(X, groups=groups)
    >>> [round(float(Z[groups == s].std()), 2) for s in ("s1", "s2")]
    [1.0, 1.0]
    """

    def __init__(self, method: str = "euclidean", by: str = "subject") -> None:
        self.method = method
        self.by = by

    def _check_params(self) -> None:
        check_option("method", self.method, METHODS)
        if not isinstance(self.by, str):
            raise ValueError(f"by must be a metadata column name (str); got {self.by!r}.")

    # ------------------------------------------------------------------ input
    def _unpack(self, X, groups):
        """``(array, groups, epochs or None)`` of any accepted input."""
        epochs = None
        if isinstance(X, (list, tuple)) and X and isinstance(X[0], mne.BaseEpochs):
            X = epochs_list_to_epochs(X)  # what cross-validation makes of an Epochs
        if isinstance(X, mne.BaseEpochs):
            epochs = X
            if groups is None:
                groups = self._groups_from_metadata(X)
            data = X.get_data(picks="data")
        else:
            data = np.asarray(X)
            if groups is None:
                raise ValueError(
                    "SubjectAlign needs the subject of each window: pass groups=<subject "
                    "per window> with an array, or mne.Epochs whose metadata has a "
                    f"{self.by!r} column."
                )
        check_3d(data)
        groups = np.asarray(groups)
        if groups.shape != (len(data),):
            raise ValueError(
                f"groups must give one subject per window: {len(data)} windows but groups "
                f"has shape {groups.shape}."
            )
        check_finite(data)
        if self.method == "riemann" and data.shape[2] <= data.shape[1]:
            raise ValueError(
                f"method='riemann' needs windows longer than the channel count (full-rank "
                f"covariances); got {data.shape[2]} samples for {data.shape[1]} channels. "
                "Use longer windows or method='euclidean'."
            )
        return data, groups, epochs

    def _groups_from_metadata(self, epochs):
        meta = epochs.metadata
        if meta is None or self.by not in meta.columns:
            have = [] if meta is None else list(meta.columns)
            raise ValueError(
                f"SubjectAlign(by={self.by!r}) reads the subject of each epoch from "
                f"epochs.metadata[{self.by!r}], but the metadata has columns {have}. Add "
                "the column (make_eegmat_epochs writes 'subject'), set by= to the column "
                "that names the subject, or pass groups=."
            )
        return meta[self.by].to_numpy()

    def _output(self, Z, epochs):
        if epochs is None:
            return Z
        picked = epochs.copy().pick("data")  # the channels that _unpack aligned
        meta = None if epochs.metadata is None else pd.DataFrame(epochs.metadata)
        return mne.EpochsArray(
            Z,
            picked.info,
            events=epochs.events,
            tmin=epochs.tmin,
            event_id=epochs.event_id,
            metadata=meta,
            verbose="error",
        )

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None, groups=None):
        """Estimate the alignment of every subject in ``X``.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_channels, n_times), mne.Epochs or list of Epochs
        y : None
            Ignored (labels are never used).
        groups : array-like, shape (n_windows,) or None
            Subject of each window; required for arrays, read from the metadata for Epochs.

        Returns
        -------
        self : SubjectAlign
        """
        self._fit(X, groups)
        return self

    def _fit(self, X, groups):
        self._check_params()
        data, groups, epochs = self._unpack(X, groups)
        Z, self.alignments_ = align_by_group(data, groups, self.method)
        self.n_chans_ = data.shape[1]
        return Z, epochs

    def fit_transform(self, X, y=None, groups=None):
        """:meth:`fit`, then :meth:`transform` of the same windows (computed once)."""
        Z, epochs = self._fit(X, groups)
        return self._output(Z, epochs)

    def transform(self, X, groups=None):
        """Align ``X``: fitted subjects with their fitted statistics, others with their own.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_channels, n_times), mne.Epochs or list of Epochs
        groups : array-like, shape (n_windows,) or None
            Subject of each window; required for arrays, read from the metadata for Epochs.

        Returns
        -------
        Xt : ndarray of float32 or mne.Epochs
            Aligned windows, the same kind as ``X``.
        """
        check_is_fitted(self)
        self._check_params()
        data, groups, epochs = self._unpack(X, groups)
        if data.shape[1] != self.n_chans_:
            raise ValueError(
                f"X has {data.shape[1]} channels but SubjectAlign was fitted on "
                f"{self.n_chans_}; pass the same channels."
            )
        Z, _ = align_by_group(data, groups, self.method, known=self.alignments_)
        return self._output(Z, epochs)
