"""MLflow, behind one module: a parent run per sweep, a nested child run per trial.

All MLflow calls happen on one background thread that owns the client, fed by a queue, so the
driver never waits on a tracking server and calls are batched (one `log_batch` per finished
trial). MLflow is the view: if it fails, trials go on and the study keeps the truth.
"""

from __future__ import annotations

import logging
import os
import platform
import queue
import socket
import subprocess
import time
from typing import Any

from .config import SweepSpec
from .redact import mask

log = logging.getLogger("sweeper.tracking")
_PARAM_MAX = 6000
_TAG_MAX = 5000


def tracking_uri(spec_uri: str | None, workdir: str) -> str:
    """The spec's URI, else MLFLOW_TRACKING_URI, else a SQLite store in the working directory."""
    return spec_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{os.path.join(workdir, 'mlflow.db')}"


def ui_hint(uri: str) -> str:
    if uri.startswith(("http://", "https://")):
        return f"open {mask(uri)}"
    return f"mlflow ui --backend-store-uri {mask(uri)}"


def quiet_mlflow() -> None:
    """MLflow logs its DB migrations at INFO and SQLAlchemy warns about `noload`: neither helps a user."""
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # an unreachable server should cost seconds, not MLflow's default minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    warnings.filterwarnings("ignore", message=".*noload.*")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _git(workdir: str) -> dict[str, str]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return {}
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=workdir, capture_output=True, text=True, timeout=5)
        return {"git.commit": commit.stdout.strip(), "git.dirty": str(bool(dirty.stdout.strip())).lower()}
    except (OSError, subprocess.SubprocessError):
        return {}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python.version": platform.python_version(), "host": socket.gethostname()}
    for pkg in ("sweeper", "optuna", "mlflow", "hydra-core", "omegaconf", "ray", "torch"):
        try:
            out[f"version.{pkg}"] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


