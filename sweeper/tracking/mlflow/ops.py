"""What MlflowTracker queues for the writer process: one record per MLflow operation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...messages import TrialRecord


@dataclass
class SweepStarted:
    settings: dict[str, Any]
    command: str  # the command line that started (or resumed) the sweep


@dataclass
class SweepTags:
    tags: dict[str, str]


@dataclass
class TrialStarted:
    number: int
    params: dict[str, Any]
    tags: dict[str, str]
    ts: int  # when the trial was placed: the run's start if the writer has to create it
    hooked: bool = False  # the trial's worker opens the run: wait for RunOpened before creating one


@dataclass
class OpenRun:
    """Create trial `number`'s run now, ahead of the queued writes (the writer's priority channel):
    the trial's worker gets its id before the trial's code starts."""

    number: int
    tags: dict[str, str]
    params: dict[str, Any]
    ts: int  # when the trial was placed: the run's start


@dataclass
class RunOpened:
    """The trial's worker started it in the run created for it (None: it has none, the writer
    finds or creates it), with what the worker learnt of its place (its GPUs)."""

    number: int
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class TrialMetrics:
    number: int
    step: int
    metrics: dict[str, float]
    ts: int


@dataclass
class TrialEnded:
    number: int
    status: str
    metrics: dict[str, float]
    step: int
    tags: dict[str, str]
    out_dir: str | None
    ts: int


@dataclass
class BestSoFar:
    """A complete trial: its objective and the best-value history; `tags`, `params` and the config
    only when this trial is the new best."""

    step: int  # trials finished so far
    value: float  # the best value
    tags: dict[str, str] | None
    config_yaml: str | None
    params: dict[str, Any] | None
    ts: int
    number: int = -1  # the trial that just completed
    trial_value: float | None = None  # its objective value
    best_number: int = -1


@dataclass
class Sync:
    records: list[TrialRecord]


@dataclass
class SweepEnded:
    state: str | None
    counts: dict[str, int] | None = None  # complete / pruned / failed, for the parent's description


@dataclass
class SweepReport:
    """The sweep's report: files logged under `report/` of the parent, metrics on the parent."""

    files: list[str]
    metrics: dict[str, float]


Op = (SweepStarted | SweepTags | TrialStarted | RunOpened | TrialMetrics | TrialEnded | BestSoFar | Sync | SweepEnded
      | SweepReport)
