"""Wire one sweep together: spec → study → backend + tracker → driver. The API behind the CLI."""

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
from dataclasses import dataclass
from typing import Any

from . import early_stop, search
from . import study as studies
from .config import BUDGET_KEYS, SweepSpec
from .errors import Interrupted, SpecError, SweepError, SweepFailed
from .redact import mask

ATTR_HASH = "sweeper.hash"
ATTR_UID = "sweeper.uid"  # tags the MLflow parent run, so a resume finds it even if its id was never saved
ATTR_STATE = "sweeper.state"
ATTR_WORKDIR = "sweeper.workdir"
ATTR_BASE_DIR = "sweeper.base_dir"


@dataclass
class Result:
    name: str
    state: str
    best_value: float | None
    best_number: int | None
    best_params: dict[str, Any]
    tracking_uri: str
    parent_run_id: str | None
    elapsed_s: float


def definition_hash(definition: dict[str, Any]) -> str:
    """Identity of a sweep: everything but the budget keys, which a resume may change."""
    core = {k: v for k, v in definition.items() if k not in BUDGET_KEYS}
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe(spec: SweepSpec) -> str:
    """`--dry-run`: the resolved sweep, the space and the grid size."""
    from .space import grid_size, grid_space

    lines = ["# resolved sweep", spec.resolved_yaml.rstrip(), "", "# search space"]
    for p in spec.params.values():
        lines.append(f"  {p.name}: {p.describe()}")
    try:
        size: int | str = grid_size(grid_space(spec.params, spec.source))
    except SpecError:
        size = "infinite (continuous parameters)"
    lines += ["", f"grid size: {size}", f"search: {spec.search.method}, early_stop: {spec.early_stop.type}, "
              f"n_trials: {spec.n_trials}, workers: {spec.workers or 'as many as resources allow'}", f"storage: {mask(spec.storage)}"]
    return "\n".join(lines)


def _settings(spec: SweepSpec, workers: int) -> dict[str, Any]:
    s: dict[str, Any] = {"search.method": spec.search.method, "n_trials": spec.n_trials, "workers": workers,
                         "resources.cpus": spec.resources.cpus, "resources.gpus": spec.resources.gpus,
                         "max_failures": spec.max_failures, "seed": spec.seed, "objective.metric": spec.objective.metric,
                         "objective.goal": spec.objective.goal, "early_stop.type": spec.early_stop.type,
                         "backend": spec.backend.type,
                         "storage": spec.definition.get("storage") or spec.storage,
                         "trial.target": spec.trial.function or spec.trial.command,
                         "trial.timeout": spec.trial.timeout, "trial.retries": spec.trial.retries}
    s.update({f"search.{k}": v for k, v in spec.search.options.items()})
    if spec.early_stop.type != "none":
        s.update({f"early_stop.{k}": v for k, v in early_stop.options(spec).items()})
    s.update({f"space.{p.name}": p.expr for p in spec.params.values()})
    return s


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


def _make_backend(spec: SweepSpec) -> Any:
    from .dispatch.local import LocalBackend

    if spec.backend.type == "ray":
        from .dispatch.ray import RayBackend

        return RayBackend(spec)
    from . import gpus

    slots = gpus.plan(spec, spec.workers)
    return LocalBackend(len(slots), spec.workdir, slots)


def launch(path: str, overrides: list[str], storage: str | None = None, dry_run: bool = False,
           resume: bool = False, progress: Any = None, echo: Any = print) -> Result | str:
    from . import spec as specs

    spec = specs.load(path, overrides)
    if storage:
        spec = dataclasses.replace(spec, storage=storage)
    if dry_run:
        return describe(spec)
    return run(spec, new=not resume, progress=progress, echo=echo)