class Tracker:
    """The one MLflow writer, in a process of its own: MLflow's client is heavy Python, and on
    the driver's GIL it would slow every ask/tell. Methods enqueue and return at once;
    `close` drains the queue. If the process dies, the study still has every result."""

    def __init__(self, spec: SweepSpec, parent_run_id: str | None = None, uid: str = "", reopen: bool = True) -> None:
        import multiprocessing as mp

        self.spec = spec
        self.uri = tracking_uri(spec.tracking.uri, spec.workdir)
        self.experiment = spec.tracking.experiment or spec.name
        ctx = mp.get_context("spawn")
        self._q: Any = ctx.Queue()
        self._results: Any = ctx.Queue()
        self._parent: str | None = None
        self._parent_error: str | None = None
        self._errors = 0
        self._proc = ctx.Process(target=_serve, args=(spec, self.uri, self.experiment, parent_run_id, uid,
                                                       self._q, self._results, reopen), name="sweeper-mlflow", daemon=True)
        self._proc.start()

    # --- the driver's side -------------------------------------------------------------------
    def sweep_started(self, settings: dict[str, Any]) -> None:
        self._q.put(("sweep_started", settings))

    def trial_started(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> None:
        self._q.put(("trial_started", number, params, tags))

    def trial_metrics(self, number: int, step: int, metrics: dict[str, float]) -> None:
        self._q.put(("trial_metrics", number, step, metrics, int(time.time() * 1000)))

    def trial_finished(self, number: int, status: str, metrics: dict[str, float], step: int,
                       tags: dict[str, str], out_dir: str | None) -> None:
        self._q.put(("trial_finished", number, status, metrics, step, tags, out_dir, int(time.time() * 1000)))

    def best(self, step: int, value: float, tags: dict[str, str] | None, config_yaml: str | None) -> None:
        self._q.put(("best", step, value, tags, config_yaml, int(time.time() * 1000)))

    def sweep_tags(self, tags: dict[str, str]) -> None:
        self._q.put(("sweep_tags", tags))

    def sync(self, trials: list[dict[str, Any]]) -> None:
        """Make MLflow match the study for these finished trials (the study is the truth)."""
        self._q.put(("sync", trials))

    def _drain_results(self, block: bool = False, timeout: float | None = None) -> None:
        import queue as _queue

        while True:
            try:
                kind, value = self._results.get(block, timeout) if block else self._results.get_nowait()
            except (_queue.Empty, EOFError, OSError):
                return
            block = False
            if kind == "parent":
                self._parent = value
            elif kind == "parent_error":
                self._parent_error = value
            elif kind == "errors":
                self._errors = value

    def poll_parent(self) -> str | None:
        """The parent run id once the writer has it (None until then, or if MLflow is down)."""
        if self._parent is None:
            self._drain_results()
        return self._parent

    def wait_parent(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while self._parent is None and self._parent_error is None and time.monotonic() < deadline:
            if not self._proc.is_alive():
                self._drain_results()
                break
            self._drain_results(block=True, timeout=0.2)
        return self._parent

    @property
    def parent_error(self) -> str | None:
        return self._parent_error

    def close(self, state: str | None, timeout: float = 300.0) -> None:
        """Set the parent's final state (None: leave it) and wait for every queued write."""
        self._q.put(("sweep_finished", state))
        self._q.put(None)
        deadline = time.monotonic() + timeout
        while self._proc.is_alive() and time.monotonic() < deadline:
            self._drain_results(block=True, timeout=0.2)
        self._drain_results()
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(5)
        self._q.close()
        self._q.join_thread()

    @property
    def errors(self) -> int:
        return self._errors


def _serve(spec: SweepSpec, uri: str, experiment: str, parent_run_id: str | None, uid: str, q: Any, results: Any,
           reopen: bool = True) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's; it closes us in order
    from .worker import die_with_parent

    die_with_parent()
    _Writer(spec, uri, experiment, parent_run_id, uid, q, results, reopen).loop()


class _Writer:
    """Runs in the tracking process: owns the MlflowClient, batches what the driver queued."""

    def __init__(self, spec: SweepSpec, uri: str, experiment: str, parent_run_id: str | None, uid: str,
                 q: Any, results: Any, reopen: bool = True) -> None:
        self.spec, self.uri, self.experiment = spec, uri, experiment
        self.reopen = reopen
        self._resume_parent = parent_run_id
        self.uid = uid
        self._q, self._results = q, results
        self._runs: dict[int, str] = {}
        self._pending_params: dict[int, list[Any]] = {}
        self._errors = 0
        self._down_since: float | None = None
        self._last_probe = 0.0

    def loop(self) -> None:
        try:
            self._connect()
        except Exception as e:  # the sweep goes on without tracking; the study keeps everything
            self._errors += 1
            msg = mask(" ".join(str(e).split()))[:300]
            self._results.put(("parent_error", msg))
            while self._q.get() is not None:
                pass
            self._results.put(("errors", self._errors))
            return
        best_cfg: str | None = None
        last_cfg_upload = 0.0
        while True:
            item = self._q.get()
            batch = [item]
            while True:  # drain what is queued so parent updates go in one call
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            parent_metrics: list[Any] = []
            parent_tags: dict[str, str] = {}
            stop = False
            for op in batch:
                if op is None:
                    stop = True
                    continue
                if self._down_since is not None and not self._probe():
                    self._errors += 1  # dropped while MLflow is down: `sweep sync` rebuilds it from the study
                    continue
                try:
                    if op[0] == "best":
                        _, step, value, tags, cfg, ts = op
                        parent_metrics.append(self._metric(f"best_{self.spec.objective.metric}", value, ts, step))
                        parent_tags.update(tags or {})
                        if cfg is not None:
                            best_cfg = cfg
                    elif op[0] == "sweep_finished":
                        self._flush_parent(parent_metrics, parent_tags)
                        parent_metrics, parent_tags = [], {}
                        if best_cfg is not None:
                            self._upload_best(best_cfg)
                            best_cfg = None
                        self._finish_sweep(op[1])
                    else:
                        getattr(self, "_" + op[0])(*op[1:])
                except Exception as e:
                    self._errors += 1
                    if self._down_since is None:
                        log.warning("MLflow write failed (%s): %s; trials go on, the study keeps every result",
                                    op[0], mask(" ".join(str(e).split()))[:300])
                    self._down_since = self._last_probe = time.monotonic()
            try:
                if self._down_since is not None:
                    parent_metrics, parent_tags = [], {}
                    self._pending_params.clear()
                self._flush_parent(parent_metrics, parent_tags)
                self._flush_params()
                if best_cfg is not None and (stop or time.monotonic() - last_cfg_upload > 2.0):
                    self._upload_best(best_cfg)
                    best_cfg, last_cfg_upload = None, time.monotonic()
            except Exception as e:
                self._errors += 1
                log.warning("MLflow write failed: %s", mask(" ".join(str(e).split()))[:300])
            if self._errors:
                self._results.put(("errors", self._errors))
            if stop:
                return

    def _probe(self) -> bool:
        """While MLflow is down, try it again every 10 s rather than on every queued write."""
        if time.monotonic() - self._last_probe < 10.0:
            return False
        self._last_probe = time.monotonic()
        try:
            self.client.get_experiment(self.experiment_id)
        except Exception:
            return False
        log.warning("MLflow is back after %.0f s; `sweep sync %s` fills in what it missed",
                    time.monotonic() - (self._down_since or 0), self.spec.name)
        self._down_since = None
        return True

    def _connect(self) -> None:
        quiet_mlflow()
        from mlflow.tracking import MlflowClient

        if self.uri.startswith("sqlite:///"):
            path = self.uri[len("sqlite:///"):]
            if path and not os.path.exists(path):
                # MLflow migrates a new SQLite store in many steps: do it in a side file and rename
                # it into place, so a kill meanwhile leaves no half-migrated store behind
                tmp = f"{path}.init-{os.getpid()}"
                MlflowClient(tracking_uri=f"sqlite:///{tmp}").search_experiments(max_results=1)
                if not os.path.exists(path):
                    os.replace(tmp, path)
                else:
                    os.remove(tmp)
        self.client = MlflowClient(tracking_uri=self.uri)
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is None:
            artifact_location = None
            if self.uri.startswith("sqlite:///"):
                db = self.uri[len("sqlite:///"):]
                artifact_location = "file://" + os.path.join(os.path.dirname(os.path.abspath(db)), "mlruns")
            exp_id = self.client.create_experiment(self.experiment, artifact_location=artifact_location)
        else:
            exp_id = exp.experiment_id
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp_id)
        self.experiment_id = exp_id
        if not self._resume_parent and self.uid:
            # a sweep killed before it saved its parent run id finds that run by its uid
            found = self.client.search_runs([exp_id], filter_string=f"tags.`sweep.uid` = '{self.uid}'", max_results=1)
            if found:
                self._resume_parent = found[0].info.run_id
        if self._resume_parent:
            self.parent_id = self._resume_parent
            if self.reopen:
                self.client.update_run(self.parent_id, status="RUNNING")
                self.client.set_tag(self.parent_id, "sweep.state", "RUNNING")
        else:
            run = self.client.create_run(exp_id, run_name=self.spec.name,
                                         tags={"sweep.name": self.spec.name, "sweep.state": "RUNNING", "sweep.uid": self.uid})
            self.parent_id = run.info.run_id
        self._results.put(("parent", self.parent_id))

    def _metric(self, key: str, value: float, ts: int, step: int) -> Any:
        from mlflow.entities import Metric

        return Metric(key, float(value), ts, int(step))

    def _sweep_started(self, settings: dict[str, Any]) -> None:
        from mlflow.entities import Param, RunTag

        if self._resume_parent:
            self.client.log_text(self.parent_id, self.spec.resolved_yaml, "sweep.yaml")
            return
        params = [Param(k, mask(str(v))[:_PARAM_MAX]) for k, v in settings.items()]
        tags = {**_versions(), **_git(self.spec.workdir), "sweep.file": self.spec.source}
        self.client.log_batch(self.parent_id, params=params, tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.log_text(self.parent_id, self.spec.resolved_yaml, "sweep.yaml")

    def _sweep_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.parent_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def _trial_started(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> None:
        from mlflow.entities import Param

        all_tags = {"mlflow.parentRunId": self.parent_id, "trial.number": str(number), "trial.state": "RUNNING",
                    "sweep.name": self.spec.name, **tags}
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{number}", tags=all_tags)
        self._runs[number] = run.info.run_id
        self._pending_params[number] = [Param(k, mask(str(v))[:_PARAM_MAX]) for k, v in params.items()]

    def _flush_params(self) -> None:
        for number in list(self._pending_params):
            self.client.log_batch(self._runs[number], params=self._pending_params.pop(number))

    def _trial_metrics(self, number: int, step: int, metrics: dict[str, float], ts: int) -> None:
        run_id = self._runs[number]
        params = self._pending_params.pop(number, [])
        self.client.log_batch(run_id, metrics=[self._metric(k, v, ts, step) for k, v in metrics.items()],
                              params=params)

    def _trial_finished(self, number: int, status: str, metrics: dict[str, float], step: int,
                        tags: dict[str, str], out_dir: str | None, ts: int) -> None:
        from mlflow.entities import RunTag

        run_id = self._runs.get(number)
        if run_id is None:
            return
        params = self._pending_params.pop(number, [])
        clean_tags = [RunTag(k, mask(str(v))[:_TAG_MAX]) for k, v in tags.items()]
        self.client.log_batch(run_id, metrics=[self._metric(k, v, ts, step) for k, v in metrics.items()],
                              params=params, tags=clean_tags)
        if out_dir:
            for name in ("stdout.txt", "stderr.txt"):
                path = os.path.join(out_dir, name)
                if os.path.exists(path) and os.path.getsize(path) > 0:
                    self.client.log_artifact(run_id, path)
        self.client.set_terminated(run_id, status=status, end_time=ts)

    def _flush_parent(self, metrics: list[Any], tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        if metrics or tags:
            self.client.log_batch(self.parent_id, metrics=metrics,
                                  tags=[RunTag(k, mask(str(v))[:_TAG_MAX]) for k, v in tags.items()])

    def _upload_best(self, config_yaml: str) -> None:
        self.client.log_text(self.parent_id, config_yaml, "best_config.yaml")

    def _sync(self, trials: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        runs: dict[int, list[Any]] = {}
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{self.parent_id}'",
                                           max_results=1000, page_token=token)
            for r in page:
                if "trial.number" in r.data.tags:
                    runs.setdefault(int(r.data.tags["trial.number"]), []).append(r)
            token = page.token
            if not token:
                break
        fixed = {n: p.value for n, p in self.spec.params.items() if p.is_fixed}
        metric = self.spec.objective.metric
        for t in trials:
            mine = runs.get(t["number"], [])
            open_runs = [r for r in mine if r.info.status == "RUNNING"]
            done = [r for r in mine if r.info.status != "RUNNING"]
            if t["interrupted"]:
                for r in open_runs:
                    self.client.log_batch(r.info.run_id, tags=[RunTag("trial.state", "FAIL"), RunTag("trial.interrupted", "true")])
                    self.client.set_terminated(r.info.run_id, status="KILLED", end_time=t["end"])
                if mine:
                    continue
            elif done:
                continue
            status = "KILLED" if t["interrupted"] else {"COMPLETE": "FINISHED", "PRUNED": "FINISHED"}.get(t["state"], "FAILED")
            steps = sorted(t["intermediate"])
            last = steps[-1] if steps else None
            ts = t["end"] or int(time.time() * 1000)
            # reports carry an earlier timestamp than the result, so MLflow shows the result as latest
            early = min(ts - 1, t["start"] or ts - 1)
            metrics = [Metric(metric, float(v), early, int(s)) for s, v in sorted(t["intermediate"].items())]
            if t["state"] == "COMPLETE" and t["value"] is not None and t["intermediate"].get(last) != t["value"]:
                metrics.append(Metric(metric, float(t["value"]), ts, int(last or 0)))
            tags = {"trial.state": t["state"], "trial.last_step": "" if last is None else str(last), "trial.synced": "true"}
            if t["interrupted"]:
                tags["trial.interrupted"] = "true"
            if t["error"]:
                tags["trial.error"] = mask(str(t["error"]))[:_TAG_MAX]
            if t["retry_of"] is not None:
                tags["trial.retry_of"] = str(t["retry_of"])
            if open_runs:
                run_id = open_runs[0].info.run_id
                params: list[Any] = []
            else:
                run = self.client.create_run(self.experiment_id, run_name=f"trial-{t['number']}", start_time=t["start"],
                                             tags={"mlflow.parentRunId": self.parent_id, "trial.number": str(t["number"]),
                                                   "sweep.name": self.spec.name})
                run_id = run.info.run_id
                params = [Param(k, mask(str(v))[:_PARAM_MAX]) for k, v in {**t["params"], **fixed}.items()]
            self.client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag(k, v) for k, v in tags.items()])
            self.client.set_terminated(run_id, status=status, end_time=ts)
            self._runs[t["number"]] = run_id

    def _finish_sweep(self, state: str | None) -> None:
        if state is None:
            return
        self.client.set_tag(self.parent_id, "sweep.state", state)
        status = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}.get(state, "FINISHED")
        self.client.set_terminated(self.parent_id, status=status)


def child_run_id(uri: str, parent_run_id: str, number: int) -> str | None:
    """Look up a trial's child run (the view) for `sweep best`."""
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.`trial.number` = '{number}'",
                              max_results=10)
    finished = [r for r in runs if r.info.status == "FINISHED"] or runs
    return finished[0].info.run_id if finished else None

