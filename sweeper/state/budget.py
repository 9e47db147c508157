"""What a sweep has spent of its budgets (`budget:`), read from its study alone: the driver enforces
them (driver/budget.py), `sweep status`, `sweep ls` and the panel show them."""

from __future__ import annotations

from typing import Any

from ..config.schema import parse_duration
from . import attrs


def steps_spent(trials: list[Any]) -> int:
    """Every report of the objective is one step, kept as the trial's intermediate value."""
    return sum(len(t.intermediate_values) for t in trials)


def time_spent(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by the union of (start, end) periods."""
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def periods(user_attrs: dict[str, Any]) -> list[tuple[float, float]]:
    """The periods each driver ran the sweep ([first, last] epoch seconds, one per driver)."""
    return [(float(v[0]), float(v[1])) for k, v in user_attrs.items()
            if k.startswith(attrs.PERIOD_PREFIX) and isinstance(v, list) and len(v) == 2]


def fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def fmt_target(target: float, best: float | None) -> str:
    return f"{target:g} (best {'none yet' if best is None else f'{best:.6g}'})"


def summary(budget: dict[str, Any] | None, trials: list[Any], user_attrs: dict[str, Any],
            best: float | None) -> dict[str, str]:
    """Spent/total of each budget the sweep has, e.g. {"steps": "41/60", "time": "2m10s/8h00m",
    "target": "0.05 (best 0.0712)"}; `budget` is the `budget:` mapping of the stored definition."""
    budget = budget or {}
    out: dict[str, str] = {}
    if budget.get("steps") is not None:
        out["steps"] = f"{steps_spent(trials)}/{budget['steps']}"
    if budget.get("time") is not None:
        try:
            total = fmt_seconds(parse_duration(budget["time"]))
        except ValueError:
            total = str(budget["time"])
        out["time"] = f"{fmt_seconds(time_spent(periods(user_attrs)))}/{total}"
    if budget.get("target") is not None:
        out["target"] = fmt_target(budget["target"], best)
    return out
