"""The report's opening summary: what was optimised, how the trials ended, what was best.

Computed from the study alone (no MLflow), so a report can be written for any sweep whose
study is reachable, and rendered as a static HTML fragment that needs no JavaScript.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from .objectives import Objective

MAX_PARETO_ROWS = 50


@dataclass
class Summary:
    """The facts the summary shows; `best` holds one trial (one objective) or the Pareto set."""

    study_name: str
    objectives: list[Objective]
    counts: dict[str, int]
    best: list[FrozenTrial] = field(default_factory=list)
    started: dt.datetime | None = None
    finished: dt.datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def summarize(study: optuna.Study, objectives: list[Objective]) -> Summary:
    trials = study.get_trials(deepcopy=False)
    by_state = Counter(t.state for t in trials)
    counts = {s.name: by_state.get(s, 0) for s in TrialState}
    best: list[FrozenTrial] = []
    try:
        if len(objectives) == 1:
            best = [study.best_trial]
        else:
            best = sorted(study.best_trials, key=lambda t: t.number)
    except ValueError:  # no complete (feasible) trial yet
        best = []
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    return Summary(study.study_name, objectives, counts, best,
                   min(starts, default=None), max(ends, default=None))


def fmt(value: Any) -> str:
    """A value for a table cell: floats to 6 significant digits, the rest as they print."""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _table(head: list[str], rows: list[list[Any]], cls: str) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def render(summary: Summary) -> str:
    """The summary as an HTML fragment (a <section>)."""
    objs = summary.objectives
    parts = ['<section class="summary" id="summary"><h2>Summary</h2>']
    chips = "".join(f'<span class="chip">{escape(o.name)} <b>{o.arrow} {o.direction}</b></span>' for o in objs)
    parts.append(f'<p class="objectives">{"Objectives" if len(objs) > 1 else "Objective"}: {chips}</p>')
    counts = "".join(f'<span class="count state-{s.lower()}">{s.lower()} <b>{n}</b></span>'
                     for s, n in summary.counts.items() if n)
    parts.append(f'<p class="counts">{summary.total} trials: {counts or "none yet"}</p>')
    if summary.started is not None:
        end = summary.finished or summary.started
        parts.append(f'<p class="span">from {summary.started:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} '
                     f"({_duration(end - summary.started)})</p>")
    if not summary.best:
        parts.append('<p class="note">No completed trial yet: no best value to show.</p>')
    elif len(objs) == 1:
        t = summary.best[0]
        o = objs[0]
        parts.append(f'<div class="best"><p>Best {escape(o.name)}: <b class="best-value">{escape(fmt(o.value(t)))}</b>'
                     f" at trial {t.number}</p>")
        parts.append(_table(["param", "value"], [[k, v] for k, v in t.params.items()], "best-params"))
        parts.append("</div>")
    else:
        shown = summary.best[:MAX_PARETO_ROWS]
        params = list(dict.fromkeys(k for t in shown for k in t.params))
        rows = [[t.number, *(o.value(t) for o in objs), *(t.params.get(p, "") for p in params)] for t in shown]
        parts.append(f'<div class="best"><p>{len(summary.best)} Pareto-optimal trial(s)'
                     + (f" (first {MAX_PARETO_ROWS} shown)" if len(summary.best) > len(shown) else "") + ":</p>")
        parts.append(_table(["trial", *(f"{o.name} {o.arrow}" for o in objs), *params], rows, "best-params pareto"))
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _duration(delta: dt.timedelta) -> str:
    s = int(delta.total_seconds())
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"