def _load_existing(name: str, storage_url: str, overrides: list[str]) -> tuple[SweepSpec, Any, Any]:
    import yaml
    from omegaconf import OmegaConf

    from . import spec as specs

    storage = studies.open_storage(storage_url)
    st = studies.load(storage, name)
    text = studies.spec_yaml(st)
    if not text:
        raise SweepError(f"sweep {name!r} was not created by sweeper (no stored definition)")
    stored = yaml.safe_load(text)
    workdir = str(st.user_attrs.get(ATTR_WORKDIR) or os.getcwd())
    if not os.path.isdir(workdir):
        workdir = os.getcwd()
    base_dir = str(st.user_attrs.get(ATTR_BASE_DIR) or workdir)
    hydra_ov, param_ov = specs._split_overrides(overrides)
    cfg = OmegaConf.create(stored)
    for ov in hydra_ov:
        key, value = ov.lstrip("+~").split("=", 1)
        if key.split(".")[0] not in BUDGET_KEYS:
            raise SpecError(specs.CLI, key, f"only budget keys can change on resume ({', '.join(BUDGET_KEYS)})")
        OmegaConf.update(cfg, key, yaml.safe_load(value), force_add=True)
    if param_ov:
        raise SpecError(specs.CLI, "params", "the search space cannot change on resume")
    spec = specs.from_config(cfg, f"sweep {name!r}", base_dir, workdir)
    spec = dataclasses.replace(spec, storage=storage_url)
    return spec, storage, st


def resume(name: str, storage: str | None, overrides: list[str], progress: Any = None, echo: Any = print) -> Result:
    from .spec import default_storage

    url = storage or default_storage(os.getcwd())
    spec, _, _ = _load_existing(name, url, overrides)
    return run(spec, new=False, progress=progress, echo=echo)


def sync(name: str, storage_url: str) -> str:
    """Make MLflow match the study: create missing child runs, close stale ones."""
    from .dispatch.base import _snapshot
    from .tracking import Tracker

    spec, _, st = _load_existing(name, storage_url, [])
    parent_id = st.user_attrs.get(studies.ATTR_PARENT)
    state = str(st.user_attrs.get(ATTR_STATE, "RUNNING"))
    tracker = Tracker(spec, parent_run_id=parent_id, uid=str(st.user_attrs.get(ATTR_UID, "")), reopen=False)
    if not parent_id:
        tracker.sweep_started(_settings(spec, spec.workers or 1))
    snapshot = _snapshot(st)
    tracker.sync(snapshot)
    pid = tracker.wait_parent(120)
    if pid and pid != parent_id:
        st.set_user_attr(studies.ATTR_PARENT, pid)
    tracker.close(state if state != "RUNNING" else None)
    if tracker.parent_error:
        raise SweepError(f"MLflow at {mask(tracker.uri)} is unavailable: {tracker.parent_error[:200]}")
    return f"synced {len(snapshot)} trials of {name!r} to MLflow ({tracker.errors} errors)"


