"""The Python API: load a sweep, run it, resume it, sync its view, open its study. Prints nothing.

Each call wires one flow together: spec → study → backend + trackers → driver. Pass `echo`
(e.g. `print`) to hear what the CLI says, and `progress` for a live view; by default both are
silent (warnings of the MLflow writer and of Optuna still go through `logging`). Failures are exceptions (`sweeper.errors`): `SpecError` for bad input, `SweepFailed` and
`Interrupted` for a sweep that ended badly, `StorageFault` when the study's storage failed under it. The CLI is a thin layer over this module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import early_stop, search
from .config import load as _load_spec
from .config.load import from_config, resume_config
from .config.schema import BUDGET_KEYS
from .config.spec import SweepSpec
from .driver.loop import ProgressView
from .errors import Interrupted, SpecError, StorageFault, SweepError, SweepFailed
from .redact import mask
from .state import attrs, faults
from .state import store as studies

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

    from .driver import Driver
    from .driver.tasks import Jobs
    from .tracking import Tracker, Trackers

Echo = Callable[[str], None]


@dataclass
class Result:
    """How a sweep ended, and its best trial (single objective)."""

    name: str
    state: str
    best_number: int | None
    best_values: list[float] | None
    best_params: dict[str, Any]
    elapsed_s: float
    where: dict[str, str] = field(default_factory=dict)  # tracker name -> its reference (MLflow: parent run id)

    @property
    def best_value(self) -> float | None:
        return self.best_values[0] if self.best_values else None


def _quiet(_: str) -> None:
    return None


def load(source: str | os.PathLike[str] | Mapping[str, Any], overrides: list[str] | None = None,
         workdir: str | None = None, storage: str | None = None) -> SweepSpec:
    """A sweep file's path, or an in-memory config (mapping or DictConfig) → a validated SweepSpec."""
    spec = _load_spec(source, overrides, workdir=workdir)
    return dataclasses.replace(spec, storage=storage) if storage else spec


def definition_hash(definition: dict[str, Any]) -> str:
    """Identity of a sweep: everything but the budget keys, which a resume may change."""
    core = {k: v for k, v in definition.items() if k not in BUDGET_KEYS}
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe(spec: SweepSpec) -> str:
    """`--dry-run`: the resolved sweep, the space and the grid size."""
    lines = ["# resolved sweep", spec.resolved_yaml.rstrip(), "", "# search space"]
    for p in spec.params.values():
        lines.append(f"  {p.name}: {p.describe()}")
    try:
        size: int | str = search.grid_size(spec)
    except SpecError:
        size = "infinite (continuous parameters)"
    lines += ["", f"grid size: {size}", f"search: {spec.search.method}, early_stop: {spec.early_stop.type}, "
              f"n_trials: {spec.n_trials}, workers: {spec.workers or 'as many as resources allow'}", f"storage: {mask(spec.storage)}"]
    return "\n".join(lines)


def _check_command(spec: SweepSpec) -> None:
    assert spec.trial.command is not None
    try:
        argv = shlex.split(spec.trial.command)
    except ValueError as e:
        raise SpecError(spec.source, "trial.command", f"cannot split into arguments: {e}") from None
    if not argv:
        raise SpecError(spec.source, "trial.command", "is empty")
    if any("${args}" in a and a != "${args}" for a in argv):
        raise SpecError(spec.source, "trial.command", "${args} must stand alone as one argument")
    exe = argv[0]
    if exe in ("python", "python3"):
        return
    found = shutil.which(exe, path=os.environ.get("PATH")) if os.sep not in exe else (
        exe if os.access(os.path.join(spec.workdir, exe), os.X_OK) else None)
    if not found:
        raise SpecError(spec.source, "trial.command", f"command {exe!r} not found (not on PATH nor an executable path)")


