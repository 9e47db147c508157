"""The driver loop: the one writer of the study's trials, and what tells the trackers about them.

It asks Optuna for a trial the moment a slot is free (no batch barrier), hands the `Task` to a
`Backend`, answers the trial's reports with the pruner's verdict, and tells the study how the
trial ended. Everything that must survive a crash is written to the study before a tracker hears
of it. Task building (tasks.py), retries (retries.py) and the coordination of drivers sharing a
sweep (state/coordination.py) live apart; this module is the loop and the bookkeeping of a turn.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..backends.base import Backend
from ..config.spec import SweepSpec
from ..messages import COMPLETE, FAIL, PRUNED, Best, Died, Done, Opened, Reported, TrialFinished, TrialOutcome
from ..search import conditional, grid
from ..search import configure as configure_hook
from ..state import attrs, coordination, faults
from ..state.store import counts, is_feasible, is_imported
from ..tracking.base import Tracker
from .budget import Budget
from .front import FrontTracker
from .retries import RetryQueue
from .tasks import Jobs, TaskBuilder

WAIT_S = 0.2  # longest the loop waits for a backend event before its other chores
ORPHAN_CHECK_S = 1.0  # how often leases are read: an agent that joins or dies is seen within this
JOIN_WAIT_S = 60.0  # the longest a joining driver waits for the others to acknowledge its lease
INTERRUPT_GRACE_S = 5.0  # how long an interrupted sweep waits for its killed trials to report
VIEW_OPEN_S = 60.0  # the most a worker may take to open a trial's views before trial.timeout counts on


class ProgressView(Protocol):
    """What the person watching sees (ui/progress.py); the driver only reports to it."""

    def start(self, target: int, finished: int, failed: int, best: float | None, best_number: int | None) -> None: ...

    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...

    def trial_reported(self, number: int, step: int, value: float | None) -> None: ...

    def trial_finished(self, number: int, state: str, value: float | None, best: float | None,
                       best_number: int | None, error: str | None = None) -> None: ...

    def counts(self, complete: int, pruned: int, failed: int) -> None:
        """The driver's totals (a retried crash is not a failure), after each trial's end."""

    def budget(self, spent: dict[str, str]) -> None:
        """Spent/total of each budget (e.g. {"steps": "41/60"}), about once a second."""

    def slots(self, available: int, asked: int) -> None:
        """How many trials the backend runs at once (`available`) against the `workers` asked."""

    def front(self, size: int) -> None:
        """Several objectives: how many trials are on the Pareto front so far."""

    def tick(self, running: int) -> None: ...

    def closing(self, what: str) -> None:
        """What the sweep waits for once its trials are done (workers stopping, MLflow writes)."""

    def stop(self) -> None: ...


class Silent:
    """A ProgressView that shows nothing: the API's default."""

    def start(self, *args: Any) -> None:
        pass

    def trial_started(self, *args: Any) -> None:
        pass

    def trial_reported(self, *args: Any) -> None:
        pass

    def trial_finished(self, *args: Any, **kwargs: Any) -> None:
        pass

    def counts(self, *args: Any) -> None:
        pass

    def budget(self, spent: dict[str, str]) -> None:
        pass

    def slots(self, available: int, asked: int) -> None:
        pass

    def front(self, size: int) -> None:
        pass

    def closing(self, what: str) -> None:
        pass

    def tick(self, running: int) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class Running:
    trial: Any  # optuna.Trial
    number: int
    params: dict[str, Any]
    slot: int
    deadline: float | None
    root: int
    attempt: int
    last_step: int | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    reported_objective: bool = False
    pruned: bool = False


@dataclass
class SweepOutcome:
    state: str  # FINISHED | FAILED | KILLED
    message: str = ""


