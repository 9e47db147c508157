"""The report's interactive charts, drawn by Optuna's plotly visualizations.

Every chart is Optuna's own (`optuna.visualization`); this module only chooses which charts a
study gets, one per objective where Optuna needs a `target`, labels the axes with the sweep's
metric names, and touches up the learning curves so pruned trials stand out. A chart Optuna
cannot draw for this study becomes a `Plot` with a `note` instead of a figure, so a report of a
young or broken sweep still renders.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from . import availability as av
from .importance import importance_evaluator, importances_for
from .objectives import Objective
from .states import INFEASIBLE, STYLES, state_of, trial_states

if TYPE_CHECKING:
    import plotly.graph_objects as go

log = logging.getLogger(__name__)


@dataclass
class Plot:
    """One chart of the page: drawn (`figure`) or skipped (`note` says why)."""

    key: str  # stable, unique id in the page
    title: str
    figure: go.Figure | None = None
    note: str | None = None


def _attempt(key: str, title: str, reason: str | None, draw: Callable[[], go.Figure]) -> Plot:
    """Draw unless `reason` says not to; an Optuna error becomes a note, never a crash."""
    if reason is not None:
        return Plot(key, title, note=reason)
    try:
        with warnings.catch_warnings():
            # experimental-API notices and PED-ANOVA's "target is treated as a loss" (we pass losses)
            warnings.simplefilter("ignore")
            return Plot(key, title, figure=draw())
    except Exception as exc:  # a report must render even when one chart cannot be drawn
        log.warning("report: Optuna could not draw %s: %s", title, exc)
        return Plot(key, title, note=f"Optuna could not draw this chart ({type(exc).__name__}: {exc})")


def style_learning_curves(fig: go.Figure, study: optuna.Study) -> go.Figure:
    """Optuna's learning curves coloured by trial state (pruned: red, dotted), one legend entry
    per state with its count.

    Works on the figure's dict and builds one new figure: updating 200 traces one by one
    through plotly's validators takes seconds, this a few hundred milliseconds.
    """
    import plotly.graph_objects as go

    states = trial_states(study)
    spec = fig.to_dict()
    counts: dict[TrialState, int] = {}
    for trace in spec["data"]:
        state = state_of(trace.get("name"), states)
        if state is None:
            continue
        color, dash, _ = STYLES[state]
        counts[state] = counts.get(state, 0) + 1
        marker = trace.setdefault("marker", {})
        infeasible = str(marker.get("color", "")).upper() == INFEASIBLE
        if not infeasible:
            marker.update(color=color, symbol="x" if state == TrialState.PRUNED else "circle")
        trace.update(line={"color": INFEASIBLE if infeasible else color, "dash": dash, "width": 1.5},
                     opacity=0.75, name=f"{trace.get('name')} ({state.name.lower()})", showlegend=False,
                     legendgroup=state.name)
    for state, n in counts.items():
        color, dash, _ = STYLES[state]
        spec["data"].append({"type": "scatter", "x": [None], "y": [None], "mode": "lines",
                             "name": f"{state.name.lower()} ({n})", "line": {"color": color, "dash": dash},
                             "legendgroup": state.name, "showlegend": True, "hoverinfo": "skip"})
    spec["layout"].update(showlegend=True, legend={"title": {"text": "trials"}})
    return go.Figure(spec)


def build_plots(study: optuna.Study, objectives: list[Objective]) -> list[Plot]:
    """Every chart of the report, in page order; one per objective where Optuna needs a target."""
    from optuna import visualization as vis

    several = len(objectives) > 1
    plots: list[Plot] = []

    def per_objective(kind: str, label: str, reason: Callable[[Objective], str | None],
                      draw: Callable[[Objective], go.Figure]) -> None:
        for o in objectives:
            title = f"{label} — {o.name}" if several else label
            key = f"{kind}-{o.slug}" if several else kind
            plots.append(_attempt(key, title, reason(o), lambda o=o: draw(o)))

    if several:
        plots.append(_attempt("pareto", "Pareto front", av.no_pareto_front(study, objectives),
                              lambda: vis.plot_pareto_front(study, target_names=[o.name for o in objectives])))
    per_objective("history", "Optimization history", lambda o: av.no_values(study, o),
                  lambda o: vis.plot_optimization_history(study, target=o.plot_target, target_name=o.name))
    per_objective("importances", "Hyperparameter importances", lambda o: importances_for(study, o)[1],
                  lambda o: vis.plot_param_importances(study, evaluator=importance_evaluator(),
                                                       target=o.importance_target, target_name=o.name))
    plots.append(_attempt("intermediate", "Learning curves (intermediate values)",
                          av.no_intermediate_values(study), lambda: _learning_curves(study, objectives[0])))
    per_objective("parallel", "Parallel coordinates", lambda o: av.no_params(study, o),
                  lambda o: vis.plot_parallel_coordinate(study, target=o.plot_target, target_name=o.name))
    per_objective("slice", "Slice plot", lambda o: av.no_params(study, o),
                  lambda o: vis.plot_slice(study, target=o.plot_target, target_name=o.name))
    plots.append(_attempt("timeline", "Timeline (trials across workers)", av.no_trials(study),
                          lambda: vis.plot_timeline(study)))
    return plots


def _learning_curves(study: optuna.Study, objective: Objective) -> go.Figure:
    from optuna.visualization import plot_intermediate_values

    fig = style_learning_curves(plot_intermediate_values(study), study)
    fig.update_layout(yaxis={"title": {"text": objective.name}})
    return fig


def figure_config() -> dict[str, Any]:
    """plotly.js options for every chart: no logo link, resizes with the page."""
    return {"displaylogo": False, "responsive": True}