def launch(path: str | os.PathLike[str] | Mapping[str, Any], overrides: list[str] | None = None,
           storage: str | None = None, dry_run: bool = False, resume: bool = False,
           progress: ProgressView | None = None,
           echo: Echo | None = None) -> Result | str:
    """Load and run a sweep (`resume`: continue it if it exists); `dry_run` returns its description."""
    spec = load(path, overrides or [], storage=storage)
    if dry_run:
        return describe(spec)
    return run(spec, resume=resume, progress=progress, echo=echo)


def stored(name: str, storage_url: str,
           overrides: list[str] | None = None) -> tuple[SweepSpec, BaseStorage, optuna.Study]:
    """The sweep `name` as stored in its study, with the budget overrides a resume may give:
    (its SweepSpec, the storage, the optuna.Study)."""
    import yaml

    storage = studies.open_storage(storage_url)
    st = studies.load(storage, name)
    text = studies.spec_yaml(st)
    if not text:
        raise SweepError(f"sweep {name!r} was not created by sweeper (no stored definition)")
    workdir = str(st.user_attrs.get(attrs.WORKDIR) or os.getcwd())
    if not os.path.isdir(workdir):
        workdir = os.getcwd()
    base_dir = str(st.user_attrs.get(attrs.BASE_DIR) or workdir)
    cfg = resume_config(yaml.safe_load(text), list(overrides or []))
    spec = from_config(cfg, f"sweep {name!r}", base_dir, workdir)
    return dataclasses.replace(spec, storage=storage_url), storage, st


def _storage_url(storage: str | None) -> str:
    from .config.load import default_storage

    return storage or default_storage(os.getcwd())


def resume(name: str, storage: str | None = None, overrides: list[str] | None = None,
           progress: ProgressView | None = None,
           echo: Echo | None = None) -> Result:
    """Continue sweep `name` from its storage; budget overrides (n_trials=...) extend it."""
    spec, _, _ = stored(name, _storage_url(storage), list(overrides or []))
    return run(spec, resume=True, progress=progress, echo=echo)


def open_study(name: str, storage: str | None = None) -> optuna.Study:
    """The sweep's `optuna.Study`, for analysis with Optuna's own tools (read it; let sweeper write it)."""
    return studies.load(studies.open_storage(_storage_url(storage)), name)


def _trackers(spec: SweepSpec, study: optuna.Study, factories: list[type[Tracker]] | None) -> Trackers:
    from .tracking import Trackers, tracker_classes

    uid = str(study.user_attrs.get(attrs.UID, ""))
    return Trackers([cls(spec, studies.StudyMemo(study, name), uid) for name, cls in tracker_classes(factories or [])])


def sync(name: str, storage: str | None = None) -> str:
    """Make the trackers' view match the study: create missing runs, close stale ones."""
    spec, _, st = stored(name, _storage_url(storage), [])
    state = str(st.user_attrs.get(attrs.STATE, "RUNNING"))
    from .tracking.mlflow import MlflowTracker

    tracker = MlflowTracker(spec, studies.StudyMemo(st, MlflowTracker.name), str(st.user_attrs.get(attrs.UID, "")),
                            reopen=False, parent_wait_s=120)
    if tracker.parent_run_id is None:
        tracker.sweep_started(spec.settings(spec.workers or 1), resumed=False)
    recs = studies.records(st)
    tracker.sync(recs)
    if os.environ.get(REPORT_ENV, "1") != "0":
        _report_to(tracker, spec, st, _quiet)
    tracker.sweep_finished(state if state != "RUNNING" else None, {})
    if tracker.parent_error:
        raise SweepError(f"MLflow at {mask(tracker.uri)} is unavailable: {tracker.parent_error[:200]}")
    return f"synced {len(recs)} trials of {name!r} to MLflow ({tracker.failed_writes} errors)"