class Driver:
    def __init__(self, spec: SweepSpec, study: Any, storage: Any, backend: Backend, tracker: Tracker,
                 pruner: Any, lease: coordination.Lease | None = None, progress: ProgressView | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 jobs: Jobs | None = None) -> None:
        self.spec, self.study, self.storage = spec, study, storage
        self.backend, self.tracker, self.pruner, self.lease = backend, tracker, pruner, lease
        self.progress: ProgressView = progress or Silent()
        self.clock, self.sleep = clock, sleep
        self._orphan_check = -math.inf
        self.shared = False  # other drivers (agents) work, or have worked, on the study during this run
        #: checkpoints of a trial's attempts: the backend's folder every host sees, if it has one
        checkpoint_root = backend.checkpoint_root or os.path.join(spec.sweep_dir, "checkpoints")
        # a trial waits for the driver's word at each report where something may stop it there
        self.tasks = TaskBuilder(spec, checkpoint_root, wait_decision=pruner is not None or spec.budget.any(), jobs=jobs)
        # what every trial has; conditional params are drawn after `ask` (search/conditional.py)
        self.dists = {n: p.distribution() for n, p in spec.params.items() if not p.is_fixed and not p.is_conditional}
        self.fixed = {n: p.value for n, p in spec.params.items() if p.is_fixed and not p.is_conditional}
        self.conditional = (conditional.ConditionalSpace(spec.params)
                            if any(p.is_conditional for p in spec.params.values()) else None)
        self.objective = spec.objectives[0]  # what reports and the pruner judge
        #: search.configure: more params suggested define-by-run after the declared ones, given the
        #: trials' base config (a front door's own `jobs`, else ours; made once, when first needed)
        self.configure = configure_hook.load(spec)
        self._configure_cfg = jobs.base_config if jobs is not None else (lambda: configure_hook.base_config(spec))
        self._cfg: Any = None
        self.stop_requested = False
        #: the study's SQLite file, checked every turn (api.run sets it): SQLite itself would go on
        #: writing to a deleted file, and every result written after would be lost
        self.watch: faults.Watch | None = None
        self.running: dict[int, Running] = {}  # slot -> trial
        self.retries = RetryQueue()
        self.finished = self.failed = self.complete = self.pruned = 0
        self.best_values: list[float] | None = None
        self.best_number: int | None = None
        self.front = FrontTracker(spec.objectives) if len(spec.objectives) > 1 else None
        self.budget: Budget | None = None
        if spec.budget.any():
            self.budget = Budget(spec.budget, self.objective, study, lease.id if lease is not None else uuid.uuid4().hex[:12])

    # --- setup ---------------------------------------------------------------------------------
    def _initial_state(self) -> None:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        c = counts(trials)
        self.finished, self.failed, self.complete, self.pruned = c.finished, c.failed, c.complete, c.pruned
        self.retries.restore(trials)
        for t in trials:
            feasible = is_feasible(t) and not is_imported(t)
            if t.state == TrialState.COMPLETE and t.values is not None and feasible and (
                    self.best_values is None or self.objective.better(t.values[0], self.best_values[0])):
                self.best_values, self.best_number = list(t.values), t.number
            if self.front is not None and t.state == TrialState.COMPLETE and t.values is not None and feasible:
                self.front.add(t.values)

    @property
    def best_value(self) -> float | None:
        return self.best_values[0] if self.best_values else None

    # --- drivers sharing the sweep -------------------------------------------------------------
    def reclaim_orphans(self, live: list[dict[str, Any]] | None = None) -> list[int]:
        """Mark RUNNING trials that no live driver holds as interrupted; they are re-run."""
        if self.lease is None:
            return []
        if live is None:
            live = coordination.live_leases(self.study, self.lease.key)
        own = {r.number for r in self.running.values()}
        orphaned = coordination.orphans(self.study, live, own)
        return coordination.reclaim(self.study, self.storage, orphaned, self._complete_params)

    def _complete_params(self, t: Any) -> None:
        """A trial cut off inside `ask` has only some of its params: choose the rest now (its grid
        point, or a random draw), so its retry runs the very params the study records for it."""
        missing = [n for n in self.dists if n not in t.params]
        if not missing and not (self.conditional and self.conditional.missing(t.params)):
            return
        from optuna.samplers import RandomSampler

        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        fixed = t.system_attrs.get("fixed_params") or {}
        point = grid.point_of(self.study.sampler, t.system_attrs)
        if grid.is_grid(self.study.sampler) and point is None and not fixed:
            # cut off before the grid gave it a point: nothing to re-run, the grid hands that
            # point to a later trial
            self.storage.set_trial_user_attr(trial_id, attrs.NO_RETRY, True)
            return
        rand = RandomSampler()
        known = dict(t.params)

        def choose(name: str, dist: Any) -> None:
            value = point[name] if point and name in point else fixed.get(name)
            if value is None:
                value = rand.sample_independent(self.study, t, name, dist)
            self.storage.set_trial_param(trial_id, name, dist.to_internal_repr(value), dist)
            known[name] = value

        for name in missing:
            choose(name, self.dists[name])
        # then its active conditional params, one at a time: each value may switch on the next
        while self.conditional and (todo := self.conditional.missing(known)):
            choose(todo[0].name, todo[0].distribution())

    def _requeue_orphans(self) -> None:
        now = self.clock()
        if self.lease is None or now - self._orphan_check < ORPHAN_CHECK_S:
            return
        self._orphan_check = now
        live = coordination.live_leases(self.study, self.lease.key)  # one read of the leases a second
        # an agent that joins is seen within ORPHAN_CHECK_S, and told so. Once shared, the budget is
        # counted from the study for good: an agent that left still ran part of it
        self.shared = self.shared or bool(live)
        self.lease.renew([r.number for r in self.running.values()], peers=[str(v["id"]) for v in live if "id" in v])
        numbers = self.reclaim_orphans(live)
        if numbers:
            self.retries.add_interrupted(self.study.get_trials(deepcopy=False), numbers)
            from ..state.store import records

            self.tracker.sync(records(self.study, numbers))

    def _join(self) -> None:
        """Joining a sweep other drivers run: wait until each of them has seen our lease (it lists
        us among its peers), so none still counts the shared budget as its own."""
        assert self.lease is not None
        live = coordination.live_leases(self.study, self.lease.key)
        self.shared = bool(live)
        deadline = self.clock() + JOIN_WAIT_S
        while live and not coordination.acknowledged(self.lease, live) and self.clock() < deadline:
            self.lease.renew([], peers=[str(v["id"]) for v in live if "id" in v])
            self.sleep(0.1)
            live = coordination.live_leases(self.study, self.lease.key)

    def _budget_spent(self) -> bool:
        return self.budget is not None and self.budget.spent() is not None

    def _budget_left(self, target: int) -> int:
        if not self.shared:
            return target - self.finished - len(self.running)
        return coordination.budget_left(self.study, target)

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> SweepOutcome:
        if self.lease is not None:
            self._join()
        self._initial_state()
        target = self.spec.n_trials or 0
        free = list(range(self.backend.n))
        too_many_failures = False
        self.progress.start(target, self.finished, self.failed, self.best_value, self.best_number)
        self.progress.slots(self.backend.n, self.spec.workers or self.backend.n)
        if self.front is not None:
            self.progress.front(self.front.size)
        self.tracker.prepare()
        if self.budget is not None:  # the clock of budget.time starts with the first trial
            self.budget.start(self.best_value)
        while True:
            if self.stop_requested:
                return self._interrupt()
            if self.watch is not None:
                self.watch.check()
            if self.failed > self.spec.max_failures:
                too_many_failures = True
            while free and not too_many_failures and self._budget_left(target) > 0 and not self._budget_spent():
                launched = self._launch(free[0])
                if launched is None:  # search.configure failed: that trial failed, the slot is still free
                    too_many_failures = self.failed > self.spec.max_failures
                    continue
                if not launched:
                    break
                free.pop(0)
            if not self.running:
                break
            for ev in self.backend.wait(timeout=WAIT_S):
                slot = self._handle(ev)
                if slot is not None:
                    free.append(slot)
                    free.sort()
                    self.progress.counts(self.complete, self.pruned, self.failed)
            self._check_deadlines()
            if self.budget is not None and self.budget.refresh():
                self.progress.budget(self.budget.shown())
            self.tracker.poll()
            if self.lease is not None:
                self.lease.renew([r.number for r in self.running.values()])
                self._requeue_orphans()
            self.progress.tick(len(self.running))
        if self.budget is not None:
            self.budget.close()
        if too_many_failures:
            return SweepOutcome("FAILED", f"stopped: {self.failed} trials failed, more than max_failures={self.spec.max_failures}")
        if self.complete == 0:
            return SweepOutcome("FAILED", "no trial completed")
        return SweepOutcome("FINISHED", self.budget.reason if self.budget is not None and self.budget.reason else "")

    def _launch(self, slot: int) -> bool | None:
        """Ask a trial and start it in `slot`: True; False when it is not to run (another agent took the
        budget's last); None when search.configure failed on it (it is recorded as failed)."""
        retry = self.retries.pop()
        if retry is not None:  # every searched param, define-by-run ones too: configure re-draws the same
            self.study.enqueue_trial({k: v for k, v in retry.params.items() if k not in self.fixed},
                                     user_attrs=RetryQueue.user_attrs(retry))
        trial = self.study.ask(self.dists)
        active_fixed = self.conditional.draw(trial) if self.conditional else {}
        if self.configure is not None and not self._configured(trial):
            return None
        number = trial.number
        # `ask` may hand out another waiting retry than the one just enqueued (one a dead driver or
        # another agent left): the trial's own attrs say which attempt it is
        ua = trial.user_attrs
        retry_of = ua.get(attrs.RETRY_OF)
        root, attempt = int(ua.get(attrs.ATTEMPT_ROOT, number)), int(ua.get(attrs.ATTEMPT, 0))
        if self.shared and coordination.surplus(self.study, self.storage, number, self.spec.n_trials or 0):
            from optuna.trial import TrialState

            trial.set_user_attr(attrs.INTERRUPTED, True)
            trial.set_user_attr(attrs.NO_RETRY, True)
            trial.set_user_attr(attrs.ERROR, "not run: another agent took the last trial of the budget")
            self.study.tell(trial, state=TrialState.FAIL)
            return False
        params = {**trial.params, **self.fixed, **active_fixed}
        ordered = {k: params[k] for k in self.spec.params if k in params}  # a conditional one may be absent
        ordered.update({k: v for k, v in trial.params.items() if k not in ordered})  # define-by-run ones
        info = self.backend.slot_info(slot)
        tags = {"worker.host": info.host, "worker.pid": str(info.pid), "worker.gpus": info.gpus, **info.extra}
        if retry_of is not None:
            tags["trial.retry_of"] = str(retry_of)
        try:
            task = self.tasks.build(number, ordered, root, views=self.tracker.trial_hooks(number, ordered, tags))
        except Exception as e:  # noqa: BLE001 - a front door's composition (Hydra's) of this trial's config
            if self.tasks.jobs is None:
                raise
            self._reject(trial, f"composing the job's config failed: {type(e).__name__}: {' '.join(str(e).split())}")
            return None
        now = self.clock()
        timeout = self.spec.trial.timeout
        # trial.timeout bounds the trial's own code: a worker opening the trial's views first (asking
        # nvidia-smi for its GPUs, a tracker's hook) restarts the clock when it is done (`Opened`)
        deadline = now + timeout + (VIEW_OPEN_S if task.views else 0.0) if timeout else None
        self.running[slot] = Running(trial, number, ordered, slot, deadline, root, attempt)
        self.tracker.trial_started(number, ordered, tags)
        self.backend.submit(slot, task)
        self.progress.trial_started(number, ordered)
        return True

    def _configured(self, trial: Any) -> bool:
        """Run search.configure on a trial just asked; False when it raised (the trial is then failed)."""
        try:
            if self._cfg is None:
                self._cfg = self._configure_cfg()
            assert self.configure is not None
            self.configure(self._cfg, trial)
            return True
        except Exception as e:  # noqa: BLE001 - the user's function: any error fails this trial only
            self._reject(trial, f"search.configure raised {type(e).__name__}: {e}".strip())
            return False

    def _reject(self, trial: Any, error: str) -> None:
        """A trial that cannot start (its define-by-run params or its job's config failed): failed alone."""
        from optuna.trial import TrialState

        trial.set_user_attr(attrs.ERROR, error[:2000])
        trial.set_user_attr(attrs.NO_RETRY, True)
        self.study.tell(trial, state=TrialState.FAIL)
        self.finished += 1
        self.failed += 1
        self.progress.trial_finished(trial.number, FAIL, None, self.best_value, self.best_number, error=error)
        self.progress.counts(self.complete, self.pruned, self.failed)

    def _handle(self, ev: Reported | Opened | Done | Died) -> int | None:
        r = self.running.get(ev.slot)
        if r is None or r.number != ev.number:
            return None
        if isinstance(ev, Reported):
            self._on_report(r, ev)
            return None
        if isinstance(ev, Opened):
            if r.deadline is not None and self.spec.trial.timeout:
                r.deadline = self.clock() + self.spec.trial.timeout
            self.tracker.trial_opened(r.number, ev.refs, ev.tags)
            return None
        del self.running[ev.slot]
        if isinstance(ev, Done):
            self._on_done(r, ev.outcome)
        else:
            self._fail(r, ev.error, interrupted=self.stop_requested)
        return ev.slot

    def _on_report(self, r: Running, ev: Reported) -> None:
        if r.pruned:  # a report racing the stop: the trial already ended at its pruning step
            self.backend.reply(ev.slot, True)
            return
        r.last_step, r.last_metrics = ev.step, ev.metrics
        prune = False
        value = ev.metrics.get(self.objective.metric)
        if value is not None and math.isfinite(value):
            r.reported_objective = True
            r.trial.report(value, ev.step)
            if self.budget is not None and self.shared and self.spec.budget.steps is not None:
                # other agents spend the same steps, faster than a once-a-second read keeps up with
                # (two agents overran a budget of 80 steps by 22 so): count them from the study
                if hasattr(self.storage, "refresh"):
                    self.storage.refresh()
                self.budget.recount()
            elif self.budget is not None:
                self.budget.step()
            if self.pruner is not None:
                prune = r.pruned = r.trial.should_prune()
        stop = self.budget.stops() if self.budget is not None and not prune else None
        if stop is not None:  # stopped where it stands, as a pruner would: its reported steps stand
            prune = r.pruned = True
            r.trial.set_user_attr(attrs.STOPPED_BY, stop.split(" ", 1)[0])
        if self.pruner is not None or self.budget is not None:
            self.backend.reply(ev.slot, prune)
        self.tracker.trial_reported(r.number, ev.step, ev.metrics)
        self.progress.trial_reported(r.number, ev.step, value if value is not None and math.isfinite(value) else None)

    def _on_done(self, r: Running, outcome: TrialOutcome) -> None:
        from optuna.trial import TrialState

        if outcome.last_step is not None:
            r.last_step = outcome.last_step
        metrics = outcome.metrics or {}
        if outcome.state == FAIL:
            self._fail(r, outcome.error or "failed", metrics=metrics)
            return
        if outcome.state == PRUNED:
            self.study.tell(r.trial, state=TrialState.PRUNED)
            self.finished += 1
            self.pruned += 1
            self._finished(r, PRUNED, "FINISHED", metrics)
            self.progress.trial_finished(r.number, PRUNED, None, self.best_value, self.best_number)
            return
        values = []
        for o in self.spec.objectives:
            value = metrics.get(o.metric)
            if value is None:
                got = ", ".join(sorted(metrics)) or "nothing"
                self._fail(r, f"the trial returned no value for objective metric {o.metric!r} (got: {got})", metrics=metrics)
                return
            if not math.isfinite(value):
                self._fail(r, f"objective metric {o.metric!r} is {value}", metrics=metrics)
                return
            values.append(value)
        feasible = True
        for c in self.spec.constraints:  # Optuna's samplers and fronts read them from the trial
            value = metrics.get(c.metric)
            if value is None or not math.isfinite(value):
                got = ", ".join(sorted(metrics)) or "nothing"
                self._fail(r, f"constraint {str(c)!r}: the trial reported no finite {c.metric!r} (got: {got})",
                           metrics=metrics)
                return
            violation = c.violation(value)
            r.trial.set_constraint(str(c), violation)
            feasible = feasible and violation <= 0
        self.study.tell(r.trial, values)
        self.finished += 1
        self.complete += 1
        if self.budget is not None and feasible:
            self.budget.finished(values[0])
        tags: dict[str, str] = {}
        if not r.reported_objective and self.pruner is not None:
            tags["trial.warning"] = "never called sweeper.report: early stopping could not judge this trial"
        # with several objectives, "best" is the first objective's (the front is the result)
        improved = feasible and (self.best_values is None or self.objective.better(values[0], self.best_values[0]))
        if not feasible:
            tags["trial.feasible"] = "false"
        if improved:
            self.best_values, self.best_number = values, r.number
        if self.front is not None and feasible:
            self.progress.front(self.front.add(values))
        if self.best_values is None or self.best_number is None:  # no feasible trial yet
            self._finished(r, COMPLETE, "FINISHED", metrics, tags, None, values)
            self.progress.trial_finished(r.number, COMPLETE, values[0], self.best_value, self.best_number)
            return
        best = Best(number=self.best_number, values=list(self.best_values), params=dict(r.params) if improved else {},
                    config_yaml=outcome.config_yaml if improved else None, improved=improved, n_finished=self.finished)
        self._finished(r, COMPLETE, "FINISHED", metrics, tags, best, values)
        self.progress.trial_finished(r.number, COMPLETE, values[0], self.best_value, self.best_number)

    def _fail(self, r: Running, error: str, interrupted: bool = False, metrics: dict[str, float] | None = None) -> None:
        from optuna.trial import TrialState

        retry = not interrupted and r.attempt < self.spec.trial.retries
        r.trial.set_user_attr(attrs.ERROR, error[:2000])
        if interrupted:
            r.trial.set_user_attr(attrs.INTERRUPTED, True)
        if retry:
            r.trial.set_user_attr(attrs.RETRIED, True)
        self.study.tell(r.trial, state=TrialState.FAIL)
        if interrupted:
            status = "KILLED"
        else:
            status = "FAILED"
            if retry:
                self.retries.add(r.params, r.number, r.root, r.attempt + 1)
            else:
                self.finished += 1
                self.failed += 1
        self._finished(r, FAIL, status, metrics or {}, {"trial.error": error,
                       **({"trial.interrupted": "true"} if interrupted else {})})
        self.progress.trial_finished(r.number, FAIL, None, self.best_value, self.best_number, error=error)

    def _finished(self, r: Running, state: str, status: str, metrics: dict[str, float],
                  extra: dict[str, str] | None = None, best: Best | None = None,
                  values: list[float] | None = None) -> None:
        tags = {"trial.state": state, "trial.last_step": "" if r.last_step is None else str(r.last_step), **(extra or {})}
        # the returned metrics land at the last reported step; values already logged there are not repeated
        metrics = {k: v for k, v in metrics.items() if r.last_metrics.get(k) != v}
        self.tracker.trial_finished(TrialFinished(
            number=r.number, state=state, status=status, params=r.params, metrics=metrics,
            step=r.last_step if r.last_step is not None else 0, tags=tags, out_dir=self.tasks.out_dir(r.number),
            end_ms=int(time.time() * 1000), best=best, values=values))

    def _check_deadlines(self) -> None:
        now = self.clock()
        for slot, r in list(self.running.items()):
            if r.deadline is not None and now > r.deadline:
                r.deadline = None
                self.backend.kill(slot, f"timed out after {self.spec.trial.timeout:g} s (trial.timeout)")

    def abandon(self, reason: str) -> None:
        """The study can no longer be written (a storage fault): kill the running trials without a
        word to it. A resume finds them RUNNING under no live lease and re-runs them; their views
        hear now that they were killed."""
        for slot, r in list(self.running.items()):
            self.backend.kill(slot, f"stopped: {reason}")
            self._finished(r, FAIL, "KILLED", {}, {"trial.error": f"stopped: {reason}", "trial.interrupted": "true"})
        self.running.clear()

    def _interrupt(self) -> SweepOutcome:
        for slot in list(self.running):
            self.backend.kill(slot, "interrupted")
        deadline = self.clock() + INTERRUPT_GRACE_S
        while self.running and self.clock() < deadline:
            for ev in self.backend.wait(timeout=WAIT_S):
                r = self.running.get(ev.slot)
                if r is None or r.number != ev.number or isinstance(ev, Reported):
                    continue
                del self.running[ev.slot]
                if isinstance(ev, Done) and ev.outcome.state in (COMPLETE, PRUNED):
                    self._on_done(r, ev.outcome)  # it made it: keep the result
                else:
                    self._fail(r, "interrupted", interrupted=True)
        for r in list(self.running.values()):
            self._fail(r, "interrupted", interrupted=True)
        self.running.clear()
        return SweepOutcome("KILLED", "interrupted")
