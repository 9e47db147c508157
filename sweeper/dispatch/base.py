"""The driver loop: the one writer of the study and the only client of the tracker.

It asks Optuna for a trial the moment a slot is free (no batch barrier), hands it to a backend,
answers the trial's reports with the pruner's verdict, and tells the study how the trial ended.
Backends only place and run trials; everything that must survive a crash is written here, to the
study, before MLflow hears of it.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import SweepSpec
from ..study import ATTR_ERROR, ATTR_INTERRUPTED, ATTR_PARENT, ATTR_RETRY_OF, counts
from ..worker import tail
from .events import Died, Done, Report

ATTR_RETRIED = "sweeper.retried"  # a self-crash that was retried: its retry counts instead
ATTR_ATTEMPT_ROOT = "sweeper.root"
ATTR_NO_RETRY = "sweeper.no_retry"  # interrupted before it had params of its own  # the first attempt's number: names the checkpoint directory


@dataclass
class Running:
    trial: Any
    number: int
    params: dict[str, Any]
    slot: int
    started: float
    deadline: float | None
    root: int
    attempt: int
    last_step: int | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    reported_objective: bool = False
    pruned: bool = False


@dataclass
class Outcome:
    state: str  # FINISHED | FAILED | KILLED
    message: str = ""


class Driver:
    def __init__(self, spec: SweepSpec, study: Any, backend: Any, tracker: Any, progress: Any, pruner: Any,
                 lease: Any = None) -> None:
        self.spec = spec
        self.lease = lease
        self._orphan_check = 0.0
        self.shared = False  # other drivers (agents) work on the same study
        self.study = study
        self.backend = backend
        self.tracker = tracker
        self.progress = progress
        self.pruner = pruner
        #: checkpoints of a trial's attempts: the backend's shared folder if it has one (a Ray
        #: cluster's `backend.storage`), else the sweep's own folder on this host
        self.checkpoint_root = getattr(backend, "checkpoint_root", None) or os.path.join(spec.sweep_dir, "checkpoints")
        self.dists = {n: p.distribution() for n, p in spec.params.items() if not p.is_fixed}
        self.fixed = {n: p.value for n, p in spec.params.items() if p.is_fixed}
        self.metric = spec.objective.metric
        self.maximize = spec.objective.goal == "maximize"
        self.stop_requested = False
        self.running: dict[int, Running] = {}  # slot -> trial
        self.retry_queue: list[tuple[dict[str, Any], int, int, int]] = []  # params, retry_of, root, attempt
        self.argv_template = self._argv_template()
        self.parent_saved = bool(study.user_attrs.get(ATTR_PARENT))

    def save_parent(self, wait: bool = False) -> str | None:
        """Record the MLflow parent run id in the study as soon as the tracker has it."""
        pid = self.tracker.wait_parent(30) if wait else self.tracker.poll_parent()
        if pid is not None and not self.parent_saved:
            self.study.set_user_attr(ATTR_PARENT, pid)
            self.parent_saved = True
        return pid or self.study.user_attrs.get(ATTR_PARENT)

    # --- setup ---------------------------------------------------------------------------------
    def _argv_template(self) -> list[str] | None:
        if not self.spec.trial.command:
            return None
        argv = shlex.split(self.spec.trial.command)
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable  # the sweep's interpreter, even when its venv is not activated
        return argv

    def _argv(self, params: dict[str, Any]) -> list[str]:
        from ..worker import format_value

        args = [f"{k}={format_value(v)}" for k, v in params.items()]
        assert self.argv_template is not None
        if "${args}" not in self.argv_template:
            return [*self.argv_template, *args]
        out: list[str] = []
        for item in self.argv_template:
            out.extend(args if item == "${args}" else [item])
        return out

    def _initial_state(self) -> None:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        c = counts(trials)
        self.finished = c.finished
        self.failed = c.failed
        self.complete = c.complete
        self.pruned = c.pruned
        retried = {int(t.user_attrs[ATTR_RETRY_OF]) for t in trials if ATTR_RETRY_OF in t.user_attrs}
        for t in trials:
            if t.state == TrialState.FAIL and t.number not in retried and not t.user_attrs.get(ATTR_NO_RETRY) and (
                    t.user_attrs.get(ATTR_INTERRUPTED) or t.user_attrs.get(ATTR_RETRIED)):
                root = int(t.user_attrs.get(ATTR_ATTEMPT_ROOT, t.number))
                attempt = int(t.user_attrs.get("sweeper.attempt", 0)) + (0 if t.user_attrs.get(ATTR_INTERRUPTED) else 1)
                self.retry_queue.append((dict(t.params), t.number, root, attempt))
        best = None
        for t in trials:
            if t.state == TrialState.COMPLETE and t.value is not None and (best is None or self._better(t.value, best.value)):
                best = t
        self.best_value = best.value if best else None
        self.best_number = best.number if best else None

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    # --- the loop ------------------------------------------------------------------------------
    def reclaim_orphans(self, live: list[dict[str, Any]] | None = None) -> list[int]:
        """Mark RUNNING trials that no live driver holds as interrupted; they are re-run."""
        from optuna.trial import TrialState

        from ..lease import live_leases, orphans

        if self.lease is None:
            return []
        if live is None:
            live = live_leases(self.study, self.lease.key)
        own = {r.number for r in self.running.values()}
        found = []
        storage = self.study._storage
        for t in orphans(self.study, live, own):
            try:
                self._complete_params(t)
                storage.set_trial_user_attr(t._trial_id, ATTR_INTERRUPTED, True)
                storage.set_trial_user_attr(t._trial_id, ATTR_ERROR, "interrupted: its driver stopped while it ran")
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            except Exception:  # finished meanwhile by a driver that was alive after all
                continue
            found.append(t.number)
        if found:
            storage.refresh()  # our reads must see the states just written
        return found

    def _complete_params(self, t: Any) -> None:
        """A trial cut off inside `ask` has only some of its params: choose the rest now (its grid
        point, or a random draw), so its retry runs the very params the study records for it."""
        missing = [n for n in self.dists if n not in t.params]
        if not missing:
            return
        from optuna.samplers import RandomSampler

        sampler = self.study.sampler
        grid = None
        fixed = t.system_attrs.get("fixed_params") or {}
        if hasattr(sampler, "_all_grids"):
            if "grid_id" not in t.system_attrs and not fixed:
                # cut off before the grid gave it a point: nothing to re-run, the grid hands
                # that point to a later trial
                self.study._storage.set_trial_user_attr(t._trial_id, ATTR_NO_RETRY, True)
                return
            if "grid_id" in t.system_attrs:
                grid = dict(zip(sampler._param_names, sampler._all_grids[t.system_attrs["grid_id"]], strict=True))
        rand = RandomSampler()
        for name in missing:
            dist = self.dists[name]
            value = grid[name] if grid and name in grid else fixed.get(name)
            if value is None:
                value = rand.sample_independent(self.study, t, name, dist)
            self.study._storage.set_trial_param(t._trial_id, name, dist.to_internal_repr(value), dist)

    def _requeue_orphans(self) -> None:
        now = time.monotonic()
        if self.lease is None or now - self._orphan_check < 1.0:
            return
        self._orphan_check = now
        from ..lease import live_leases

        live = live_leases(self.study, self.lease.key)  # one read of the leases a second
        self.shared = bool(live)  # an agent that joins is seen within 1 s
        numbers = self.reclaim_orphans(live)
        if numbers:
            queued = {q[1] for q in self.retry_queue}
            for t in self.study.get_trials(deepcopy=False):
                if t.number in numbers and t.number not in queued and not t.user_attrs.get(ATTR_NO_RETRY):
                    root = int(t.user_attrs.get(ATTR_ATTEMPT_ROOT, t.number))
                    self.retry_queue.append((dict(t.params), t.number, root, int(t.user_attrs.get("sweeper.attempt", 0))))
            self.tracker.sync(_snapshot(self.study, numbers))

    def run(self) -> Outcome:
        if self.lease is not None:
            from ..lease import live_leases

            self.shared = bool(live_leases(self.study, self.lease.key))
            if self.shared:
                time.sleep(1.5)  # joining: let the drivers already at work see our lease first
        self._initial_state()
        target = self.spec.n_trials or 0
        free = list(range(self.backend.n))
        too_many_failures = False
        self.progress.start(target, self.finished, self.failed, self.best_value, self.best_number)
        while True:
            if self.stop_requested:
                return self._interrupt()
            if self.failed > self.spec.max_failures:
                too_many_failures = True
            while free and not too_many_failures and self._budget_left(target) > 0:
                if not self._launch(free[0]):
                    break
                free.pop(0)
            if not self.running:
                break
            for ev in self.backend.wait(timeout=0.2):
                slot = self._handle(ev)
                if slot is not None:
                    free.append(slot)
                    free.sort()
            self._check_deadlines()
            if not self.parent_saved:
                self.save_parent()
            if self.lease is not None:
                self.lease.renew([r.number for r in self.running.values()])
                self._requeue_orphans()
            self.progress.tick(len(self.running))
        if too_many_failures:
            return Outcome("FAILED", f"stopped: {self.failed} trials failed, more than max_failures={self.spec.max_failures}")
        if self.complete == 0:
            return Outcome("FAILED", "no trial completed")
        return Outcome("FINISHED")

    def _budget_left(self, target: int) -> int:
        if not self.shared:
            return target - self.finished - len(self.running)
        c = counts(self.study.get_trials(deepcopy=False))  # every agent's trials
        return target - c.finished - c.running

    def _surplus(self, trial: Any) -> bool:
        """Two agents may ask the last trial at once: the one with the higher number yields."""
        self.study._storage.refresh()
        earlier = [t for t in self.study.get_trials(deepcopy=False) if t.number < trial.number]
        c = counts(earlier)
        return c.finished + c.running >= (self.spec.n_trials or 0)

    def _launch(self, slot: int) -> bool:
        retry_of = None
        if self.retry_queue:
            params, retry_of, root, attempt = self.retry_queue.pop(0)
            self.study.enqueue_trial({k: v for k, v in params.items() if k in self.dists},
                                     user_attrs={ATTR_RETRY_OF: retry_of, ATTR_ATTEMPT_ROOT: root, "sweeper.attempt": attempt})
            trial = self.study.ask(self.dists)
        else:
            trial = self.study.ask(self.dists)
            root, attempt = trial.number, 0
        number = trial.number
        if self.shared and self._surplus(trial):
            from optuna.trial import TrialState

            trial.set_user_attr(ATTR_INTERRUPTED, True)
            trial.set_user_attr(ATTR_NO_RETRY, True)
            trial.set_user_attr(ATTR_ERROR, "not run: another agent took the last trial of the budget")
            self.study.tell(trial, state=TrialState.FAIL)
            return False
        params = {**{k: trial.params[k] for k in self.dists}, **self.fixed}
        ordered = {k: params[k] for k in self.spec.params}
        sweep_dir = self.spec.sweep_dir
        info = self.backend.slot_info(slot)
        env = {"SWEEPER_SWEEP": self.spec.name, "SWEEPER_TRIAL": str(number),
               "SWEEPER_CHECKPOINT_DIR": os.path.join(self.checkpoint_root, f"trial-{root}")}
        task: dict[str, Any] = {
            "number": number, "params": ordered, "env": env, "metric": self.metric,
            "out_dir": os.path.join(sweep_dir, "trials", str(number)), "workdir": self.spec.workdir,
            "wait_decision": self.pruner is not None,
            "config_path": os.path.join(self.spec.base_dir, self.spec.trial.config) if self.spec.trial.config else None,
        }
        if self.argv_template is not None:
            task["argv"] = self._argv(ordered)
        else:
            task["function"] = self.spec.trial.function
        now = time.monotonic()
        timeout = self.spec.trial.timeout
        self.running[slot] = Running(trial, number, ordered, slot, now, now + timeout if timeout else None, root, attempt)
        tags = {"worker.host": info.host, "worker.pid": str(info.pid), "worker.gpus": info.gpus, **info.extra}
        if retry_of is not None:
            tags["trial.retry_of"] = str(retry_of)
        self.tracker.trial_started(number, ordered, tags)
        self.backend.submit(slot, task)
        self.progress.trial_started(number, ordered)
        return True

    def _handle(self, ev: Any) -> int | None:
        r = self.running.get(ev.slot)
        if r is None or r.number != ev.number:
            return None
        if isinstance(ev, Report):
            self._on_report(r, ev)
            return None
        del self.running[ev.slot]
        if isinstance(ev, Done):
            self._on_done(r, ev.result)
        elif isinstance(ev, Died):
            error = ev.error
            stderr = tail(os.path.join(self.spec.sweep_dir, "trials", str(r.number), "stderr.txt"))
            if stderr:
                error = f"{error}: {stderr}"
            self._fail(r, error, interrupted=self.stop_requested)
        return ev.slot

    def _on_report(self, r: Running, ev: Report) -> None:
        if r.pruned:  # a report racing the stop: the trial already ended at its pruning step
            self.backend.reply(ev.slot, True)
            return
        r.last_step, r.last_metrics = ev.step, ev.metrics
        prune = False
        value = ev.metrics.get(self.metric)
        if value is not None and math.isfinite(value):
            r.reported_objective = True
            r.trial.report(value, ev.step)
            if self.pruner is not None:
                prune = r.pruned = r.trial.should_prune()
        if self.pruner is not None:
            self.backend.reply(ev.slot, prune)
        self.tracker.trial_metrics(r.number, ev.step, ev.metrics)

    def _on_done(self, r: Running, result: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        r.last_step = result.get("last_step", r.last_step)
        metrics: dict[str, float] = result.get("metrics") or {}
        state = result["state"]
        if state == "FAIL":
            self._fail(r, result.get("error") or "failed", metrics=metrics)
            return
        if state == "PRUNED":
            self.study.tell(r.trial, state=TrialState.PRUNED)
            self.finished += 1
            self.pruned += 1
            self._finished_tracking(r, "PRUNED", "FINISHED", metrics)
            self.progress.trial_finished(r.number, "PRUNED", None, self.best_value, self.best_number)
            return
        value = metrics.get(self.metric)
        if value is None:
            got = ", ".join(sorted(metrics)) or "nothing"
            self._fail(r, f"the trial returned no value for objective metric {self.metric!r} (got: {got})", metrics=metrics)
            return
        if not math.isfinite(value):
            self._fail(r, f"objective metric {self.metric!r} is {value}", metrics=metrics)
            return
        self.study.tell(r.trial, value)
        self.finished += 1
        self.complete += 1
        tags: dict[str, str] = {}
        if not r.reported_objective and self.pruner is not None:
            tags["trial.warning"] = "never called sweeper.report: early stopping could not judge this trial"
        self._finished_tracking(r, "COMPLETE", "FINISHED", metrics, tags)
        improved = self.best_value is None or self._better(value, self.best_value)
        if improved:
            self.best_value, self.best_number = value, r.number
            best_tags = {f"best.{k}": str(v) for k, v in r.params.items()}
            best_tags["best.trial"] = str(r.number)
            best_tags[f"best.{self.metric}"] = repr(value)
            cfg = result.get("config_yaml") or _params_yaml(r.params)
            self.tracker.best(self.finished, value, best_tags, cfg)
        else:
            assert self.best_value is not None
            self.tracker.best(self.finished, self.best_value, None, None)
        self.progress.trial_finished(r.number, "COMPLETE", value, self.best_value, self.best_number)

    def _fail(self, r: Running, error: str, interrupted: bool = False, metrics: dict[str, float] | None = None) -> None:
        from optuna.trial import TrialState

        retry = not interrupted and r.attempt < self.spec.trial.retries
        r.trial.set_user_attr(ATTR_ERROR, error[:2000])
        if interrupted:
            r.trial.set_user_attr(ATTR_INTERRUPTED, True)
        if retry:
            r.trial.set_user_attr(ATTR_RETRIED, True)
        self.study.tell(r.trial, state=TrialState.FAIL)
        if interrupted:
            status = "KILLED"
        else:
            status = "FAILED"
            if retry:
                self.retry_queue.append((dict(r.params), r.number, r.root, r.attempt + 1))
            else:
                self.finished += 1
                self.failed += 1
        self._finished_tracking(r, "FAIL", status, metrics or {}, {"trial.error": error,
                                **({"trial.interrupted": "true"} if interrupted else {})})
        self.progress.trial_finished(r.number, "FAIL", None, self.best_value, self.best_number, error=error)

    def _finished_tracking(self, r: Running, state: str, status: str, metrics: dict[str, float],
                           extra: dict[str, str] | None = None) -> None:
        tags = {"trial.state": state, "trial.last_step": "" if r.last_step is None else str(r.last_step), **(extra or {})}
        step = r.last_step if r.last_step is not None else 0
        # the returned metrics land at the last reported step; values already logged there are not repeated
        metrics = {k: v for k, v in metrics.items() if r.last_metrics.get(k) != v}
        self.tracker.trial_finished(r.number, status, metrics, step, tags,
                                    os.path.join(self.spec.sweep_dir, "trials", str(r.number)))

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for slot, r in list(self.running.items()):
            if r.deadline is not None and now > r.deadline:
                r.deadline = None
                self.backend.kill(slot, f"timed out after {self.spec.trial.timeout:g} s (trial.timeout)")

    def _interrupt(self) -> Outcome:
        for slot in list(self.running):
            self.backend.kill(slot, "interrupted")
        deadline = time.monotonic() + 5
        while self.running and time.monotonic() < deadline:
            for ev in self.backend.wait(timeout=0.2):
                r = self.running.get(ev.slot)
                if r is None or r.number != ev.number or isinstance(ev, Report):
                    continue
                del self.running[ev.slot]
                if isinstance(ev, Done) and ev.result.get("state") in ("COMPLETE", "PRUNED"):
                    self._on_done(r, ev.result)  # it made it: keep the result
                else:
                    self._fail(r, "interrupted", interrupted=True)
        for r in list(self.running.values()):
            self._fail(r, "interrupted", interrupted=True)
        self.running.clear()
        return Outcome("KILLED", "interrupted")


def _snapshot(study: Any, numbers: list[int] | None = None) -> list[dict[str, Any]]:
    """What the tracker needs to rebuild a trial's MLflow run from the study alone."""
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state.name in ("RUNNING", "WAITING") or (numbers is not None and t.number not in numbers):
            continue
        state = t.state.name
        out.append({"number": t.number, "state": state, "params": dict(t.params), "value": t.value,
                    "intermediate": dict(t.intermediate_values),
                    "interrupted": bool(t.user_attrs.get(ATTR_INTERRUPTED)), "error": t.user_attrs.get(ATTR_ERROR),
                    "retry_of": t.user_attrs.get(ATTR_RETRY_OF),
                    "start": int(t.datetime_start.timestamp() * 1000) if t.datetime_start else None,
                    "end": int(t.datetime_complete.timestamp() * 1000) if t.datetime_complete else None})
    return out


def _params_yaml(params: dict[str, Any]) -> str:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({})
    for k, v in params.items():
        OmegaConf.update(cfg, k, v, force_add=True)
    return OmegaConf.to_yaml(cfg)