def best(name: str, storage: str | None = None) -> dict[str, Any]:
    """The best trial of sweep `name`: {name, trial, value, params, run_id}; run_id None if MLflow is down.
    A sweep with several objectives has a Pareto front instead: {name, front: [{trial, values
    (metric → value), params, run_id}, ...]}, its feasible non-dominated trials. Both carry
    `problem`: why the runs could not be looked up, or None."""
    import yaml

    st = open_study(name, storage)
    several = len(st.directions) > 1
    found = studies.front(st) if several else [b for b in [studies.best_trial(st)] if b is not None]
    if not found:
        raise SweepError(f"sweep {name!r} has no complete{' feasible' if _constrained(st) else ''} trial yet")
    runs: dict[int, str | None] = {t.number: None for t in found}
    problem = None
    from .tracking.mlflow.tracker import PARENT_KEY

    parent = studies.StudyMemo(st, "mlflow").get(PARENT_KEY)
    if parent:
        from .tracking.mlflow import child_run_id, tracking_uri

        definition = yaml.safe_load(studies.spec_yaml(st) or "{}") or {}
        uri = tracking_uri((definition.get("tracking") or {}).get("uri"), str(st.user_attrs.get(attrs.WORKDIR) or os.getcwd()))
        try:
            for number in runs:
                runs[number] = child_run_id(uri, parent, number)
        except Exception as e:  # the view may be down; the study still answers
            problem = f"MLflow lookup failed: {str(e).splitlines()[0][:200]}"
    if several:
        metrics = studies.metric_names(st)
        return {"name": name, "front": [{"trial": t.number, "values": dict(zip(metrics, t.values, strict=True)),
                                         "params": t.params, "run_id": runs[t.number]} for t in found],
                "problem": problem}
    b = found[0]
    return {"name": name, "trial": b.number, "value": b.value, "params": b.params, "run_id": runs[b.number],
            "problem": problem}


def _constrained(st: optuna.Study) -> bool:
    return any(t.constraints for t in st.get_trials(deepcopy=False))


def _warm_source(spec: SweepSpec) -> optuna.Study:
    """The sweep `warm_start.from` names, checked before anything is created: it exists, in this
    sweep's storage or `warm_start.storage`, with as many objectives in the same directions."""
    assert spec.warm_start is not None
    url = spec.warm_start.storage or spec.storage
    try:
        storage = studies.open_storage(url)  # never creates
    except studies.StorageError as e:
        raise SpecError(spec.source, "warm_start.from", f"no sweep named {spec.warm_start.sweep!r} ({e})") from None
    if not studies.exists(storage, spec.warm_start.sweep):
        known = ", ".join(studies.study_names(storage)) or "none"
        raise SpecError(spec.source, "warm_start.from", f"no sweep named {spec.warm_start.sweep!r} in {mask(url)} "
                        f"(there: {known})")
    source = studies.load(storage, spec.warm_start.sweep)
    theirs = [f"{m} ({d.name.lower()})" for m, d in zip(studies.metric_names(source), source.directions, strict=True)]
    ours = [f"{o.metric} ({o.goal})" for o in spec.objectives]
    if theirs != ours:
        raise SpecError(spec.source, "warm_start.from", f"{spec.warm_start.sweep!r} optimised {', '.join(theirs)}, "
                        f"this sweep {', '.join(ours)}: its values would mislead the sampler")
    return source


def _name_taken(spec: SweepSpec) -> SweepError:
    return SweepError(f"a sweep named {spec.name!r} already exists in {mask(spec.storage)}: continue it with "
                      f"`sweep resume {spec.name}` (or `sweep launch --resume`), or choose another name")


