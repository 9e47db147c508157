"""How the report tells trial states apart in learning curves: one colour and dash per state.

Optuna draws one learning curve per trial, labelled `Trial<N>`, in a cycling palette (and, in
matplotlib, a legend entry per trial), so a pruned trial looks like any other. Both renderers
recolour the curves from these styles and show one legend entry per state instead.
"""

from __future__ import annotations

import re

import optuna
from optuna.trial import TrialState

#: state -> (colour, plotly dash, matplotlib linestyle)
STYLES: dict[TrialState, tuple[str, str, str]] = {
    TrialState.COMPLETE: ("#4c78a8", "solid", "-"),
    TrialState.PRUNED: ("#e45756", "dot", ":"),
    TrialState.RUNNING: ("#54a24b", "dash", "--"),
}
INFEASIBLE = "#CCCCCC"  # Optuna's grey for trials that violate constraints; kept as is
_LABEL = re.compile(r"Trial\s*(\d+)$")


def trial_states(study: optuna.Study) -> dict[int, TrialState]:
    return {t.number: t.state for t in study.get_trials(deepcopy=False)}


def state_of(label: object, states: dict[int, TrialState]) -> TrialState | None:
    """The state of the trial an Optuna curve label (`Trial12`) names, if styled here."""
    m = _LABEL.search(str(label or ""))
    state = states.get(int(m.group(1))) if m else None
    return state if state in STYLES else None
