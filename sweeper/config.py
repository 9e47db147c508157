"""The validated sweep definition: plain dataclasses, no I/O and no heavy imports.

Everything downstream (study, dispatch, tracking) reads a `SweepSpec`; only `spec.py` knows YAML
and Hydra. Key names here are a contract with users' files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEARCH_METHODS = ("grid", "random", "tpe", "gp", "cmaes")
EARLY_STOP_TYPES = ("none", "hyperband", "asha", "median")
BACKENDS = ("local", "ray")
GOALS = ("minimize", "maximize")
#: config groups shipped in conf/ and the option chosen when the sweep file names none
GROUP_DEFAULTS = {"search": "tpe", "early_stop": "none", "backend": "local"}
#: keys that may change on resume without changing the sweep's identity
BUDGET_KEYS = ("n_trials", "workers", "max_failures")


@dataclass(frozen=True)
class Objective:
    metric: str
    goal: str = "minimize"

    @property
    def direction(self) -> str:
        return self.goal


@dataclass(frozen=True)
class TrialSpec:
    function: str | None = None
    command: str | None = None
    config: str | None = None  # base training config (YAML path, relative to the sweep file)
    timeout: float | None = None
    retries: int = 0


@dataclass(frozen=True)
class SearchSpec:
    method: str = "tpe"
    options: dict[str, Any] = field(default_factory=dict)  # passed to the Optuna sampler


@dataclass(frozen=True)
class EarlyStopSpec:
    type: str = "none"
    options: dict[str, Any] = field(default_factory=dict)


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
class SweepSpec:
    name: str
    objective: Objective
    params: dict[str, Any]  # name -> Param (see space.py), in file order
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
    source: str  # the sweep file (for messages)
    base_dir: str  # directory of the sweep file: trial.config and relative paths resolve here
    workdir: str  # where `sweep launch` ran: trial modules import from here, outputs live here
    resolved_yaml: str  # the composed sweep, interpolations kept and secrets masked
    definition: dict[str, Any] = field(default_factory=dict)  # the same as plain data

    @property
    def sweep_dir(self) -> str:
        import os

        return os.path.join(self.workdir, ".sweeps", self.name)