def run(spec: SweepSpec, resume: bool = False, progress: ProgressView | None = None, echo: Echo | None = None,
        trackers: list[type[Tracker]] | None = None, jobs: Jobs | None = None) -> Result:
    """Run `spec` to the end, or continue it (`resume`, when its study exists).

    `trackers`: extra `Tracker` classes (called as cls(spec, memo, uid)) beside MLflow. `jobs`: a front
    door that composes each trial's job itself (the Hydra plugin; a sweep with `trial.hydra` needs it).
    Raises SweepFailed / Interrupted for a bad ending, StorageFault when the study's storage fails
    (disk full, read-only, unreachable, deleted): the running trials are killed, nothing more is
    written to the study, and the error's line says what is kept and how to continue.
    """
    from .backends import Backend, make_backend
    from .driver import Driver
    from .state.coordination import Lease

    say = echo or _quiet
    t0 = time.monotonic()
    backend: Backend | None = None
    tracker: Trackers | None = None
    st: optuna.Study | None = None
    driver: Driver | None = None
    watch: faults.Watch | None = None
    fault: faults.Fault | None = None  # the storage failed under the sweep: one line, exit 3
    outcome_state = "FAILED"
    final_tags: dict[str, str] = {}
    try:
        if spec.trial.hydra and jobs is None:
            raise SweepError(f"sweep {spec.name!r} runs jobs of the Hydra app {spec.trial.hydra}: continue it by "
                             "running the app's --multirun command again")
        sampler = search.make_sampler(spec)  # before anything starts: a bad option changes nothing
        pruner = early_stop.make_pruner(spec)
        from .search import configure as configure_hook

        configure_hook.load(spec)  # search.configure imports, before anything is created
        if spec.trial.command:
            _check_command(spec)
        studies.check_url(spec.storage)
        warm = _warm_source(spec) if spec.warm_start is not None and not resume else None
        storage = None
        if not resume:  # a launch refused for its name starts no worker (seconds of imports each)
            try:
                storage = studies.open_storage(spec.storage)  # never creates: there or not
            except studies.StorageError:
                storage = None  # nothing there yet, or unreachable: said below, as before
            if storage is not None and studies.exists(storage, spec.name):
                raise _name_taken(spec)
        backend = make_backend(spec)
        from .tracking import warm_up

        warm_up(trackers or [])  # the MLflow writer imports MLflow while the workers start and the study is made
        for warning in search.advice(spec):
            say(f"warning: {warning}")
        backend.start()
        for warning in backend.warnings:
            say(f"warning: {warning}")
        if spec.trial.function and jobs is None:  # a Hydra app's task function is the running app's
            problem = backend.check_function(spec.trial.function)
            if problem:
                raise SpecError(spec.source, "trial.function", problem)
        if storage is None:
            storage = studies.open_storage(spec.storage, create_dirs=True)
        watch = faults.Watch(spec.storage)
        this_hash = definition_hash(spec.definition)
        new = not resume or not studies.exists(storage, spec.name)  # `launch --resume` of a sweep not yet there
        if new:
            if studies.exists(storage, spec.name):
                raise _name_taken(spec)
            search.attach_storage(sampler, storage)
            st = studies.create(storage, spec.name, spec.directions, sampler, pruner,
                                {attrs.SPEC: spec.resolved_yaml, attrs.HASH: this_hash, attrs.UID: uuid.uuid4().hex,
                                 attrs.WORKDIR: spec.workdir, attrs.BASE_DIR: spec.base_dir},
                                metric_names=list(spec.metrics))
            for i, seed in enumerate(spec.seed_trials):  # asked before anything sampled, in file order
                st.enqueue_trial(seed, user_attrs={attrs.SEED_TRIAL: i})
            if warm is not None:
                assert spec.warm_start is not None
                imported, skipped = studies.import_trials(st, warm, spec.warm_start.sweep, spec.params)
                say(f"warm start: {imported} finished trials of {spec.warm_start.sweep!r} join the history"
                    + (f" ({skipped} did not fit this space)" if skipped else ""))
        else:
            st = studies.load(storage, spec.name, None, pruner)
            st.sampler = search.make_sampler(spec, resumed_trials=len(st.get_trials(deepcopy=False)), storage=storage)
            old_hash = st.user_attrs.get(attrs.HASH)
            if old_hash and old_hash != this_hash:
                raise SpecError(spec.source, "", _diff(studies.spec_yaml(st), spec.resolved_yaml))
            if studies.spec_yaml(st) != spec.resolved_yaml:  # a budget key changed: the study says so
                st.set_user_attr(attrs.SPEC, spec.resolved_yaml)
        st.set_user_attr(attrs.STATE, "RUNNING")
        lease = Lease(st)
        lease.renew([], force=True)
        tracker = _trackers(spec, st, trackers)
        tracker.sweep_started(spec.settings(backend.n), resumed=not new)
        driver = Driver(spec, st, storage, backend, tracker, pruner, lease, progress, jobs=jobs)
        driver.watch = watch
        if not new:
            interrupted = driver.reclaim_orphans()
            if interrupted:
                say(f"trials {', '.join(map(str, interrupted))} were cut off by the interruption: re-running them")
            tracker.sync(studies.records(st))  # the view catches up with what the study recorded
        previous = _install_signals(driver)
        try:
            outcome = driver.run()
        finally:
            _restore_signals(previous)
        outcome_state = outcome.state
        st.set_user_attr(attrs.STATE, outcome.state)
        lease.release()
        final_tags = {"sweep.pruned": str(driver.pruned), "sweep.failed": str(driver.failed),
                      "sweep.complete": str(driver.complete)}
        if len(spec.objectives) > 1:  # the result of several objectives: the front's trials, on the parent
            final_tags["sweep.front"] = ",".join(str(t.number) for t in studies.front(st))
        if spec.budget.any() and outcome.state == "FINISHED":
            # which limit ended the sweep: a budget, or n_trials (the first reached)
            outcome.message = outcome.message or f"n_trials reached ({driver.finished}/{spec.n_trials} trials)"
            final_tags["sweep.stopped_by"] = outcome.message.split(" ", 1)[0]
    except Exception as e:
        fault = None if isinstance(e, SweepError) else faults.classify(e, watch)
        if fault is None:
            raise
        if driver is not None:
            driver.abandon(fault.reason)
        if tracker is not None:  # its view is closed below, without another word to the study
            for t in tracker.trackers:
                t.memo = _Unwritten(t.memo)
    finally:
        stopping = None
        try:
            if backend is not None:
                # workers exit while the view is written: an exiting worker that imported MLflow
                # spends about a second in MLflow's exit handlers
                import threading

                stopping = threading.Thread(target=backend.shutdown, name="sweeper-stop-workers")
                stopping.start()
            if tracker is not None:
                if st is not None and outcome_state != "KILLED" and fault is None and os.environ.get(REPORT_ENV, "1") != "0":
                    if progress is not None:
                        progress.closing("writing the report…")
                    _report_to(tracker, spec, st, say)
                if progress is not None:
                    progress.closing("writing MLflow…")
                tracker.sweep_finished(outcome_state, final_tags)
            if stopping is not None:
                if progress is not None and st is not None:  # a refused start says only why
                    progress.closing("stopping workers…")
                stopping.join()
        finally:
            if progress is not None:
                progress.stop()
    if fault is not None:
        raise StorageFault(faults.message(fault, spec.storage, spec.name, _finished(fault, st, driver),
                                          exists=st is not None or resume))
    for problem in tracker.problems:
        say(f"warning: {problem}")
    b = studies.best_trial(st)
    where = tracker.references()
    result = Result(spec.name, outcome.state, b.number if b else None, list(b.values) if b else None,
                    dict(b.params) if b else {}, time.monotonic() - t0, where)
    if outcome.state == "FINISHED" and outcome.message:
        say(f"stopped: {outcome.message}")
    if b is not None:
        shown = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in b.params.items())
        say(f"best {spec.metrics[0]}={b.value:.6g} at trial {b.number}: {shown}")
    if tracker.where():
        say(tracker.where())
    if tracker.failed_writes:
        say(f"warning: {tracker.failed_writes} tracking writes failed; the study holds every result: catching MLflow up")
        try:
            say(sync(spec.name, spec.storage))
        except SweepError as e:
            say(f"warning: {e}; run `sweep sync {spec.name}` once MLflow is reachable")
    if outcome.state == "KILLED":
        raise Interrupted(f"interrupted: continue with `sweep resume {spec.name}`")
    if outcome.state == "FAILED":
        raise SweepFailed(f"sweep {spec.name!r} {outcome.message}")
    return result


