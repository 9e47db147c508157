"""The objectives a report describes: their names, directions, and how to read them off a trial.

Optuna's plots draw one objective at a time for a study with several (`target=`), and its
default importance evaluator (PED-ANOVA) treats a custom `target` as a loss, whatever the
study's direction. This module is the one place that knows both, so the HTML page, the PNGs and
the importances logged to MLflow agree on which objective they show and which way is better.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class Objective:
    """One objective of the study: its position in `trial.values`, its label and direction."""

    index: int
    name: str
    direction: str  # "minimize" | "maximize"
    several: bool  # the study has several objectives (Optuna then needs `target=`)

    @property
    def slug(self) -> str:
        """The name as it can appear in an HTML id or a file name."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-.") or f"objective{self.index}"

    @property
    def arrow(self) -> str:
        return "↓" if self.direction == "minimize" else "↑"

    def value(self, trial: FrozenTrial) -> float:
        """The objective's value in `trial` (a complete trial)."""
        return float(trial.values[self.index])

    def loss(self, trial: FrozenTrial) -> float:
        """The value turned so that lower is better, for evaluators that assume a loss."""
        v = self.value(trial)
        return v if self.direction == "minimize" else -v

    @property
    def plot_target(self) -> Callable[[FrozenTrial], float] | None:
        """`target=` for Optuna's plots: None for one objective, so Optuna keeps its best-value
        line and reads the direction itself; this objective's value otherwise."""
        return self.value if self.several else None

    @property
    def importance_target(self) -> Callable[[FrozenTrial], float] | None:
        """`target=` for the importance evaluator: None for one objective (Optuna then follows
        the study's direction), the objective as a loss otherwise."""
        return self.loss if self.several else None


def resolve_objectives(study: optuna.Study, metric_names: list[str],
                       directions: list[str] | None = None) -> list[Objective]:
    """The study's objectives labelled with `metric_names`.

    `directions` (optional) must agree with the study's: a report that shows the wrong way as
    better would mislead, so a mismatch raises ValueError rather than being drawn.
    """
    study_dirs = ["minimize" if d == StudyDirection.MINIMIZE else "maximize" for d in study.directions]
    names = list(metric_names)
    if len(names) != len(study_dirs) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"metric_names must name each of the study's {len(study_dirs)} objective(s), "
                         f"got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"metric_names must be distinct, got {names!r}")
    if directions is not None:
        given = [str(d).lower() for d in directions]
        if any(d not in DIRECTIONS for d in given):
            raise ValueError(f"directions must be 'minimize' or 'maximize', got {list(directions)!r}")
        if given != study_dirs:
            raise ValueError(f"directions {given} disagree with the study's {study_dirs}")
    several = len(study_dirs) > 1
    return [Objective(i, n, d, several) for i, (n, d) in enumerate(zip(names, study_dirs, strict=True))]
