"""The models the benchmark compares: band power, braindecode networks, EEGM2."""

from __future__ import annotations

import numpy as np

from .config import (
    BANDS,
    BRAINDECODE_MODELS,
    BRAINDECODE_OPTIM,
    PRETRAINED_MODELS,
    RIEMANN_BANDS,
    SFREQ,
)


def log_band_power(X: np.ndarray) -> np.ndarray:
    """log10 mean Welch power per band and channel: (n, C, T) -> (n, C * n_bands)."""
    from mne.time_frequency import psd_array_welch

    n_fft = min(X.shape[-1], int(2 * SFREQ))
    psd, freqs = psd_array_welch(
        X.astype(np.float64), SFREQ, fmin=1.0, fmax=45.0, n_fft=n_fft, verbose=False
    )
    bands = [psd[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in BANDS.values()]
    return np.log10(np.stack(bands, axis=-1) + 1e-30).reshape(len(X), -1)


def scaled(X: np.ndarray) -> np.ndarray:
    from eegm2_sklearn.data import scale_windows

    return scale_windows(X, "robust")[0]


def class_weights(y: np.ndarray) -> np.ndarray:
    from sklearn.utils.class_weight import compute_class_weight

    return compute_class_weight("balanced", classes=np.array([0, 1]), y=y)


def positive_score(output: np.ndarray) -> np.ndarray:
    """Score of class 1 from logits, log-probabilities or probabilities of 2 classes."""
    output = np.asarray(output, dtype=np.float64)
    return output[:, 1] - output[:, 0]


def standardise_per_subject(F: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each feature standardised over the windows of its subject (labels unused)."""
    out = np.empty(F.shape, dtype=np.float64)
    for g in np.unique(groups):
        rows = groups == g
        sd = F[rows].std(axis=0)
        out[rows] = (F[rows] - F[rows].mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return out


def aligned(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Euclidean alignment per subject, as ``SubjectAlign()`` does it."""
    from eegm2_sklearn.data import align_by_group

    return align_by_group(X, groups, "euclidean")[0]


def _linear(F_tr, y_tr, F_te):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(
        StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000)
    )
    pipe.fit(F_tr, y_tr)
    return lambda: (pipe.predict(F_te), pipe.predict_proba(F_te)[:, 1])


def fit_bandpower(ctx, X_tr, y_tr, X_te):
    F_tr, F_te = log_band_power(X_tr), log_band_power(X_te)
    if ctx.calibrated:
        F_tr = standardise_per_subject(F_tr, ctx.groups_train)
        F_te = standardise_per_subject(F_te, ctx.groups_test)
    return _linear(F_tr, y_tr, F_te)


def band_covariances(X: np.ndarray) -> list[np.ndarray]:
    """OAS covariances (in uV^2) of the windows band-passed to each of RIEMANN_BANDS."""
    from mne.filter import filter_data
    from pyriemann.estimation import Covariances

    return [
        Covariances("oas").fit_transform(
            filter_data(X.astype(np.float64), SFREQ, lo, hi, verbose=False) * 1e6
        )
        for lo, hi in RIEMANN_BANDS.values()
    ]


def recentre(covs: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each subject's covariances moved so that their Riemannian mean is the identity."""
    from eegm2_sklearn.data import whitening_matrix

    out = np.empty_like(covs)
    for g in np.unique(groups):
        rows = groups == g
        W = whitening_matrix(covs[rows], "riemann")
        out[rows] = W @ covs[rows] @ W.T
    return out


def fit_riemann(ctx, X_tr, y_tr, X_te):
    from pyriemann.tangentspace import TangentSpace

    F_tr, F_te = [], []
    for c_tr, c_te in zip(band_covariances(X_tr), band_covariances(X_te), strict=True):
        ts = TangentSpace(metric="riemann")
        if ctx.calibrated:  # re-centred per subject: the tangent space at the identity
            c_tr, c_te = recentre(c_tr, ctx.groups_train), recentre(c_te, ctx.groups_test)
            ts.fit(c_tr)
            ts.reference_ = np.eye(c_tr.shape[1])
        else:  # at the Riemannian mean of the training windows
            ts.fit(c_tr)
        F_tr.append(ts.transform(c_tr))
        F_te.append(ts.transform(c_te))
    return _linear(np.concatenate(F_tr, 1), y_tr, np.concatenate(F_te, 1))


def deep_input(ctx, X: np.ndarray, part: str) -> np.ndarray:
    """What a braindecode model gets: aligned windows (calibrated) or robust-scaled ones."""
    if ctx.calibrated:
        return aligned(X, ctx.groups_train if part == "train" else ctx.groups_test)
    return scaled(X)


def fit_braindecode(name: str):
    def fit(ctx, X_tr, y_tr, X_te):
        import torch
        from braindecode import EEGClassifier
        from braindecode.models import EEGConformer, EEGNet, ShallowFBCSPNet
        from braindecode.util import set_random_seeds
        from skorch.callbacks import LRScheduler

        module = {"shallow": ShallowFBCSPNet, "eegnet": EEGNet, "conformer": EEGConformer}[name]
        lr, wd = BRAINDECODE_OPTIM[name]
        epochs = ctx.args.max_epochs
        set_random_seeds(ctx.args.seed, cuda=ctx.args.device == "cuda")
        clf = EEGClassifier(
            module,
            module__n_chans=X_tr.shape[1],
            module__n_outputs=2,
            module__n_times=X_tr.shape[2],
            criterion=torch.nn.CrossEntropyLoss,
            criterion__weight=torch.tensor(class_weights(y_tr), dtype=torch.float32),
            optimizer=torch.optim.AdamW,
            optimizer__lr=lr,
            optimizer__weight_decay=wd,
            batch_size=ctx.args.batch_size,
            max_epochs=epochs,
            train_split=None,
            callbacks=[("lr_scheduler", LRScheduler("CosineAnnealingLR", T_max=max(epochs, 1)))],
            device=ctx.args.device,
            classes=[0, 1],
            verbose=0,
        )
        clf.fit(deep_input(ctx, X_tr, "train"), y_tr)

        def predict():
            score = positive_score(clf.predict_proba(deep_input(ctx, X_te, "test")))
            return (score > 0).astype(np.int64), score

        return predict

    return fit


def eegm2_sizes(args) -> dict:
    return dict(
        base_width=args.eegm2_width,
        expand=args.eegm2_expand,
        headdim=args.eegm2_headdim,
        d_state=args.eegm2_d_state,
    )


#: Multiplier that turns volts into units of 10 uV for ``--eegm2-scaling none``.
UNSCALED_UNIT = 1e5


def eegm2_input(X: np.ndarray, args, groups: np.ndarray | None = None) -> np.ndarray:
    """Windows as the EEGM2 estimators get them: aligned per subject when ``groups`` are
    given (calibrated protocol), else as recorded (``--eegm2-scaling none``: in 10 uV)."""
    if groups is not None:
        return aligned(X, groups)
    return X * np.float32(UNSCALED_UNIT) if args.eegm2_scaling == "none" else X


def eegm2_common(args, calibrated: bool = False) -> dict:
    scaling = None if calibrated or args.eegm2_scaling == "none" else args.eegm2_scaling
    return dict(
        scaling=scaling,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        backend=args.eegm2_backend,
        random_state=args.seed,
        verbose=0,
    )


def fit_eegm2_classifier(pretrained: bool, variant: str = "full", head: str | None = None):
    def fit(ctx, X_tr, y_tr, X_te):
        from eegm2_sklearn import EEGM2Classifier

        g_tr, g_te = (ctx.groups_train, ctx.groups_test) if ctx.calibrated else (None, None)
        clf = EEGM2Classifier(
            pretrained=ctx.pretrainer() if pretrained else None,
            finetune="full",
            head=head or ctx.args.eegm2_head,
            variant=variant,
            class_weight="balanced",
            lr=ctx.args.eegm2_lr,
            max_epochs=ctx.args.eegm2_epochs,
            **eegm2_sizes(ctx.args),
            **eegm2_common(ctx.args, ctx.calibrated),
        )
        clf.fit(eegm2_input(X_tr, ctx.args, g_tr), y_tr)

        def predict():
            proba = clf.predict_proba(eegm2_input(X_te, ctx.args, g_te))
            return clf.classes_[proba.argmax(1)], proba[:, 1]

        return predict

    return fit


def fit_eegm2_probe(ctx, X_tr, y_tr, X_te):
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(
        FrozenEstimator(ctx.pretrainer()),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    g_tr, g_te = (ctx.groups_train, ctx.groups_test) if ctx.calibrated else (None, None)
    X_tr, X_te = eegm2_input(X_tr, ctx.args, g_tr), eegm2_input(X_te, ctx.args, g_te)
    pipe.fit(X_tr, y_tr)
    return lambda: (pipe.predict(X_te), pipe.predict_proba(X_te)[:, 1])


FITTERS = {
    "bandpower": fit_bandpower,
    "riemann": fit_riemann,
    "shallow": fit_braindecode("shallow"),
    "eegnet": fit_braindecode("eegnet"),
    "conformer": fit_braindecode("conformer"),
    "eegm2-scratch": fit_eegm2_classifier(pretrained=False),
    "eegm2-pretrained": fit_eegm2_classifier(pretrained=True),
    "eegm2-probe": fit_eegm2_probe,
    "eegm2-light": fit_eegm2_classifier(pretrained=True, variant="light", head="pool"),
}


def model_settings(name: str, args, calibrated: bool = False) -> dict:
    """What a CSV row records about a model's training."""
    protocol = {"protocol": "calibrated" if calibrated else "none"}
    return {**protocol, **_settings(name, args, calibrated)}


def _settings(name: str, args, calibrated: bool) -> dict:
    if name == "bandpower":
        return {"bands": BANDS, "welch_n_fft_s": 2.0, "C": 1.0}
    if name == "riemann":
        return {"bands": RIEMANN_BANDS, "covariance": "oas", "metric": "riemann", "C": 1.0}
    if name in BRAINDECODE_MODELS:
        lr, wd = BRAINDECODE_OPTIM[name]
        return {
            "lr": lr,
            "weight_decay": wd,
            "epochs": args.max_epochs,
            "schedule": "cosine",
            "batch_size": args.batch_size,
            "scaling": "euclidean alignment" if calibrated else "robust",
        }
    settings = {
        **eegm2_sizes(args),
        "batch_size": args.batch_size,
        "precision": args.precision,
        "backend": args.eegm2_backend,
        "scaling": "euclidean alignment" if calibrated else args.eegm2_scaling,
    }
    if name != "eegm2-probe":
        settings.update(
            epochs=args.eegm2_epochs,
            lr=args.eegm2_lr,
            head="pool" if name == "eegm2-light" else args.eegm2_head,
        )
    if name in PRETRAINED_MODELS:
        settings.update(
            pretrain_epochs=args.pretrain_epochs,
            pretrain_lr=args.pretrain_lr,
            pretrain_objective=args.pretrain_objective,
        )
    return settings