class _Unwritten:
    """A tracker's memo once the study's storage failed: reads still answer, writes are dropped
    (MLflow finds its parent run again by the sweep's uid tag)."""

    def __init__(self, memo: Any) -> None:
        self.memo = memo

    def get(self, key: str) -> Any:
        try:
            return self.memo.get(key)
        except Exception:
            return None

    def set(self, key: str, value: Any) -> None:
        return None


def _finished(fault: faults.Fault, st: optuna.Study | None, driver: Driver | None) -> int | None:
    """How many finished trials the study holds after `fault`: read back if it still answers
    (a server that is gone is not waited for), else the driver's count, else unknown."""
    if st is not None and fault.kind != faults.UNREACHABLE:
        try:
            return studies.counts(st.get_trials(deepcopy=False)).finished
        except Exception:
            pass
    return driver.finished if driver is not None else None


REPORT_ENV = "SWEEPER_REPORT"  # "0": no report at the end of a sweep (many tiny sweeps, CI)


def report(study: optuna.Study, spec: SweepSpec, folder: str | os.PathLike[str]) -> Any:
    """Write sweep `spec`'s report (report.html, PNG previews) into `folder`; returns `viz.Built`."""
    from . import viz

    front = studies.front(study) if len(spec.objectives) > 1 else None
    return viz.build(study, folder, title=f"Sweep {spec.name}", metric_names=list(spec.metrics),
                     directions=list(spec.directions), front=front)


