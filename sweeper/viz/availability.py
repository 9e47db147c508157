"""Why a plot cannot be drawn for this study yet, in a sentence for the page (or None).

Optuna's plotting functions return an empty figure, log a warning, or raise when a study has
too little in it (no complete trial, one parameter, nothing reported). A sweep report is often
written early or for a sweep that went wrong, so each plot is checked here first and skipped
with a visible reason: the HTML page and the PNGs share these rules.
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState

from .objectives import Objective

MIN_TRIALS_FOR_IMPORTANCE = 2
PARETO_MAX_OBJECTIVES = 3  # plot_pareto_front draws 2-D or 3-D fronts only


def finished(study: optuna.Study, objective: Objective) -> list[FrozenTrial]:
    """Complete trials whose value of `objective` is finite (the only ones Optuna plots)."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.values is not None and len(t.values) > objective.index and math.isfinite(t.values[objective.index]):
            out.append(t)
    return out


def param_names(trials: list[FrozenTrial]) -> list[str]:
    """The parameters that appear in `trials`, in first-seen order."""
    return list(dict.fromkeys(name for t in trials for name in t.params))


def no_values(study: optuna.Study, objective: Objective) -> str | None:
    if not finished(study, objective):
        return f"no completed trial has a value of {objective.name} yet"
    return None


def no_params(study: optuna.Study, objective: Objective) -> str | None:
    reason = no_values(study, objective)
    if reason is None and not param_names(finished(study, objective)):
        reason = "the completed trials have no parameters"
    return reason


def no_importances(study: optuna.Study, objective: Objective) -> str | None:
    trials = finished(study, objective)
    if len(trials) < MIN_TRIALS_FOR_IMPORTANCE:
        return (f"importances need at least {MIN_TRIALS_FOR_IMPORTANCE} completed trials "
                f"(this study has {len(trials)})")
    n_params = len(param_names(trials))
    if n_params < 2:
        return f"importances need at least 2 parameters (this study has {n_params})"
    return None


def no_intermediate_values(study: optuna.Study) -> str | None:
    if len(study.directions) > 1:
        return "Optuna records no intermediate values for studies with several objectives"
    if not any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        return "no trial reported intermediate values (sweeper.report) yet"
    return None


def no_trials(study: optuna.Study) -> str | None:
    if not study.get_trials(deepcopy=False):
        return "the study has no trials yet"
    return None


def no_pareto_front(study: optuna.Study, objectives: list[Objective]) -> str | None:
    if len(objectives) > PARETO_MAX_OBJECTIVES:
        return f"Optuna draws Pareto fronts of 2 or 3 objectives only (this study has {len(objectives)})"
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return "no completed trial yet"
    return None
