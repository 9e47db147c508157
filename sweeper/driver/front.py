"""The Pareto front's size as trials complete, for the live panel (several objectives).

The study's front (`state.store.front`) is the result; recomputing it on every completion reads the
whole study, so the driver keeps the non-dominated values it has seen: one pass over the front per
completed trial. Another agent's trials join it at the next launch or resume.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config.spec import Objective
from ..state.store import dominates


class FrontTracker:
    def __init__(self, objectives: Sequence[Objective]) -> None:
        self.signs = [-1.0 if o.goal == "maximize" else 1.0 for o in objectives]
        self.points: list[list[float]] = []  # every objective minimised

    def add(self, values: Sequence[float]) -> int:
        """Add a feasible complete trial's values; the front's size after it."""
        v = [s * x for s, x in zip(self.signs, values, strict=True)]
        if any(dominates(p, v) for p in self.points):
            return len(self.points)
        self.points = [p for p in self.points if not dominates(v, p)] + [v]
        return len(self.points)

    @property
    def size(self) -> int:
        return len(self.points)

