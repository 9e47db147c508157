"""Rebuild MLflow's view of finished trials from the study: the study is the truth.

Missing child runs are created with the trial's params, reported values at their steps, state
and error; runs left RUNNING by an interruption are closed as KILLED, and so is a second run left
RUNNING beside a trial's finished one (its worker opened it and was killed before it said so). A
trial that already has a finished run is otherwise left alone, so syncing twice changes nothing.
"""

from __future__ import annotations

import time
from typing import Any

from ...messages import TrialRecord
from .layout import RunLayout, metric, param_list, tag_list
from .lookup import runs_under


def _runs_by_trial(layout: RunLayout) -> dict[int, list[Any]]:
    runs: dict[int, list[Any]] = {}
    for r in runs_under(layout.client, layout.experiment_id, layout.parent_id):
        if "trial.number" in r.data.tags:
            runs.setdefault(int(r.data.tags["trial.number"]), []).append(r)
    return runs


def sync(layout: RunLayout, records: list[TrialRecord]) -> None:
    spec = layout.spec
    runs = _runs_by_trial(layout)
    fixed = {n: p.value for n, p in spec.params.items() if p.is_fixed}
    objective = spec.metrics[0]  # what the study's intermediate values are
    client = layout.client
    for t in records:
        mine = runs.get(t.number, [])
        open_runs = [r for r in mine if r.info.status == "RUNNING"]
        done = [r for r in mine if r.info.status != "RUNNING"]
        if t.interrupted:
            for r in open_runs:
                client.log_batch(r.info.run_id, tags=tag_list({"trial.state": "FAIL", "trial.interrupted": "true"}))
                client.set_terminated(r.info.run_id, status="KILLED", end_time=t.end_ms)
            if mine:
                continue
        elif done:
            # a run its worker opened and never reported (killed in between) beside the one the
            # writer made: closed, so no run of a finished trial stays RUNNING
            for r in open_runs:
                client.log_batch(r.info.run_id, tags=tag_list({"trial.state": t.state, "trial.duplicate": "true"}))
                client.set_terminated(r.info.run_id, status="KILLED", end_time=t.end_ms)
            continue
        status = "KILLED" if t.interrupted else {"COMPLETE": "FINISHED", "PRUNED": "FINISHED"}.get(t.state, "FAILED")
        steps = sorted(t.intermediate)
        last = steps[-1] if steps else None
        ts = t.end_ms or int(time.time() * 1000)
        # reports carry an earlier timestamp than the result, so MLflow shows the result as latest
        early = min(ts - 1, t.start_ms or ts - 1)
        metrics = [metric(objective, v, early, s) for s, v in sorted(t.intermediate.items())]
        if t.state == "COMPLETE" and t.values:
            for o, value in zip(spec.metrics, t.values, strict=False):
                if o != objective or t.intermediate.get(last) != value:  # type: ignore[arg-type]
                    metrics.append(metric(o, value, ts, last or 0))
        tags = {"trial.state": t.state, "trial.last_step": "" if last is None else str(last), "trial.synced": "true"}
        if t.interrupted:
            tags["trial.interrupted"] = "true"
        if t.error:
            tags["trial.error"] = str(t.error)
        if t.retry_of is not None:
            tags["trial.retry_of"] = str(t.retry_of)
        if open_runs:
            run_id = open_runs[0].info.run_id
            params: list[Any] = []
        else:
            run = client.create_run(layout.experiment_id, run_name=f"trial-{t.number}", start_time=t.start_ms,
                                    tags={"mlflow.parentRunId": layout.parent_id, "trial.number": str(t.number),
                                          "sweep.name": spec.name})
            run_id = run.info.run_id
            params = param_list({**t.params, **fixed})
        client.log_batch(run_id, metrics=metrics, params=params, tags=tag_list(tags))
        client.set_terminated(run_id, status=status, end_time=ts)
        layout.runs[t.number] = run_id

