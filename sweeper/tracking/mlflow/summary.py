"""The parent run's description (MLflow's run note, markdown): what the sweep found, at a glance.

It names the objective and the best value, tabulates the best params, and links the best trial's
run, so a person opening the parent run sees the answer first. The writer rewrites it when the
best changes and when the sweep ends (with the final counts and state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...config.spec import SweepSpec
from ...redact import mask

NOTE_TAG = "mlflow.note.content"


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


@dataclass
class BestTrial:
    number: int
    value: float
    params: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None


def run_link(experiment_id: str, run_id: str) -> str:
    """A link MLflow's UI follows from a run note (hash routing, relative to the UI's root), into its
    model-training view: without `workflowType`, MLflow 3 opens the run in its GenAI view."""
    return f"#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def note(spec: SweepSpec, experiment_id: str, best: BestTrial | None, finished: int,
         counts: dict[str, int] | None = None, state: str | None = None) -> str:
    o = spec.objectives[0]
    head = f"### Sweep `{spec.name}`: {o.goal} `{o.metric}`"
    lines = [head, ""]
    target = spec.n_trials or 0
    status = f"**{finished}** of {target} trials finished" if target else f"**{finished}** trials finished"
    if counts:
        status += " (" + ", ".join(f"{v} {k}" for k, v in counts.items()) + ")"
    if state:
        status += f" · sweep **{state}**"
    lines += [status, ""]
    if best is None:
        lines.append("No trial has completed yet.")
        return "\n".join(lines)
    where = f"[trial-{best.number}]({run_link(experiment_id, best.run_id)})" if best.run_id else f"trial-{best.number}"
    lines += [f"**Best {o.metric} = {fmt(best.value)}** at {where}", ""]
    if best.params:
        lines += ["| param | value |", "|---|---|"]
        lines += [f"| {k} | {mask(fmt(v))} |" for k, v in best.params.items()]
        lines.append("")
    lines.append(f"Best config: `best_config.yaml` · report: `report/report.html` · resume: `sweep resume {spec.name}`")
    return "\n".join(lines)
