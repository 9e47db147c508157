"""The validated sweep definition: plain dataclasses, no I/O and no heavy imports.

Everything after the loader (state, driver, backends, trackers) reads a `SweepSpec` and never the
file it came from; which keys a file may hold, and their defaults, is `schema.py`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .space import Param


@dataclass(frozen=True)
class Objective:
    """One (metric, goal) pair; a sweep holds a tuple of them (one today, several later)."""

    metric: str
    goal: str = "minimize"

    @property
    def direction(self) -> str:
        return self.goal

    def better(self, a: float, b: float) -> bool:
        return a > b if self.goal == "maximize" else a < b


@dataclass(frozen=True)
class Constraint:
    """`metric op bound` (`constraints:` in the file): a trial is feasible when every one holds."""

    metric: str
    op: str  # <=, <, >=, >
    bound: float

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 when the constraint holds, else by how much it is missed (a
        strict bound counts its edge as held: the samplers see a continuous amount)."""
        return value - self.bound if self.op in ("<=", "<") else self.bound - value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class WarmStart:
    """`warm_start:`: the sweep (and storage: None, this sweep's) whose finished trials seed the history."""

    sweep: str
    storage: str | None = None


@dataclass(frozen=True)
class TrialSpec:
    function: str | None = None
    command: str | None = None
    config: str | None = None  # base training config (YAML path, relative to the sweep file)
    hydra: str | None = None  # a Hydra app whose jobs the trials are (the plugin's door; runtime/hydra_job.py)
    timeout: float | None = None
    retries: int = 0
    log_limit: int | None = 10 << 20  # bytes of stdout.txt / stderr.txt kept per trial and stream; None: all


@dataclass(frozen=True)
class SearchSpec:
    method: str = "tpe"
    options: dict[str, Any] = field(default_factory=dict)  # passed to the Optuna sampler
    configure: str | None = None  # module:function(cfg, trial): define-by-run params (search/configure.py)


@dataclass(frozen=True)
class EarlyStopSpec:
    type: str = "none"
    options: dict[str, Any] = field(default_factory=dict)  # validated, defaults filled in


@dataclass(frozen=True)
class BackendSpec:
    type: str = "local"
    address: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0


@dataclass(frozen=True)
class TrackingSpec:
    uri: str | None = None
    experiment: str | None = None


@dataclass(frozen=True)
class BudgetSpec:
    """Limits beyond `n_trials`; the sweep ends at the first one reached (see driver/budget.py)."""

    steps: int | None = None  # reported steps (epochs) of all trials together
    time: float | None = None  # seconds of wall time the sweep runs, over all its launches and agents
    target: float | None = None  # a finished trial's objective at least this good

    def any(self) -> bool:
        return self.steps is not None or self.time is not None or self.target is not None


@dataclass(frozen=True)
class SweepSpec:
    name: str
    objectives: tuple[Objective, ...]
    params: dict[str, Param]  # in file order
    trial: TrialSpec
    n_trials: int | None
    workers: int | None  # None: as many as the resources allow
    max_failures: int
    seed: int | None
    storage: str
    tracking: TrackingSpec
    search: SearchSpec
    early_stop: EarlyStopSpec
    backend: BackendSpec
    resources: Resources
    source: str  # the sweep file, or what stood for it (for messages)
    base_dir: str  # directory of the sweep file: trial.config and relative paths resolve here
    workdir: str  # where `sweep launch` ran: trial modules import from here, outputs live here
    resolved_yaml: str  # the composed sweep, interpolations kept and secrets masked
    definition: dict[str, Any] = field(default_factory=dict)  # the same as plain data
    budget: BudgetSpec = field(default_factory=BudgetSpec)
    constraints: tuple[Constraint, ...] = ()
    seed_trials: tuple[dict[str, Any], ...] = ()
    warm_start: WarmStart | None = None  # run first, in this order (Optuna's enqueue_trial)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(o.metric for o in self.objectives)

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def sweep_dir(self) -> str:
        import os

        return os.path.join(self.workdir, ".sweeps", self.name)

    def settings(self, workers: int) -> dict[str, Any]:
        """The sweep's settings as flat key → value pairs (a tracker shows them on the sweep's run)."""
        s: dict[str, Any] = {"search.method": self.search.method, "n_trials": self.n_trials, "workers": workers,
                             "resources.cpus": self.resources.cpus, "resources.gpus": self.resources.gpus,
                             "max_failures": self.max_failures, "seed": self.seed}
        for i, o in enumerate(self.objectives):
            suffix = "" if len(self.objectives) == 1 else f".{i}"
            s[f"objective{suffix}.metric"], s[f"objective{suffix}.goal"] = o.metric, o.goal
        s.update({"early_stop.type": self.early_stop.type, "backend": self.backend.type,
                  "storage": self.definition.get("storage") or self.storage,
                  "trial.target": self.trial.function or self.trial.command,
                  "trial.timeout": self.trial.timeout, "trial.retries": self.trial.retries,
                  "trial.log_limit": self.trial.log_limit, "budget.steps": self.budget.steps,
                  "budget.time": self.budget.time, "budget.target": self.budget.target})
        s.update({f"search.{k}": v for k, v in self.search.options.items()})
        if self.search.configure:
            s["search.configure"] = self.search.configure
        if self.early_stop.type != "none":
            s.update({f"early_stop.{k}": v for k, v in self.early_stop.options.items()})
        s.update({f"space.{p.name}": p.expr for p in self.params.values()})
        return s