def run(spec: SweepSpec, new: bool = True, progress: Any = None, echo: Any = print) -> Result:
    """Run `spec` to the end (or resume it); raises SweepFailed / Interrupted for a bad ending."""
    from . import progress as progress_mod
    from .dispatch.base import Driver, _snapshot
    from .lease import Lease
    from .tracking import Tracker, ui_hint

    t0 = time.monotonic()
    sampler = search.make_sampler(spec)
    pruner = early_stop.make_pruner(spec)
    if spec.trial.command:
        _check_command(spec)
    backend = _make_backend(spec)
    tracker = None
    outcome_state = "FAILED"
    prog = progress or progress_mod.make(spec.name, spec.objective.metric)
    try:
        for warning in search.advice(spec):
            echo(f"warning: {warning}")
        backend.start()
        for warning in getattr(backend, "warnings", []):
            echo(f"warning: {warning}")
        if spec.trial.function:
            problem = backend.check_function(spec.trial.function)
            if problem:
                raise SpecError(spec.source, "trial.function", problem)
        storage = studies.open_storage(spec.storage, create_dirs=True)
        this_hash = definition_hash(spec.definition)
        new = new or not studies.exists(storage, spec.name)  # `launch --resume` of a sweep not yet there
        if new:
            if studies.exists(storage, spec.name):
                raise SweepError(f"a sweep named {spec.name!r} already exists in {mask(spec.storage)}: continue it with "
                                 f"`sweep resume {spec.name}` (or `sweep launch --resume`), or choose another name")
            st = studies.create(storage, spec.name, spec.objective.direction, sampler, pruner, spec.resolved_yaml)
            st.set_user_attr(ATTR_HASH, this_hash)
            st.set_user_attr(ATTR_UID, uuid.uuid4().hex)
            st.set_user_attr(ATTR_WORKDIR, spec.workdir)
            st.set_user_attr(ATTR_BASE_DIR, spec.base_dir)
            parent_id = None
        else:
            st = studies.load(storage, spec.name, None, pruner)
            st.sampler = search.make_sampler(spec, resumed_trials=len(st.get_trials(deepcopy=False)))
            old_hash = st.user_attrs.get(ATTR_HASH)
            if old_hash and old_hash != this_hash:
                raise SpecError(spec.source, "", _diff(studies.spec_yaml(st), spec.resolved_yaml))
            parent_id = st.user_attrs.get(studies.ATTR_PARENT)
        st.set_user_attr(ATTR_STATE, "RUNNING")
        lease = Lease(st)
        lease.renew([], force=True)
        tracker = Tracker(spec, parent_run_id=parent_id, uid=str(st.user_attrs.get(ATTR_UID, "")))
        tracker.sweep_started(_settings(spec, backend.n))
        driver = Driver(spec, st, backend, tracker, prog, pruner, lease)
        if not new:
            interrupted = driver.reclaim_orphans()
            if interrupted:
                echo(f"trials {', '.join(map(str, interrupted))} were cut off by the interruption: re-running them")
            tracker.sync(_snapshot(st))  # MLflow catches up with what the study recorded
        previous = _install_signals(driver)
        try:
            outcome = driver.run()
        finally:
            _restore_signals(previous)
        outcome_state = outcome.state
        st.set_user_attr(ATTR_STATE, outcome.state)
        lease.release()
        parent_id = driver.save_parent(wait=True)
        if tracker.parent_error:
            echo(f"warning: MLflow tracking unavailable ({tracker.parent_error[:200]}); results stay in the study")
        tracker.sweep_tags({"sweep.pruned": str(driver.pruned), "sweep.failed": str(driver.failed),
                            "sweep.complete": str(driver.complete)})
    finally:
        backend.shutdown()
        prog.stop()
        if tracker is not None:
            tracker.close(outcome_state)
    best = studies.best_trial(st)
    result = Result(spec.name, outcome.state, best.value if best else None, best.number if best else None,
                    dict(best.params) if best else {}, tracker.uri, parent_id, time.monotonic() - t0)
    if best is not None:
        shown = ", ".join(f"{k}={v!r}" for k, v in {**best.params}.items())
        echo(f"best {spec.objective.metric}={best.value:.6g} at trial {best.number}: {shown}")
    echo(f"runs: {ui_hint(tracker.uri)}  (experiment {tracker.experiment!r})")
    if tracker.errors:
        echo(f"warning: {tracker.errors} MLflow writes failed; the study holds every result: catching MLflow up")
        try:
            echo(sync(spec.name, spec.storage))
        except SweepError as e:
            echo(f"warning: {e}; run `sweep sync {spec.name}` once MLflow is reachable")
    if outcome.state == "KILLED":
        raise Interrupted(f"interrupted: continue with `sweep resume {spec.name}`")
    if outcome.state == "FAILED":
        raise SweepFailed(f"sweep {spec.name!r} {outcome.message}")
    return result


def _diff(old: str, new: str) -> str:
    import difflib

    lines = [ln for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), "stored", "now", lineterm="", n=0)
             if not ln.startswith(("---", "+++", "@@"))]
    return "the sweep definition changed since launch (only n_trials, workers, max_failures may): " + "; ".join(lines[:8])


def _install_signals(driver: Any) -> dict[int, Any]:
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
