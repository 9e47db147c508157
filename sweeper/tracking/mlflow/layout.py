"""The MLflow run layout: one experiment per sweep, a parent run, a nested child run per trial.

The parent is the sweep's summary: its description (summary.py) names the best value and params
and links the best trial's run; it carries `best_<metric>` (step: trials finished) and every
complete trial's `trial_<metric>` on the same steps, `best.*` tags, `best_config.yaml`, the
report under `report/`, and what reproduces the sweep: `sweep.yaml` (resolved), the command line,
versions and git as tags, `environment/requirements.txt`. The sweep's settings are tags under
`setting.`, not params, so the runs table's param columns are the trials' own. A child run
`trial-N` spans the trial's true start and end and carries its params, its reported metrics at
their steps, `trial.*` tags (`trial.best=true` on the best), its stdout/stderr, and ends FINISHED,
FAILED or KILLED. Only the writer process calls this.
"""

from __future__ import annotations

import os
from typing import Any

from ...config.spec import SweepSpec
from ...redact import mask
from .lookup import quiet_mlflow
from .meta import git, requirements, versions
from .sql_runs import sql_runs_for
from .store import commit_without_fsync, create_sqlite_store
from .summary import NOTE_TAG, BestTrial

PARAM_MAX = 6000
TAG_MAX = 5000


def metric(key: str, value: float, ts: int, step: int) -> Any:
    from mlflow.entities import Metric

    return Metric(key, float(value), ts, int(step))


def param_list(params: dict[str, Any]) -> list[Any]:
    from mlflow.entities import Param

    # MLflow refuses `+` in a name; Hydra's `+w` (a define-by-run param adding key w) is param w
    return [Param(k.lstrip("+"), mask(str(v))[:PARAM_MAX]) for k, v in params.items()]


def tag_list(tags: dict[str, Any]) -> list[Any]:
    from mlflow.entities import RunTag

    return [RunTag(k, mask(str(v))[:TAG_MAX]) for k, v in tags.items()]


def tag_dict(tags: dict[str, Any]) -> dict[str, str]:
    """`tag_list`'s tags (masked, cut) as a dict, for the SQLite fast path (sql_runs)."""
    return {t.key: t.value for t in tag_list(tags)}


def params_yaml(params: dict[str, Any]) -> str:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({})
    for k, v in params.items():
        OmegaConf.update(cfg, k, v, force_add=True)
    return OmegaConf.to_yaml(cfg)


