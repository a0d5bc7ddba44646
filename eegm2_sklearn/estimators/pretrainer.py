"""EEGM2Pretrainer: self-supervised EEGM2 pretraining as a scikit-learn transformer."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import TransformerMixin
from torch.utils.data import Subset

from ..data import inverse_scale_windows, is_streamable, stream_windows
from ..models import EEGM2, STATISTICS, TemporalSpectralLoss, bottleneck_mean, bottleneck_statistics
from ..training import MaskedReconstructionNet, ReconstructionNet
from .base import EEGM2Base
from .pretrained import SavePretrainedMixin


class EEGM2Pretrainer(TransformerMixin, SavePretrainedMixin, EEGM2Base):
    """Self-supervised EEGM2: learn to reconstruct EEG windows, then extract features.

    Trains the EEGM2 U-Net (Mamba-2 blocks, multi-branch embedding) to reconstruct its
    input with the temporal-spectral loss, without labels. By default random spans of time
    are hidden from the input first (``objective="masked"``), so the network must infer
    them from their context; ``objective="reconstruct"`` is the paper's plain
    reconstruction, which its full-resolution skip connection can solve by copying.
    :meth:`transform` then gives the paper's linear-probe features: nine statistics over time
    of each bottleneck channel, so ``make_pipeline(EEGM2Pretrainer(), LogisticRegression())``
    is the paper's EEGM2 (Linear). The weights carry into
    :class:`~eegm2_sklearn.EEGM2Classifier` through ``pretrained=``.

    Parameters
    ----------
    window_seconds : float or None
        Length of the windows cut from continuous recordings (``mne.io.Raw`` or a list of
        Raw) with braindecode. Required for Raw input; ignored for windowed input.
    window_stride_seconds : float or None
        Stride between those windows (default: ``window_seconds``, no overlap).
    alpha, beta : float
        Weights of the temporal L1 and spectral terms of the loss (paper: 1 and 1).
    features : {"stats", "mean"}
        What :meth:`transform` returns: the paper's nine statistics per bottleneck channel
        (``9 * 4 * base_width`` = 2304 features) or the time-mean of each channel (256).
    objective : {"masked", "reconstruct"}
        ``"masked"`` (default, chosen on EEGMAT's training subjects): each training window
        has ``mask_ratio`` of its time hidden (zeroed on every channel) in spans of
        ``mask_span`` samples, and the loss compares the output with the whole window.
        ``"reconstruct"``: the paper's plain reconstruction of the unmasked window.
    mask_ratio : float
        Fraction of each window hidden by ``objective="masked"`` (default 0.5).
    mask_span : int
        Length of each hidden span in samples (default 64: 0.5 s at 128 Hz).
    mask_loss : {"all", "masked"}
        ``"all"`` (default): the loss over the whole window; ``"masked"``: over the hidden
        spans only.
    lr : float
        Peak learning rate of AdamW (paper: 5e-4).
    max_epochs : int
        Training epochs.
    batch_size : int
        Windows per batch (paper: 64). Also the batch size of inference.
    weight_decay : float
        AdamW weight decay (paper: 1e-2); not applied to ``A_log``, ``D``, ``dt_bias``.
    lr_schedule : {"onecycle", "constant"}
        ``"onecycle"``: one-cycle schedule peaking at ``lr`` after 10 % of the steps, as in
        the paper (constant when training has fewer than 4 steps in all); ``"constant"``:
        ``lr`` throughout.
    gradient_clip_value : float or None
        Gradient norm clipping (paper: 1.0).
    validation_split : None, float, int or CV splitter
        Held-out windows for the validation loss: a fraction, a number of folds (the
        first fold is held out), or a scikit-learn splitter. None trains on everything.
        Windows are split at random: windows of one recording land on both sides.
    patience : int or None
        Early stopping on the validation loss (training loss without validation).
    scaling : {"robust", "percentile95", None}
        Per-window, per-channel scaling before the network: ``"robust"`` subtracts the
        median and divides by the interquartile range; ``"percentile95"`` divides by the 95th
        percentile of ``|x|`` (the paper's TUAB scaling); None uses the data as given.
        Scaling makes the model independent of the unit (volts, microvolts).
    base_width, d_state, d_conv, expand, headdim, chunk_size : int
        Network size (paper: 64, 16, 2, 8, 64, 256).
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    backend : {"auto", "torch", "mamba_ssm"}
        SSD scan implementation; ``"auto"`` uses mamba-ssm's kernels on CUDA when installed.
    precision : {"32", "bf16"}
        ``"bf16"`` runs the network under bfloat16 autocast (GPU); the loss stays float32.
    checkpointing : bool or "light"
        Recompute the Mamba blocks in the backward pass instead of storing their activations
        (less memory on long windows, some extra time); ``"light"`` recomputes only the
        convolutions and norms around each scan, which is never run twice.
    cuda_graphs : "auto" or bool
        Record the forward and backward pass of the first training batch as CUDA graphs
        and replay them for every batch of that shape (the last, smaller batch runs
        eagerly): at short windows, where launching kernels from Python leaves the GPU
        waiting, this shortens training steps (numbers on the performance page). Applies
        on a CUDA device in one process; ignored on the CPU and under ``torchrun``.
        ``"auto"`` (default) records with mamba-ssm's scan and not with the PyTorch scan,
        whose recordable form needs more memory on long windows; True records with
        either. Results equal eager training up to rounding.
    compile : bool
        Run the passes of ``fit`` (training and validation) under :func:`torch.compile`,
        which fuses the work around each scan. Compilation takes minutes at the start of
        ``fit`` and pays back on long windows and long runs (numbers on the performance
        page); predictions after ``fit`` run uncompiled. With ``compile=True``,
        ``cuda_graphs="auto"`` records no graphs.
    num_workers : int
        DataLoader worker processes.
    random_state : int, RandomState or None
        Seed of initialisation, shuffling and the validation split. The same seed and
        data give the same weights on CPU.
    verbose : int
        1 (default): a line per epoch with the losses and its duration (skorch's table),
        and a progress bar when an epoch has many batches; 0: silent.
    callbacks : list or None
        Extra skorch callbacks (or ``(name, callback)`` tuples).
    checkpoint_dir : str, os.PathLike or None
        Folder for checkpoints of the training state (weights, optimiser, scheduler,
        random generators, history; written atomically). Saved every ``checkpoint_every``
        epochs, after the last epoch, and on SIGINT/SIGTERM (after the current batch; then
        ``fit`` stops). None writes none.
    checkpoint_every : int
        Epochs between checkpoints.
    resume : bool
        Continue from the newest checkpoint in ``checkpoint_dir`` (start afresh when there
        is none). With the same data and settings the final weights equal those of an
        uninterrupted run (bit for bit on CPU).

    Attributes
    ----------
    net_ : ReconstructionNet
        The fitted skorch net.
    module_ : EEGM2
        The trained network.
    history_ : skorch.History
        Per-epoch ``train_loss`` (and ``valid_loss``), ``dur``, ...
    n_chans_, n_times_, sfreq_, ch_names_ :
        Shape of the training windows; ``sfreq_`` and ``ch_names_`` are None for arrays.
    n_features_in_ : int
        Number of channels (scikit-learn's name).

    See Also
    --------
    EEGM2Classifier : fine-tunes these weights with labels.

    Examples
    --------
    >>> import numpy as np
    >>> from eegm2_sklearn import EEGM2Pretrainer
    >>> X = np.random.default_rng(0).standard_normal((16, 4, 64)).astype("float32")
    >>> pre = EEGM2Pretrainer(max_epochs=2, batch_size=8, base_width=8, expand=2,
    ...                       headdim=8, d_state=4, random_state=0).fit(X)
    >>> pre.transform(X).shape
    (16, 288)
    >>> pre.reconstruct(X).shape
    (16, 4, 64)
    """

    _net_class = ReconstructionNet

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # the network computes in float32
        return tags

    def __init__(
        self,
        window_seconds: float | None = None,
        window_stride_seconds: float | None = None,
        alpha: float = 1.0,
        beta: float = 1.0,
        features: str = "stats",
        objective: str = "masked",
        mask_ratio: float = 0.5,
        mask_span: int = 64,
        mask_loss: str = "all",
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
        self.window_seconds = window_seconds
        self.window_stride_seconds = window_stride_seconds
        self.alpha = alpha
        self.beta = beta
        self.features = features
        self.objective = objective
        self.mask_ratio = mask_ratio
        self.mask_span = mask_span
        self.mask_loss = mask_loss
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
    def fit(self, X, y=None):
        """Pretrain EEGM2 by reconstruction.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_channels, n_times), mne.Epochs, list of Epochs,
            mne.io.Raw, list of Raw or braindecode dataset
            Windows, or continuous recordings cut into windows of ``window_seconds``.
            MNE objects are read in volts, arrays as given (see ``scaling``).
            Recordings bigger than memory stream from disk, window by window: pass file
            paths (EDF, BDF, FIF, ...), Raw objects read with ``preload=False``, or
            braindecode datasets of such recordings.
        y : None
            Ignored (self-supervised).

        Returns
        -------
        self : EEGM2Pretrainer
        """
        self._validate_params()
        self._device()  # joins torchrun's process group, if any
        if is_streamable(X):
            stream = stream_windows(
                X, self.window_seconds, self.window_stride_seconds, scaling=self.scaling
            )
            self._record_shapes(stream)
            seed = self._training_seed()
            train, valid = self._split(len(stream), None, seed)
            train_set = stream if valid is None else Subset(stream, train)
            valid_set = None if valid is None else Subset(stream, valid)
        else:
            data = self._to_data(X, allow_raw=True)
            self._record_shapes(data)
            Z, _ = self._scale(data.X)
            seed = self._training_seed()
            train, valid = self._split(len(Z), None, seed)
            train_set = Z if valid is None else Z[train]
            valid_set = None if valid is None else _dataset(Z[valid])
        net = self._build_net(n_train=len(train), valid_dataset=valid_set, seed=seed)
        self.net_ = self._fit_net(net, train_set, None, seed)
        return self

    def _module_kwargs(self) -> dict:
        return dict(
            n_chans=self.n_chans_,
            n_times=self.n_times_,
            sfreq=self.sfreq_,
            **self._arch_kwargs(),
        )

    def _build_net(self, n_train: int, valid_dataset=None, seed: int | None = None):
        return self._make_net(
            EEGM2,
            self._module_kwargs(),
            TemporalSpectralLoss,
            {"alpha": self.alpha, "beta": self.beta},
            n_train=n_train,
            valid_dataset=valid_dataset,
            device=self._device(),
            seed=seed,
            **self._objective_net(),
        )

    def _objective_net(self) -> dict:
        """The net class and its options for ``objective``."""
        if self.objective == "reconstruct":
            return {"net_class": ReconstructionNet}
        span = self.mask_span
        if 2 * span > self.n_times_:  # one span would hide (nearly) the whole window
            span = max(1, self.n_times_ // 8)
            warnings.warn(
                f"mask_span={self.mask_span} samples is more than half the windows' "
                f"{self.n_times_} samples; spans of {span} samples are hidden instead. Set "
                "mask_span below half the window length.",
                UserWarning,
                stacklevel=4,
            )
        options = dict(mask_ratio=self.mask_ratio, mask_span=span, mask_loss=self.mask_loss)
        return {"net_class": MaskedReconstructionNet, "net_options": options}

    # ------------------------------------------------------------------ inference
    def transform(self, X) -> np.ndarray:
        """Bottleneck features of each window.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_channels, n_times), mne.Epochs or list of Epochs
            Windows with the fitted channels; any length ``>= 8``.

        Returns
        -------
        features : ndarray, shape (n_epochs, 9 * 4 * base_width) or (n_epochs, 4 * base_width)
            ``features="stats"``: min, max, mean, std and 5/25/50/75/95 % quantiles over
            time of each bottleneck channel, statistic-major (see
            :data:`eegm2_sklearn.models.STATISTICS`); ``features="mean"``: time means.
        """
        data = self._check_predict_data(X)
        Z, _ = self._scale(data.X)
        pool = bottleneck_statistics if self.features == "stats" else bottleneck_mean
        return self._inference(Z, lambda m, xb: pool(m.encode(xb)))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the :meth:`transform` columns, e.g. ``"q95_ch17"``."""
        n = 4 * self.base_width
        stats = STATISTICS if self.features == "stats" else ("mean",)
        return np.asarray([f"{s}_ch{c}" for s in stats for c in range(n)], dtype=object)

    def reconstruct(self, X) -> np.ndarray:
        """The network's reconstruction, in the units of ``X``.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_channels, n_times), mne.Epochs or list of Epochs

        Returns
        -------
        X_hat : ndarray, shape (n_epochs, n_channels, n_times)
            Float32; the per-window scaling is undone, so MNE input comes back in volts.
        """
        data = self._check_predict_data(X)
        Z, stats = self._scale(data.X)
        Z_hat = self._inference(Z, lambda m, xb: m(xb))
        return inverse_scale_windows(Z_hat, stats)

    def score(self, X, y=None) -> float:
        """Negative mean temporal-spectral loss over windows (higher is better).

        Computed on the scaled windows, like the training loss.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_channels, n_times), mne.Epochs or list of Epochs
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        data = self._check_predict_data(X)
        Z, _ = self._scale(data.X)
        loss_fn = TemporalSpectralLoss(self.alpha, self.beta)
        losses = self._inference(Z, lambda m, xb: loss_fn(m(xb), xb).reshape(1) * len(xb))
        return -float(losses.sum() / len(Z))


def _dataset(Z: np.ndarray):
    from skorch.dataset import Dataset

    return Dataset(Z, None)
