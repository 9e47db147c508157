"""What MlflowTracker queues for the writer process: one record per MLflow operation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...messages import TrialRecord


@dataclass
class SweepStarted:
    settings: dict[str, Any]


@dataclass
class SweepTags:
    tags: dict[str, str]


@dataclass
class TrialStarted:
    number: int
    params: dict[str, Any]
    tags: dict[str, str]


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
    """A point of the best-value history; `tags` (and the config) only when the best changed."""

    step: int
    value: float
    tags: dict[str, str] | None
    config_yaml: str | None
    params: dict[str, Any] | None
    ts: int


@dataclass
class Sync:
    records: list[TrialRecord]


@dataclass
class SweepEnded:
    state: str | None


Op = SweepStarted | SweepTags | TrialStarted | TrialMetrics | TrialEnded | BestSoFar | Sync | SweepEnded