def _report_to(tracker: Tracker, spec: SweepSpec, study: optuna.Study, say: Echo) -> None:
    """The report a sweep leaves in its folder and on its trackers; a failure costs the report only."""
    try:
        built = report(study, spec, os.path.join(spec.sweep_dir, "report"))
    except Exception as e:
        say(f"warning: the sweep's report could not be made: {type(e).__name__}: {' '.join(str(e).split())[:200]}")
        return
    tracker.sweep_report(built.files, {f"importance.{k}": v for k, v in built.importances.items()})


def register_best(name: str, model_name: str, alias: str = "best", storage: str | None = None) -> dict[str, Any]:
    """Register the model the best trial of sweep `name` logged in its MLflow run as a new version
    of `model_name`, with `alias` pointing at it. SweepError when there is no best trial, no run,
    or no model in it."""
    b = best(name, storage)
    if b["run_id"] is None:
        raise SweepError(b["problem"] or f"the best trial of {name!r} (trial {b['trial']}) has no MLflow run: "
                         f"`sweep sync {name}` makes it")
    from .tracking.mlflow.registry import register

    spec, _, _ = stored(name, _storage_url(storage), [])
    from .tracking.mlflow import tracking_uri

    return register(tracking_uri(spec.tracking.uri, spec.workdir), b["run_id"], b["trial"], model_name, alias)


def _diff(old: str, new: str) -> str:
    import difflib

    lines = [ln for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), "stored", "now", lineterm="", n=0)
             if not ln.startswith(("---", "+++", "@@"))]
    return (f"the sweep definition changed since launch (only {', '.join(BUDGET_KEYS)} may): " + "; ".join(lines[:8]))


def _install_signals(driver: Driver) -> dict[int, Any]:
    def handler(signum: int, frame: Any) -> None:
        driver.stop_requested = True

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, h in previous.items():
        signal.signal(sig, h)


__all__ = ["Result", "best", "describe", "launch", "load", "open_study", "register_best", "report", "resume", "run",
           "stored", "sync"]
