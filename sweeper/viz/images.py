"""`write_images`: static PNG previews of a sweep, for places that cannot run JavaScript
(MLflow's artifact viewer, a README, a chat message).

Drawn by Optuna's matplotlib visualizations with the Agg backend, so it works on a headless
machine. Optuna's functions switch pyplot to the "ggplot" style globally; that is contained
in an `rc_context` here, and every figure opened is closed, so a long-lived caller (a notebook,
a sweep driver writing a report every few minutes) neither changes style nor leaks memory.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from . import availability as av
from .importance import importance_evaluator, importances_for
from .objectives import Objective, resolve_objectives
from .states import INFEASIBLE, STYLES, state_of, trial_states

log = logging.getLogger(__name__)
DPI = 110


def write_images(study: optuna.Study, folder: str | Path, *, metric_names: list[str],
                 directions: list[str] | None = None) -> list[Path]:
    """Write PNGs of the optimization history and importances (one per objective) and of the
    learning curves into `folder`; return the files written. A chart the study cannot have
    yet is skipped (logged), following the same rules as the HTML report."""
    objectives = resolve_objectives(study, metric_names, directions)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # headless; a caller that already chose a backend keeps it
    from matplotlib import pyplot as plt
    from optuna.visualization import matplotlib as vis

    several = len(objectives) > 1
    jobs: list[tuple[str, str | None, Callable[[], Any]]] = []
    for o in objectives:
        suffix = f"_{o.slug}" if several else ""
        jobs.append((f"history{suffix}.png", av.no_values(study, o),
                     lambda o=o: vis.plot_optimization_history(study, target=o.plot_target, target_name=o.name)))
        jobs.append((f"importances{suffix}.png", importances_for(study, o)[1],
                     lambda o=o: vis.plot_param_importances(study, evaluator=importance_evaluator(),
                                                            target=o.importance_target, target_name=o.name)))
    jobs.append(("intermediate_values.png", av.no_intermediate_values(study),
                 lambda: _learning_curves(vis, study, objectives[0])))

    written: list[Path] = []
    for name, reason, draw in jobs:
        if reason is not None:
            log.info("report: no %s: %s", name, reason)
            continue
        before = set(plt.get_fignums())
        try:
            with matplotlib.rc_context(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # experimental-API notices, PED-ANOVA's loss notice
                ax = draw()
                ax.figure.savefig(out / name, dpi=DPI, bbox_inches="tight")
            written.append(out / name)
        except Exception as exc:  # one chart must not cost the others
            log.warning("report: Optuna could not draw %s: %s", name, exc)
        finally:
            for num in set(plt.get_fignums()) - before:
                plt.close(num)
    return written


def _learning_curves(vis: Any, study: optuna.Study, objective: Objective) -> Any:
    """Optuna's learning curves recoloured by trial state, with one legend entry per state.

    Optuna gives every trial a legend entry: with 200 trials the legend overflows the figure
    and laying it out takes seconds, so it is replaced.
    """
    from matplotlib.lines import Line2D

    ax = vis.plot_intermediate_values(study)
    states = trial_states(study)
    counts: dict[TrialState, int] = {}
    for line in ax.get_lines():
        state = state_of(line.get_label(), states)
        if state is None:
            continue
        counts[state] = counts.get(state, 0) + 1
        color, _, style = STYLES[state]
        if str(line.get_color()).upper() != INFEASIBLE:
            line.set_color(color)
        line.set_linestyle(style)
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    handles = [Line2D([], [], color=STYLES[s][0], linestyle=STYLES[s][2], label=f"{s.name.lower()} ({n})")
               for s, n in counts.items()]
    if handles:
        ax.legend(handles=handles, title="trials", loc="best")
    ax.set_ylabel(objective.name)
    return ax
