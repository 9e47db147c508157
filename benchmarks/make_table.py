"""Make the learning-curve table of real training that `early_stop.py --problem table` replays.

Trains scikit-learn's MLPClassifier with SGD (Nesterov momentum 0.9) on its bundled digits, every
configuration of a grid, epoch by epoch (`partial_fit` = one pass of minibatches), and records the
validation log-loss after every epoch. The grid (8 learning rates x 4 widths x 3 L2 penalties x 3
batch sizes = 288 configurations, 27 epochs each) is what the sweep samples from: every parameter
is a `choice` of the grid's values, so a sampled configuration is looked up exactly (`table.py`),
with no interpolation between configurations that were never trained.

SGD rather than the quickstart's Adam, so the two real problems differ: with SGD a small learning
rate is slow to start and ends well while a large one drops fast and then stalls or diverges, the
crossing curves that make early termination hard. Training is seeded (split, initial weights,
minibatch order), so the table is reproducible; its curves carry real training's noise once, and
each sweep seed replays them in seconds. About 6 minutes on one core; the output is ~60 KB.
Usage: python benchmarks/make_table.py [--out benchmarks/tables/mlp_digits.json.gz] [--epochs 27]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "tables" / "mlp_digits.json.gz"
#: the grid; `table.py` turns it into the sweep's `choice(...)` params
GRID: dict[str, list[Any]] = {
    "lr": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
    "width": [16, 32, 64, 128],
    "alpha": [1e-5, 1e-3, 1e-2],
    "batch_size": [32, 64, 128],
}
EPOCHS = 27


def curve(cfg: dict[str, Any], epochs: int, data: tuple[Any, ...]) -> list[float]:
    """Validation log-loss after each of `epochs` epochs of one configuration."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss
    from sklearn.neural_network import MLPClassifier

    X_train, X_val, y_train, y_val, classes = data
    model = MLPClassifier(hidden_layer_sizes=(int(cfg["width"]),), solver="sgd", momentum=0.9,
                          nesterovs_momentum=True, learning_rate_init=float(cfg["lr"]), alpha=float(cfg["alpha"]),
                          batch_size=int(cfg["batch_size"]), random_state=0)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(epochs):
        order = rng.permutation(len(X_train))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(X_train[order], y_train[order], classes=classes)
        proba = np.clip(np.nan_to_num(model.predict_proba(X_val), nan=1.0 / len(classes)), 1e-15, 1.0)
        out.append(round(float(log_loss(y_val, proba, labels=classes)), 5))
    return out


def make(epochs: int = EPOCHS, grid: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """The table: {"params": names, "grid": values, "epochs": n, "rows": [[*values, [loss per epoch]], ...]}."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    grid = grid or GRID
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    data = (scaler.transform(X_train), scaler.transform(X_val), y_train, y_val, np.unique(y))
    names = list(grid)
    rows = []
    for values in itertools.product(*(grid[n] for n in names)):
        rows.append([*values, curve(dict(zip(names, values, strict=True)), epochs, data)])
    return {"dataset": "sklearn digits, 75/25 stratified split (random_state=0)",
            "model": "MLPClassifier(solver=sgd, momentum=0.9, nesterov), one hidden layer",
            "metric": "val_loss (log-loss)", "params": names, "grid": grid, "epochs": epochs, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    table = make(args.epochs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", compresslevel=9) as f:
        json.dump(table, f, separators=(",", ":"))
    print(f"{len(table['rows'])} configurations x {args.epochs} epochs in {time.perf_counter() - t0:.0f} s: "
          f"{args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