class RunLayout:
    """The sweep's experiment and parent run, opened (or created) on construction."""

    def __init__(self, spec: SweepSpec, uri: str, experiment: str, parent_run_id: str | None, uid: str,
                 reopen: bool = True) -> None:
        quiet_mlflow()
        from mlflow.tracking import MlflowClient

        self.spec = spec
        if uri.startswith("sqlite:///"):
            create_sqlite_store(uri[len("sqlite:///"):])
            commit_without_fsync()
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            artifact_location = None
            if uri.startswith("sqlite:///"):
                db = uri[len("sqlite:///"):]
                artifact_location = "file://" + os.path.join(os.path.dirname(os.path.abspath(db)), "mlruns")
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=artifact_location)
        else:
            self.experiment_id = exp.experiment_id
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(self.experiment_id)
        if not parent_run_id and uid:
            # a sweep killed before it saved its parent run id finds that run by its uid
            found = self.client.search_runs([self.experiment_id], filter_string=f"tags.`sweep.uid` = '{uid}'",
                                            max_results=1)
            if found:
                parent_run_id = found[0].info.run_id
        self.resumed = bool(parent_run_id)
        if parent_run_id:
            self.parent_id = parent_run_id
            if reopen:
                self.client.update_run(self.parent_id, status="RUNNING")
                self.client.set_tag(self.parent_id, "sweep.state", "RUNNING")
        else:
            run = self.client.create_run(self.experiment_id, run_name=spec.name,
                                         tags={"sweep.name": spec.name, "sweep.state": "RUNNING", "sweep.uid": uid})
            self.parent_id = run.info.run_id
        self.runs: dict[int, str] = {}  # trial number -> its child run
        # a SQLite store: child runs are created in one transaction and a drain's run writes go in
        # one more (the writer's barrier calls `fast.flush`); elsewhere MLflow's client writes them
        # as they come
        self.fast = sql_runs_for(self.client, uri)

    def ping(self) -> None:
        self.client.get_experiment(self.experiment_id)

    # --- the parent run ------------------------------------------------------------------------
    def sweep_started(self, settings: dict[str, Any], command: str) -> None:
        tags = {f"setting.{k}": v for k, v in settings.items() if v is not None}
        tags["sweep.command"] = command  # the latest (re)start
        if not self.resumed:
            tags.update({**versions(), **git(self.spec.workdir), "sweep.file": self.spec.source})
            self.client.log_text(self.parent_id, requirements(), "environment/requirements.txt")
        self.client.log_batch(self.parent_id, tags=tag_list(tags))
        self.client.log_text(self.parent_id, self.spec.resolved_yaml, "sweep.yaml")

    def stored_best(self) -> BestTrial | None:
        """On resume: the best so far, as the parent's `best.*` tags recorded it, with its run."""
        tags = self.client.get_run(self.parent_id).data.tags
        metric_tag = f"best.{self.spec.metrics[0]}"
        if "best.trial" not in tags or metric_tag not in tags:
            return None
        number = int(tags["best.trial"])
        params = {k[5:]: tags[k] for k in tags if k.startswith("best.") and k not in ("best.trial", metric_tag)}
        ordered = {n: params[n] for n in self.spec.params if n in params}
        found = self.client.search_runs([self.experiment_id], filter_string=(
            f"tags.mlflow.parentRunId = '{self.parent_id}' and tags.`trial.number` = '{number}'"), max_results=5)
        run_id = next((r.info.run_id for r in found if r.info.status == "FINISHED"), None)
        return BestTrial(number, float(tags[metric_tag]), ordered, run_id)

    def describe(self, markdown: str) -> None:
        self.client.set_tag(self.parent_id, NOTE_TAG, markdown)

    def log_report(self, files: list[str], metrics: list[Any]) -> None:
        for path in files:
            self.client.log_artifact(self.parent_id, path, "report")
        if metrics:
            self.client.log_batch(self.parent_id, metrics=metrics)

    def mark_best(self, number: int, previous_run: str | None) -> None:
        """`trial.best=true` on the best trial's run only (`previous_run`: the run that had it)."""
        run_id = self.runs.get(number)
        if previous_run is not None and previous_run != run_id:
            try:
                self.client.delete_tag(previous_run, "trial.best")
            except Exception:  # never tagged (its tag write was dropped): nothing to remove
                pass
        if run_id is not None:
            self.client.set_tag(run_id, "trial.best", "true")

    def mark_front(self, numbers: list[int]) -> None:
        """`trial.front=true` on the runs of the Pareto front's trials only: a resume's front may
        have dropped trials an earlier launch tagged."""
        tagged = self.client.search_runs([self.experiment_id], max_results=10000, filter_string=(
            f"tags.mlflow.parentRunId = '{self.parent_id}' and tags.`trial.front` = 'true'"))
        wanted = set(numbers)
        for r in tagged:
            if int(r.data.tags.get("trial.number", -1)) not in wanted:
                self.client.delete_tag(r.info.run_id, "trial.front")
        for n in sorted(wanted):
            run_id = self.runs.get(n) or self.find_trial_run(n)
            if run_id is not None:
                self.client.set_tag(run_id, "trial.front", "true")

    def sweep_tags(self, tags: dict[str, str]) -> None:
        self.client.log_batch(self.parent_id, tags=tag_list(tags))

    def parent_update(self, metrics: list[Any], tags: dict[str, str], note: str | None = None) -> None:
        """The parent's new metrics and tags in one request; `note`: its description too (as
        `describe` writes it, whole: MLflow takes tags up to 8000 characters, `tag_list` cuts at 5000)."""
        from mlflow.entities import RunTag

        if metrics or tags or note is not None:
            notes = [] if note is None else [RunTag(NOTE_TAG, note)]
            self.client.log_batch(self.parent_id, metrics=metrics, tags=tag_list(tags) + notes)

    def upload_best(self, config_yaml: str) -> None:
        self.client.log_text(self.parent_id, config_yaml, "best_config.yaml")

    def sweep_finished(self, state: str | None) -> None:
        if state is None:
            return
        self.client.set_tag(self.parent_id, "sweep.state", state)
        status = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}.get(state, "FINISHED")
        self.client.set_terminated(self.parent_id, status=status)

    # --- child runs ----------------------------------------------------------------------------
    def create_trial_run(self, number: int, tags: dict[str, str], start_ms: int,
                         params: dict[str, Any] | None = None) -> str:
        """Trial `number`'s child run, starting when the trial was placed; not yet its run here (see
        `adopt`), so the writer's opener thread can create it ahead of the queued writes."""
        all_tags = {"mlflow.parentRunId": self.parent_id, "trial.number": str(number), "trial.state": "RUNNING",
                    "sweep.name": self.spec.name, **tags}
        if self.fast is not None:
            return self.fast.create(self.experiment_id, f"trial-{number}", {k: str(v) for k, v in all_tags.items()},
                                    {p.key: p.value for p in param_list(params or {})}, start_ms)
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{number}", tags=all_tags,
                                     start_time=start_ms)
        if params:
            # if this fails the run exists without params: the writer logs them with its next write
            self.client.log_batch(run.info.run_id, params=param_list(params))
        return run.info.run_id

    def trial_started(self, number: int, tags: dict[str, str], start_ms: int) -> str:
        run_id = self.runs[number] = self.create_trial_run(number, tags, start_ms)
        return run_id

    def find_trial_run(self, number: int) -> str | None:
        """The child run of trial `number` already in MLflow (one an earlier writer created), if any."""
        found = self.client.search_runs([self.experiment_id], max_results=1, filter_string=(
            f"tags.mlflow.parentRunId = '{self.parent_id}' and tags.`trial.number` = '{number}'"))
        return found[0].info.run_id if found else None

    def adopt(self, number: int, run_id: str) -> None:
        """The run created for trial `number` before its worker started it (the writer's opener)."""
        self.runs[number] = run_id

    def log(self, number: int, metrics: list[Any] | None = None, params: list[Any] | None = None,
            tags: dict[str, str] | None = None) -> None:
        if self.fast is not None:
            self.fast.stage(self.runs[number], metrics, params, tag_dict(tags or {}))
            return
        self.client.log_batch(self.runs[number], metrics=metrics or [], params=params or [],
                              tags=tag_list(tags or {}))

    def trial_finished(self, number: int, status: str, metrics: list[Any], params: list[Any],
                       tags: dict[str, str], out_dir: str | None, end_ms: int) -> None:
        run_id = self.runs[number]
        if self.fast is not None:
            self.fast.stage(run_id, metrics, params, tag_dict(tags), end=(status, end_ms))
        else:
            self.client.log_batch(run_id, metrics=metrics, params=params, tags=tag_list(tags))
        if out_dir:
            for name in ("stdout.txt", "stderr.txt"):
                path = os.path.join(out_dir, name)
                if os.path.exists(path) and os.path.getsize(path) > 0:
                    self.client.log_artifact(run_id, path)
        if self.fast is None:
            self.client.set_terminated(run_id, status=status, end_time=end_ms)
