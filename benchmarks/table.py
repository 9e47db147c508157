"""A sweep trial that replays real training from the table `make_table.py` wrote.

The sweep's params are `choice`s of the table's grid (`PARAMS`), so every sampled configuration
was trained: it is looked up exactly, by its tuple of values, never interpolated. A value off the
grid is an error, not a silent nearest neighbour. The trial reports the tabulated validation loss
epoch by epoch, sleeping `epoch_s` per epoch (0 by default), so ten seeds of a sweep replay in
seconds with the learning curves of real training.
"""

from __future__ import annotations

import gzip
import json
import time
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parent / "tables" / "mlp_digits.json.gz"
#: where a trial copied into a sweep folder finds the table (`early_stop.py` passes it as `table`)


@cache
def load(path: str = str(TABLE)) -> dict[str, Any]:
    """The table, with `curves`: {(value, ...) in `params` order: [val_loss per epoch]}."""
    with gzip.open(path, "rt") as f:
        table = json.load(f)
    n = len(table["params"])
    table["curves"] = {tuple(row[:n]): row[n] for row in table["rows"]}
    return table


def params(path: str = str(TABLE)) -> dict[str, str]:
    """The sweep's search space: one `choice` per tabulated parameter, of exactly its grid values."""
    table = load(path)
    return {k: "choice(" + ", ".join(repr(v) for v in table["grid"][k]) + ")" for k in table["params"]}


def lookup(cfg: Any, path: str = str(TABLE)) -> list[float]:
    """The tabulated curve of a sampled configuration (exact match on every parameter)."""
    table = load(path)
    key = tuple(type(table["grid"][k][0])(cfg[k]) for k in table["params"])
    try:
        return table["curves"][key]
    except KeyError:
        raise KeyError(f"{dict(zip(table['params'], key, strict=True))} is not in the table {path}") from None


def best_final(path: str = str(TABLE), epochs: int | None = None) -> float:
    """The best value at the last epoch over the whole table: the problem's known optimum."""
    table = load(path)
    e = (epochs or table["epochs"]) - 1
    return min(c[e] for c in table["curves"].values())


def train(cfg: Any) -> dict[str, float]:
    import sweeper

    curve = lookup(cfg, str(cfg.get("table", TABLE)))
    value = float("nan")
    for epoch in range(int(cfg.epochs)):
        time.sleep(float(cfg.get("epoch_s", 0.0)))
        value = float(curve[epoch])
        sweeper.report(step=epoch, val_loss=value)
    return {"val_loss": value}
