"""EEGM2Classifier: EEGM2 fine-tuned for classification, as a scikit-learn classifier."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.special import softmax
from sklearn.base import ClassifierMixin, clone
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from skorch.dataset import Dataset

from ..data import EEGArray
from ..data.checks import (
    check_channels,
    check_classification_y,
    check_label_types,
    check_window_length,
)
from ..models import EEGM2Net, load_backbone_weights
from ..training import ClassificationNet
from .base import EEGM2Base
from .params import ARCH_PARAMS
from .pretrained import pretrained_weights
from .pretrainer import EEGM2Pretrainer


class EEGM2Classifier(ClassifierMixin, EEGM2Base):
    """EEGM2 with a classification head, trained end to end or on a frozen backbone.

    The defaults (pooled head, balanced class weights, 20 epochs at ``lr=5e-4``) were chosen
    on EEGMAT's training subjects. The paper's EEGM2 (Fine) is
    ``EEGM2Classifier(pretrained=pre, finetune="full", head="flatten", class_weight=None)``;
    its EEGM2 (Light) is ``variant="light", head="pool"``. Across subjects, put
    :class:`~eegm2_sklearn.preprocessing.SubjectAlign` before it with ``scaling=None``
    (see the user guide).

    Parameters
    ----------
    pretrained : EEGM2Pretrainer, str, os.PathLike or None
        A fitted :class:`~eegm2_sklearn.EEGM2Pretrainer` (also wrapped in
        :class:`sklearn.frozen.FrozenEstimator`) or a folder written by its
        ``save_pretrained``. The weights are loaded inside :meth:`fit`, and ``clone`` keeps
        the same fitted pretrainer, so cross-validation and grid search start from the
        pretrained weights in every fold. An *unfitted* EEGM2Pretrainer is fitted first, at
        every :meth:`fit`, on that fit's windows without their labels (a copy, stored as
        ``pretrainer_``), so that each cross-validation fold pretrains on its own training
        subjects only. The architecture
        (``base_width``, ``d_state``, ...) is then read from the pretrained model and the
        classifier's own architecture parameters are ignored. Channels must match the
        pretrained ones (count, and names and order when both are known).
    finetune : {"full", "frozen"}
        ``"full"`` trains every weight (paper's EEGM2 Fine); ``"frozen"`` trains the head
        only.
    head : {"pool", "flatten"}
        ``"pool"`` (default): nine statistics over time of each bottleneck channel ->
        ``Linear(., hidden)`` -> ReLU -> ``Linear(hidden, n_classes)``; any window length
        works. ``"flatten"``: the backbone output flattened (the reconstruction, ``C * T``
        values, for ``variant="full"``) -> the same MLP, as in the paper; windows at
        predict time must have the training length (on EEGMAT's training subjects it stayed
        at chance).
    variant : {"full", "light"}
        ``"full"``: the whole U-Net; ``"light"``: the embedding and encoders only (paper's
        EEGM2 Light, about 5 % of the parameters).
    class_weight : "balanced", None or dict
        Weights of the cross-entropy per class (``"balanced"``, the default: inverse class
        frequency in the training labels; None: equal weights, as in the paper).
    hidden : int
        Hidden units of the head (paper: 128).
    lr, max_epochs, batch_size, weight_decay, lr_schedule, gradient_clip_value, \
validation_split, patience, scaling, base_width, d_state, d_conv, expand, headdim, \
chunk_size, device, backend, precision, checkpointing, cuda_graphs, compile, \
num_workers, random_state, verbose, callbacks, checkpoint_dir, checkpoint_every, resume :
        As in :class:`~eegm2_sklearn.EEGM2Pretrainer`; ``validation_split`` is stratified
        by class.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        The labels, sorted; :meth:`predict_proba` columns follow this order.
    net_ : ClassificationNet
        The fitted skorch net.
    module_ : EEGM2Net
        The trained network.
    history_ : skorch.History
    n_chans_, n_times_, sfreq_, ch_names_, n_features_in_ :
        Shape of the training windows.

    Examples
    --------
    >>> import numpy as np
    >>> from eegm2_sklearn import EEGM2Classifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 4, 64)).astype("float32")
    >>> y = np.array(["rest", "task"] * 10)
    >>> clf = EEGM2Classifier(head="pool", max_epochs=2, batch_size=10, base_width=8,
    ...                       expand=2, headdim=8, d_state=4, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).tolist()  # doctest: +SKIP
    ['rest', 'task', 'rest']
    >>> clf.predict_proba(X).shape
    (20, 2)
    """

    _net_class = ClassificationNet

    def __sklearn_clone__(self):
        """Clone the parameters, but share ``pretrained``.

        A fitted :class:`~eegm2_sklearn.EEGM2Pretrainer` given as ``pretrained`` is an input
        (its weights), not a sub-estimator to refit: ``clone`` — and so
        ``cross_val_score`` and ``GridSearchCV`` — keep the same fitted object, which is
        only read in :meth:`fit`.
        """
        params = self.get_params(deep=False)
        pretrained = params.pop("pretrained")
        clone_params = {k: clone(v, safe=False) for k, v in params.items()}
        return type(self)(pretrained=pretrained, **clone_params)

    def __init__(
        self,
        pretrained=None,
        finetune: str = "full",
        head: str = "pool",
        variant: str = "full",
        class_weight="balanced",
        hidden: int = 128,
        *,
        lr: float = 5e-4,
        max_epochs: int = 20,
        batch_size: int = 64,
        weight_decay: float = 1e-2,
        lr_schedule: str = "onecycle",
        gradient_clip_value: float | None = 1.0,
        validation_split=None,
        patience: int | None = None,
        scaling: str | None = "robust",
        base_width: int = 64,
        d_state: int = 16,
        d_conv: int = 2,
        expand: int = 8,
        headdim: int = 64,
        chunk_size: int = 256,
        device="auto",
        backend: str = "auto",
        precision: str = "32",
        checkpointing: bool | str = False,
        cuda_graphs: bool | str = "auto",
        compile: bool = False,
        num_workers: int = 0,
        random_state=None,
        verbose: int = 1,
        callbacks=None,
        checkpoint_dir=None,
        checkpoint_every: int = 1,
        resume: bool = False,
    ) -> None:
        self.pretrained = pretrained
        self.finetune = finetune
        self.head = head
        self.variant = variant
        self.class_weight = class_weight
        self.hidden = hidden
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.gradient_clip_value = gradient_clip_value
        self.validation_split = validation_split
        self.patience = patience
        self.scaling = scaling
        self.base_width = base_width
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.headdim = headdim
        self.chunk_size = chunk_size
        self.device = device
        self.backend = backend
        self.precision = precision
        self.checkpointing = checkpointing
        self.cuda_graphs = cuda_graphs
        self.compile = compile
        self.num_workers = num_workers
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.resume = resume

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Train the classifier (loading pretrained weights first, if given).

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_channels, n_times), mne.Epochs, list of Epochs or
            braindecode windows dataset
            MNE objects are read in volts, arrays as given (see ``scaling``).
        y : array-like, shape (n_epochs,)
            Labels of any hashable type (strings, ints, ...).

        Returns
        -------
        self : EEGM2Classifier
        """
        self._validate_params()
        self._device()  # joins torchrun's process group, if any
        if y is not None:
            check_label_types(y)
        data = self._to_data(X, y)
        if data.y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "pass fit(X, y) with one label per epoch."
            )
        y = np.asarray(data.y)
        self.classes_ = check_classification_y(y)
        self._label_encoder = LabelEncoder().fit(self.classes_)
        y_enc = self._label_encoder.transform(y).astype(np.int64)
        weights = self._class_weights(y_enc)  # checked before any (pre)training
        self._record_shapes(data)

        self._pretrained_state, arch = None, {k: getattr(self, k) for k in ARCH_PARAMS}
        pretrained = self._pretrain_if_unfitted(data)
        if pretrained is not None:
            self._pretrained_state, config = pretrained_weights(pretrained)
            arch = dict(config["architecture"])
            self._check_pretrained_compat(config, data)
        self.architecture_ = arch

        Z, _ = self._scale(data.X)
        seed = self._training_seed()
        train, valid = self._split(len(Z), y_enc, seed)
        net = self._make_net(
            EEGM2Net,
            dict(
                n_chans=self.n_chans_,
                n_outputs=len(self.classes_),
                n_times=self.n_times_,
                sfreq=self.sfreq_,
                head=self.head,
                variant=self.variant,
                hidden=self.hidden,
                **{**self._arch_kwargs(), **arch},
            ),
            torch.nn.CrossEntropyLoss,
            {"weight": weights},
            n_train=len(train),
            valid_dataset=None if valid is None else Dataset(Z[valid], y_enc[valid]),
            device=self._device(),
            seed=seed,
        )
        self.net_ = self._fit_net(net, Z[train], y_enc[train], seed)
        del self._pretrained_state
        return self

    def _pretrain_if_unfitted(self, data):
        """``pretrained``, or a clone of it fitted on ``data`` when it is an unfitted
        EEGM2Pretrainer (kept as ``pretrainer_``)."""
        pretrained = self.pretrained
        if isinstance(pretrained, EEGM2Pretrainer) and not hasattr(pretrained, "net_"):
            pretrained = clone(pretrained).fit(EEGArray(data.X, data.sfreq, data.ch_names))
            self.pretrainer_ = pretrained
        return pretrained

    def _check_pretrained_compat(self, config: dict, data) -> None:
        try:
            check_channels(config["n_chans"], config.get("ch_names"), data.n_chans, data.ch_names)
        except ValueError as err:
            raise ValueError(
                "The data do not match the channels of the pretrained model: "
                + str(err).replace("the estimator was fitted on", "the pretrained model has")
            ) from None
        if config.get("sfreq") and data.sfreq and not np.isclose(config["sfreq"], data.sfreq):
            warnings.warn(
                f"The pretrained model was trained at {config['sfreq']:g} Hz and the data are "
                f"at {data.sfreq:g} Hz; resample the data to {config['sfreq']:g} Hz for the "
                "pretrained filters to mean the same frequencies.",
                UserWarning,
                stacklevel=3,
            )
        if config.get("scaling", self.scaling) != self.scaling:
            warnings.warn(
                f"The pretrained model used scaling={config['scaling']!r}, this classifier "
                f"uses scaling={self.scaling!r}; set the same scaling to keep the inputs "
                "the pretrained weights expect.",
                UserWarning,
                stacklevel=3,
            )

    def _class_weights(self, y_enc: np.ndarray) -> torch.Tensor | None:
        """The loss weight of each class; refuses labels not in ``y`` and all-zero weights."""
        if self.class_weight is None:
            return None
        present = np.arange(len(self.classes_))
        if self.class_weight == "balanced":
            weights = compute_class_weight("balanced", classes=present, y=y_enc)
            return torch.as_tensor(weights, dtype=torch.float32)
        labels = self.classes_.tolist()
        unknown = [k for k in self.class_weight if k not in labels]
        if unknown:
            as_given = [k for k in unknown if str(k) in map(str, labels)]
            hint = (
                f" The keys must be the labels themselves, with their type: {as_given[0]!r} "
                f"is not {labels[[str(c) for c in labels].index(str(as_given[0]))]!r}."
                if as_given
                else ""
            )
            raise ValueError(
                f"class_weight names labels that are not in y: {unknown!r:.200}; the labels "
                f"are {labels!r:.200}.{hint} Give weights for these labels (a label left "
                "out gets weight 1), or use class_weight='balanced'."
            )
        weights = np.array([float(self.class_weight.get(c, 1.0)) for c in labels])
        if not weights.any():
            raise ValueError(
                f"class_weight={self.class_weight!r:.200} gives every class of y "
                f"({labels!r:.200}) weight 0, so the loss would be 0/0 (NaN) from the first "
                "batch. Give at least one class a weight > 0, or use class_weight='balanced'."
            )
        return torch.as_tensor(weights, dtype=torch.float32)

    def _fingerprint_extra(self) -> dict:
        """The classes (and so the head's outputs) a checkpoint was trained for."""
        return {"classes": self.classes_.tolist(), "n_outputs": len(self.classes_)}

    def _after_initialize(self, net) -> None:
        if self._pretrained_state is not None:
            load_backbone_weights(net.module_.backbone, self._pretrained_state)
        if self.finetune == "frozen":
            for p in net.module_.backbone.parameters():
                p.requires_grad_(False)

    # ------------------------------------------------------------------ inference
    def _logits(self, X) -> np.ndarray:
        data = self._check_predict_data(X)
        if self.head == "flatten":
            check_window_length(self.n_times_, data.n_times, data.sfreq)
        Z, _ = self._scale(data.X)
        return self._inference(Z, lambda m, xb: m(xb))

    def decision_function(self, X) -> np.ndarray:
        """Class scores (logits).

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_channels, n_times), mne.Epochs or list of Epochs

        Returns
        -------
        scores : ndarray, shape (n_epochs,) for two classes, else (n_epochs, n_classes)
            For two classes, the score of ``classes_[1]`` against ``classes_[0]``.
        """
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_channels, n_times), mne.Epochs or list of Epochs

        Returns
        -------
        proba : ndarray, shape (n_epochs, n_classes)
            Columns in the order of ``classes_``.
        """
        return softmax(self._logits(X).astype(np.float64), axis=1)

    def predict(self, X) -> np.ndarray:
        """Predicted labels (of the type given to :meth:`fit`).

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_channels, n_times), mne.Epochs or list of Epochs

        Returns
        -------
        y_pred : ndarray, shape (n_epochs,)
        """
        logits = self._logits(X)
        return self.classes_[np.argmax(logits, axis=1)]
