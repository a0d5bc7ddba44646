"""Rest vs mental arithmetic on EEGMAT: EEGM2 against braindecode models and band power.

Leave-subjects-out cross-validation over the 36 subjects of PhysioNet's EEGMAT
(``GroupKFold(6)``: 6 test subjects per fold). The folds are computed once, from the
subjects' recording lengths, before any window is cut, so every model, window length and
label fraction is tested on the same subjects. Per fold the script records balanced
accuracy, ROC AUC (positive class: arithmetic) and training seconds; it appends one CSV row
per (model, window, label fraction, fold) as soon as that fold is done, and prints a
markdown table of mean +- std over folds at the end (std with ``ddof=0``).

Models (``--models``):

- ``bandpower``: log band power (delta 1-4, theta 4-8, alpha 8-13, beta 13-30, gamma
  30-45 Hz; Welch, per channel) -> StandardScaler -> LogisticRegression(balanced).
- ``riemann``: OAS covariances of the theta, alpha and beta bands (pyRiemann) -> tangent
  space at their Riemannian mean -> StandardScaler -> LogisticRegression(balanced).
- ``shallow``, ``eegnet``, ``conformer``: braindecode ``EEGClassifier`` with
  ``ShallowFBCSPNet``, ``EEGNet`` (EEGNet-v4, named ``EEGNet`` since braindecode 1.0) and
  ``EEGConformer``, with their default architectures.
- ``eegm2-scratch``: ``EEGM2Classifier`` from random weights (head from ``--eegm2-head``).
- ``eegm2-pretrained``: ``EEGM2Pretrainer`` fitted on the training subjects' continuous
  recordings (rest and arithmetic, no labels, never a test subject), then
  ``EEGM2Classifier(pretrained=pre, finetune="full")``.
- ``eegm2-probe``: ``make_pipeline(FrozenEstimator(pre), StandardScaler(),
  LogisticRegression(balanced))`` on the same pretrainer: the paper's linear probe on the
  2304 (``36 * base_width``) bottleneck statistics. The pretrainer is fitted once per fold
  and window length and shared by the three pretrained entries.
- ``eegm2-light``: ``EEGM2Classifier(pretrained=pre, variant="light", head="pool")``,
  embedding and encoders only.

Protocols (``--protocols``, both by default; a model run under the second is named
``<model>+calibrated`` in the CSV and ``..., calibrated`` in the table):

- ``none``: every window on its own, as below.
- ``calibrated``: every model also sees the unlabelled windows of each subject, test
  subjects included (transductive, as a deployment that has recorded the new person for a
  while): the deep models get Euclidean-aligned windows (``SubjectAlign``'s maths,
  ``scaling=None``; the pretrainer is fitted on the training subjects' aligned windows),
  band-power features are standardised over each subject's windows, and the Riemannian
  model's covariances are re-centred on each subject's Riemannian mean (tangent space at
  the identity). Labels are never used for the calibration.

Without calibration, every deep model gets the same input: per-window, per-channel robust
scaling (subtract the median over time, divide by the interquartile range), i.e. the
EEGM2 estimators' default ``scaling="robust"``, applied to the braindecode models with
``eegm2_sklearn.data.scale_windows``. It makes the unit (volts) irrelevant
and needs no state across windows, unlike exponential moving standardisation, which would
have to run on the continuous recordings before windowing. Class imbalance (about 3 rest
windows per arithmetic window) is handled by class weights from scikit-learn's
``compute_class_weight("balanced")`` in every model. Training uses all training windows,
without a validation split (``train_split=None``), AdamW, cosine annealing for braindecode
models (one-cycle for EEGM2, as in the paper) and fixed seeds.

Label efficiency (``--label-fractions``): the fraction applies to training SUBJECTS (all
windows of ``ceil(fraction * n_train_subjects)`` subjects drawn with a fixed seed per fold;
smaller fractions are subsets of larger ones). Pretraining always uses every training
subject's recordings, since it needs no labels.

Presets. Defaults depend on the device (``--preset cpu`` or ``gpu``; chosen from
``--device`` when not given); any flag overrides its preset value.

- ``cpu`` is sized to finish within an hour on a free 2-core CPU: EEGM2 width 8 (expand 2,
  headdim 8: about 35 k parameters instead of 4.6 M) with the pooled head at lr 2e-3
  (chosen on fold 0's training subjects only), 4 pretraining and 8 fine-tuning epochs, 10
  epochs for the braindecode models, label fractions at 4 s for band power and the EEGM2
  models, and every model on 30-s windows except EEGConformer (about 3 windows/s there on
  this CPU: over an hour by itself).
- ``gpu`` is the paper-size run: width 64, expand 8, headdim 64, d_state 16, 10
  masked-span pretraining and 20 fine-tuning epochs at the paper's lr 5e-4 with the pooled head (the
  paper's flatten head stayed at chance on the training subjects' validation scores), 30
  epochs for the braindecode models, every model at every window and label fraction.

``--quick`` (12 subjects, 3 folds, 4-s windows, all labels, 3 epochs) and ``--smoke``
(6 subjects, 2 folds, 1 epoch, tiny EEGM2) shrink the run further.

Run it as ``python -m benchmarks.eegmat`` from the repository root, or as
``python benchmarks/eegmat_accuracy.py`` from anywhere. The package: :mod:`.config`
(presets, options, arguments), :mod:`.data` (recordings, folds, windows), :mod:`.models`
(the model fitters), :mod:`.runner` (one fold, the serial loop), :mod:`.pool` (worker
processes), :mod:`.report` (CSV rows and the table).

Examples::

    # default CPU run (all 36 subjects, 4-s and 30-s windows), CSV per fold
    python benchmarks/eegmat_accuracy.py --out eegmat_accuracy.csv

    # baselines only, 4-s windows, one thread
    python benchmarks/eegmat_accuracy.py --models bandpower shallow eegnet conformer \\
        --windows 4 --threads 1 --out baselines_4s.csv

    # paper-size run on a GPU, from a 128-Hz archive made beforehand with --export-npz:
    # the 12 (window, fold) pairs in 12 processes sharing the GPU(s); after a cut-off,
    # --resume continues and --pretrained-cache reloads the pretrainers already fitted
    python benchmarks/eegmat_accuracy.py --export-npz eegmat128.npz          # on the CPU side
    python benchmarks/eegmat_accuracy.py --data eegmat128.npz --device cuda --preset gpu \\
        --processes 12 --pretrained-cache pretrained --out gpu.csv --resume

    # the table of a run split by hand (--windows/--folds, one --out each)
    python benchmarks/eegmat_accuracy.py --summarize gpu_4s.csv gpu_30s.csv

    # 1-2 minute check of the whole pipeline (2 folds, 6 subjects, 1 epoch, tiny EEGM2)
    python benchmarks/eegmat_accuracy.py --smoke --out /tmp/smoke.csv

Data come from :func:`eegm2_sklearn.datasets.fetch_eegmat` (``--data`` folder, else the
``EEGM2_DATA`` environment variable, else MNE's data folder, downloading from PhysioNet if
needed), or from an ``.npz`` written by ``--export-npz``.
"""
