"""Hyperparameter importances, the numbers behind the importances plot and the MLflow metrics.

The evaluator is PED-ANOVA, named explicitly: it is Optuna 5's default and takes 20-30 ms on
200 or 1000 complete trials, while fANOVA (Optuna 4's default; the project allows optuna>=4.5)
fits a random forest: about 6 s on 200 complete trials and 86 s on 1000 on our 2-core machines.
Naming it keeps the numbers and the cost the same on every Optuna release we accept. `optuna.importance` imports scikit-learn (for fANOVA) whenever it
is installed, which costs seconds on a busy machine, so it is imported only when needed.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import optuna

from .availability import no_importances
from .objectives import Objective, resolve_objectives

if TYPE_CHECKING:
    from optuna.importance import BaseImportanceEvaluator

#: part of PED-ANOVA's warning when it has too little to tell parameters apart
_EQUAL = "will be equal"


def importance_evaluator() -> BaseImportanceEvaluator:
    """The evaluator used for the page, the PNG and the metrics (so the three agree)."""
    from optuna.importance import PedAnovaImportanceEvaluator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return PedAnovaImportanceEvaluator()


def importances_for(study: optuna.Study, objective: Objective) -> tuple[dict[str, float], str | None]:
    """(importances summing to 1, None), or ({}, why they cannot be computed for this study)."""
    reason = no_importances(study, objective)
    if reason is not None:
        return {}, reason
    from optuna.importance import get_param_importances

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = get_param_importances(
            study, evaluator=importance_evaluator(), target=objective.importance_target)
    if any(_EQUAL in str(w.message) for w in caught):
        # PED-ANOVA answers "all equal" when it cannot separate the best trials from the rest
        return {}, "too few distinct results to tell the parameters apart"
    return {name: float(v) for name, v in result.items()}, None


def param_importances(study: optuna.Study, metric_names: list[str]) -> dict[str, float]:
    """Importance of each parameter for the first objective, summing to 1 ({} when it cannot be
    computed: fewer than 2 completed trials, fewer than 2 parameters, no signal).

    Keys are the parameter names; the caller logs them as MLflow metrics on the sweep's run.
    """
    objective = resolve_objectives(study, metric_names)[0]
    return importances_for(study, objective)[0]
