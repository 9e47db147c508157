"""What a backend tells the driver: plain records, the same for local processes and Ray."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Report:
    slot: int
    number: int
    step: int
    metrics: dict[str, float]


@dataclass
class Done:
    slot: int
    number: int
    result: dict[str, Any]


@dataclass
class Died:
    """The trial's process ended without a result (crash, signal, OOM kill, timeout)."""

    slot: int
    number: int
    error: str


@dataclass
class SlotInfo:
    """Where a trial runs: recorded on its MLflow run."""

    host: str = ""
    pid: int = 0
    gpus: str = ""
    extra: dict[str, str] = field(default_factory=dict)
