"""Unsupervised per-subject alignment of EEG windows (the maths of ``SubjectAlign``).

Between-subject differences (skull, electrode contact, resting rhythm) move every window of a
subject the same way; estimating that shift from the subject's own unlabelled windows and
removing it is the single largest gain measured on cross-subject EEGMAT (docs/benchmarks.md).

Methods, each estimated per subject from all of that subject's windows:

- ``"euclidean"``: Euclidean alignment (He & Wu, 2019, IEEE TBME 67(2)): whiten every window
  with the inverse square root of the subject's arithmetic-mean spatial covariance, so that
  the subject's average covariance becomes the identity. Relative power between a subject's
  windows (what separates rest from arithmetic) is kept; the subject's overall scale and
  spatial mixing are removed.
- ``"riemann"``: the same whitening with the Riemannian (affine-invariant) mean of the
  covariances (each shrunk with OAS), the re-centring of Zanini et al. (2018, IEEE TBME
  65(5)) applied to the signals.
- ``"standardize"``: per channel, subtract the subject's median and divide by its
  interquartile range over all samples of all its windows (no spatial whitening).

Covariances and means come from pyRiemann.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Alignment methods, as accepted by :func:`fit_alignment`.
METHODS = ("euclidean", "riemann", "standardize")


def _pyriemann():
    """pyRiemann's inverse square root and Riemannian mean (module paths moved in 0.12)."""
    try:
        from pyriemann.geometry.base import invsqrtm
        from pyriemann.geometry.mean import mean_riemann
    except ImportError:  # pyRiemann < 0.12
        from pyriemann.utils.base import invsqrtm
        from pyriemann.utils.mean import mean_riemann
    return invsqrtm, mean_riemann


@dataclass(frozen=True)
class Alignment:
    """What aligning one subject's windows takes.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    n_windows : int
        Windows the statistics were estimated from.
    matrix : ndarray, shape (n_channels, n_channels) or None
        Whitening matrix (``"euclidean"``, ``"riemann"``).
    center, scale : ndarray, shape (n_channels,) or None
        Median and interquartile range (``"standardize"``).
    """

    method: str
    n_windows: int
    matrix: np.ndarray | None = None
    center: np.ndarray | None = None
    scale: np.ndarray | None = None

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Align windows ``X`` of shape (n, n_channels, n_times); float32 out."""
        if self.method == "standardize":
            out = (X - self.center[None, :, None]) / self.scale[None, :, None]
        else:
            centred = X - X.mean(axis=-1, keepdims=True)
            # (c, d) x (n, d, t) -> (n, c, t)
            out = np.einsum("cd,ndt->nct", self.matrix, centred)
        return out.astype(np.float32, copy=False)


def fit_alignment(X: np.ndarray, method: str = "euclidean") -> Alignment:
    """Estimate one subject's :class:`Alignment` from its windows.

    Parameters
    ----------
    X : ndarray, shape (n_windows, n_channels, n_times)
        All (unlabelled) windows of one subject.
    method : {"euclidean", "riemann", "standardize"}

    Returns
    -------
    alignment : Alignment

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 3, 256)) * np.array([1.0, 5.0, 0.2])[:, None]
    >>> Z = fit_alignment(X, "euclidean").apply(X)
    >>> cov = np.einsum("nct,ndt->cd", Z, Z) / (20 * 256)
    >>> bool(np.allclose(cov, np.eye(3), atol=0.02))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    if method == "standardize":
        flat = X.transpose(1, 0, 2).reshape(X.shape[1], -1)
        q25, median, q75 = np.percentile(flat, [25, 50, 75], axis=1)
        iqr = q75 - q25
        return Alignment(method, len(X), center=median, scale=np.where(iqr > 0, iqr, 1.0))
    from pyriemann.estimation import Covariances

    # one window's covariance can be (nearly) singular (EEGMAT's are, after its ICA
    # cleaning); the Riemannian mean of such matrices inherits a near-zero eigenvalue that
    # the whitening would blow up, so that method shrinks each one (OAS) first
    estimator = "cov" if method == "euclidean" else "oas"
    covs = Covariances(estimator=estimator).fit_transform(X)
    return Alignment(method, len(X), matrix=whitening_matrix(covs, method))


def whitening_matrix(covs: np.ndarray, method: str = "euclidean") -> np.ndarray:
    """``W`` such that ``W @ mean(covs) @ W.T`` is the identity.

    Parameters
    ----------
    covs : ndarray, shape (n, n_channels, n_channels)
        Covariance matrices of one subject's windows.
    method : {"euclidean", "riemann"}
        The arithmetic mean, or the Riemannian (affine-invariant) mean.

    Returns
    -------
    W : ndarray, shape (n_channels, n_channels)
        The inverse square root of the mean.

    Examples
    --------
    >>> import numpy as np
    >>> covs = np.stack([np.diag([1.0, 4.0]), np.diag([1.0, 16.0])])
    >>> np.round(whitening_matrix(covs, "riemann"), 3)  # Riemannian mean diag(1, 8)
    array([[1.   , 0.   ],
           [0.   , 0.354]])
    """
    invsqrtm, mean_riemann = _pyriemann()
    # EEG in volts has covariances near 1e-10: on a unit scale the Riemannian mean's
    # iteration converges (its tolerance is absolute), and a ridge keeps the inverse of a
    # flat or duplicated channel finite
    unit = np.trace(covs.mean(axis=0)) / covs.shape[1]
    covs = covs / unit + 1e-10 * np.eye(covs.shape[1])
    mean = covs.mean(axis=0) if method == "euclidean" else mean_riemann(covs)
    return invsqrtm(mean) / np.sqrt(unit)


def align_by_group(
    X: np.ndarray,
    groups: np.ndarray,
    method: str = "euclidean",
    known: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Align each group's windows with its own statistics.

    Parameters
    ----------
    X : ndarray, shape (n_windows, n_channels, n_times)
    groups : array-like, shape (n_windows,)
        The subject (or session) of each window.
    method : {"euclidean", "riemann", "standardize"}
    known : dict or None
        Alignments already estimated (group -> :class:`Alignment`); these groups reuse
        them instead of estimating from ``X``.

    Returns
    -------
    X_aligned : ndarray of float32, shape (n_windows, n_channels, n_times)
    alignments : dict
        Group -> :class:`Alignment` used, for every group in ``groups``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((6, 2, 64))
    >>> Z, used = align_by_group(X * [[1], [10]], np.array([0, 0, 0, 1, 1, 1]), "standardize")
    >>> Z.shape, sorted(used)
    ((6, 2, 64), [0, 1])
    """
    groups = np.asarray(groups)
    known = known or {}
    out = np.empty(X.shape, dtype=np.float32)
    used = {}
    for group in np.unique(groups):
        rows = groups == group
        key = group.item() if hasattr(group, "item") else group
        alignment = known.get(key) or fit_alignment(X[rows], method)
        out[rows] = alignment.apply(X[rows])
        used[key] = alignment
    return out, used
