"""A skorch callback that keeps a CSV file of the training history, one row per epoch."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from skorch.callbacks import Callback

from . import _distributed

#: Columns written when present in the history, in this order.
CSV_COLUMNS = ("epoch", "train_loss", "valid_loss", "lr", "dur")


class CSVLogger(Callback):
    """Write skorch's per-epoch history to a CSV file after every epoch.

    The whole file is rewritten (atomically) from the history, so after a resume it holds
    the epochs of the interrupted run too. Columns: ``epoch``, ``train_loss``,
    ``valid_loss`` (with validation), ``lr`` (learning rate at the epoch's last batch),
    and ``dur`` (seconds), when present. Under
    ``torchrun`` only rank 0 writes.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file (its folder is created).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from eegm2_sklearn import EEGM2Pretrainer
    >>> from eegm2_sklearn.estimators import CSVLogger
    >>> path = os.path.join(tempfile.mkdtemp(), "history.csv")
    >>> X = np.random.default_rng(0).standard_normal((8, 2, 32)).astype("float32")
    >>> _ = EEGM2Pretrainer(max_epochs=2, batch_size=4, base_width=8, expand=2, headdim=8,
    ...                     d_state=4, callbacks=[CSVLogger(path)]).fit(X)
    >>> open(path).readline().strip()
    'epoch,train_loss,lr,dur'
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path

    def on_epoch_end(self, net, **kwargs):
        if not _distributed.is_main_process():
            return
        rows = []
        for row in net.history:
            out = {k: row[k] for k in CSV_COLUMNS if k in row}
            lrs = [b["event_lr"] for b in row.get("batches", []) if "event_lr" in b]
            if lrs:
                out["lr"] = lrs[-1]
            elif "event_lr" in row:
                out["lr"] = row["event_lr"]
            rows.append(out)
        columns = [c for c in CSV_COLUMNS if any(c in r for r in rows)]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)
