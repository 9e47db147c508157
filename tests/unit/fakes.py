"""Fakes for the unit layer: a scripted backend, a clock, a recording tracker, an in-memory spec.

Imported only by tests/unit files. Nothing here starts a process, a server or a thread: the
FakeBackend runs its trials inside `wait`, as the driver polls it, and time only moves when a
test (or the backend's idle `wait`) advances the FakeClock.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.backends.base import Backend
from sweeper.config.load import default_storage, load
from sweeper.config.spec import SweepSpec
from sweeper.messages import (
    COMPLETE,
    PRUNED,
    BackendEvent,
    Died,
    Done,
    Opened,
    Reported,
    SlotInfo,
    Task,
    TrialFinished,
    TrialOutcome,
    TrialRecord,
    ViewHook,
)
from sweeper.tracking.base import Tracker


# --- time --------------------------------------------------------------------------------------
class FakeClock:
    """A monotonic clock that moves only when told: pass `clock.now` as the driver's clock and
    `clock.sleep` as its sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = float(start)
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    __call__ = now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "time does not run backwards"
        self.t += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


# --- the backend -------------------------------------------------------------------------------
@dataclass
class Script:
    """What one trial does in the FakeBackend."""

    outcome: TrialOutcome | None = None  # how it ends; None with die None: it runs until killed
    reports: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (step, metrics), in order
    die: str | None = None  # ends with Died(error=die) instead of an outcome (a crash, an OOM kill)
    duration: float = 0.0  # fake-clock seconds from submit to its end (needs the backend's clock)
    on_kill: TrialOutcome | None = None  # a kill ends it with this outcome (it made it) instead of Died
    ignore_kill: bool = False  # a kill is recorded, but the trial goes on (a hung process)
    open_s: float = 0.0  # fake-clock seconds its worker takes to open the task's views (an MLflow import)


#: a trial's script from its Task: a Script, a TrialOutcome, a bare number (the first metric), or None (hang)
ScriptFn = Callable[[Task], Script | TrialOutcome | float | None]


def complete(value: float, metric: str = "loss", **extra: float) -> TrialOutcome:
    return TrialOutcome(state=COMPLETE, metrics={metric: value, **extra})


def default_script(task: Task) -> TrialOutcome:
    """Every trial completes with its first objective metric = the param `x`."""
    return complete(float(task.params["x"]), task.metrics[0])


@dataclass
class _Slot:
    task: Task
    script: Script
    started: float
    reports: deque[tuple[int, dict[str, float]]]
    opened: bool = False  # its views' Opened event was sent
    awaiting: bool = False  # a Reported is out and the trial waits for `reply`
    pruned: bool = False
    last_step: int | None = None
    kill_reason: str | None = None


class FakeBackend(Backend):
    """`n` slots that run scripted trials inside `wait`.

    Each `wait` first calls `on_wait(self)` (a test's hook: request a stop, end a trial on demand),
    then returns what every busy slot has to say: its reports (one at a time when the task waits for
    a decision, until `reply`), then its end once the script's `duration` has passed on the clock.
    A kill ends the trial with `Died(why)` at the next `wait`. When nothing happens, `wait` advances
    the clock by its timeout, as a real wait would have taken that long.
    """

    name = "fake"

    def __init__(self, n: int = 1, script: ScriptFn = default_script, clock: FakeClock | None = None,
                 checkpoint_root: str | None = None, function_problem: str | None = None) -> None:
        super().__init__()
        self.n = n
        self.script = script
        self.clock = clock
        self.checkpoint_root = checkpoint_root
        self.function_problem = function_problem
        self.on_wait: Callable[[FakeBackend], None] | None = None
        self.started = self.shut_down = False
        self.submitted: list[tuple[int, Task]] = []
        self.replies: list[tuple[int, int, bool]] = []  # (slot, trial number, prune)
        self.kills: list[tuple[int, int, str]] = []  # (slot, trial number, why)
        self.checked: list[str] = []
        self.waits = 0
        self.max_busy = 0
        self.active: dict[int, _Slot] = {}

    # --- what tests read ---
    @property
    def numbers(self) -> list[int]:
        """Trial numbers in the order they were submitted."""
        return [t.number for _, t in self.submitted]

    def task(self, number: int) -> Task:
        return next(t for _, t in self.submitted if t.number == number)

    def running_numbers(self) -> list[int]:
        return sorted(s.task.number for s in self.active.values())

    # --- on demand ---
    def finish(self, number: int, outcome: TrialOutcome) -> None:
        """End a running trial with `outcome` at the next `wait`."""
        s = self._by_number(number)
        s.script = dataclasses.replace(s.script, outcome=outcome, die=None, duration=0.0)

    def crash(self, number: int, error: str) -> None:
        """Make a running trial die (its process ended without a result) at the next `wait`."""
        s = self._by_number(number)
        s.script = dataclasses.replace(s.script, outcome=None, die=error, duration=0.0)

    def _by_number(self, number: int) -> _Slot:
        return next(s for s in self.active.values() if s.task.number == number)

    # --- Backend ---
    def start(self) -> None:
        self.started = True

    def slot_info(self, slot: int) -> SlotInfo:
        return SlotInfo(host="fakehost", pid=1000 + slot, gpus="", extra={"worker.slot": str(slot)})

    def check_function(self, target: str) -> str | None:
        self.checked.append(target)
        return self.function_problem

    def submit(self, slot: int, task: Task) -> None:
        assert 0 <= slot < self.n, f"slot {slot} out of range (n={self.n})"
        assert slot not in self.active, f"slot {slot} is busy with trial {self.active[slot].task.number}"
        raw = self.script(task)
        if isinstance(raw, Script):
            script = raw
        elif isinstance(raw, TrialOutcome):
            script = Script(outcome=raw)
        elif raw is None:
            script = Script()
        else:
            script = Script(outcome=complete(float(raw), task.metrics[0]))
        self.submitted.append((slot, copy.deepcopy(task)))
        now = self.clock.now() if self.clock else 0.0
        self.active[slot] = _Slot(task, script, now, deque(script.reports))
        self.max_busy = max(self.max_busy, len(self.active))

    def reply(self, slot: int, prune: bool) -> None:
        s = self.active.get(slot)
        self.replies.append((slot, s.task.number if s else -1, prune))
        if s is None:
            return
        s.awaiting = False
        if prune:
            s.pruned = True
            s.reports.clear()

    def kill(self, slot: int, why: str) -> None:
        s = self.active.get(slot)
        self.kills.append((slot, s.task.number if s else -1, why))
        if s is not None:
            s.kill_reason = why

    def wait(self, timeout: float) -> list[BackendEvent]:
        self.waits += 1
        if self.on_wait is not None:
            self.on_wait(self)
        events = self._collect()
        if not events and self.clock is not None:
            self.clock.advance(timeout)
            events = self._collect()
        return events

    def shutdown(self) -> None:
        self.shut_down = True

    # --- the trials ---
    def _collect(self) -> list[BackendEvent]:
        events: list[BackendEvent] = []
        for slot in sorted(self.active):
            s = self.active[slot]
            n = s.task.number
            if s.kill_reason is not None and not s.script.ignore_kill:
                if s.script.on_kill is not None:
                    events.append(Done(slot, n, s.script.on_kill))
                else:
                    events.append(Died(slot, n, s.kill_reason))
                del self.active[slot]
                continue
            if s.awaiting:
                continue
            if s.task.views and not s.opened:  # a worker opens the trial's views before anything else
                if self.clock is not None and self.clock.now() < s.started + s.script.open_s:
                    continue
                s.opened = True
                s.started = self.clock.now() if self.clock is not None else s.started  # its code starts now
                events.append(Opened(slot, n, {h.tracker: f"{h.tracker}-ref-{n}" for h in s.task.views}))
            while s.reports:
                step, metrics = s.reports.popleft()
                s.last_step = step
                events.append(Reported(slot, n, step, dict(metrics)))
                if s.task.wait_decision:
                    s.awaiting = True
                    break
            if s.awaiting:
                continue
            if s.pruned:
                events.append(Done(slot, n, TrialOutcome(state=PRUNED, last_step=s.last_step)))
                del self.active[slot]
                continue
            sc = s.script
            if sc.outcome is None and sc.die is None:
                continue  # runs until killed
            if self.clock is not None and self.clock.now() < s.started + sc.duration:
                continue
            if sc.die is not None:
                events.append(Died(slot, n, sc.die))
            else:
                assert sc.outcome is not None
                out = sc.outcome
                if out.last_step is None and s.last_step is not None:
                    out = dataclasses.replace(out, last_step=s.last_step)
                events.append(Done(slot, n, out))
            del self.active[slot]
        return events


# --- trackers ----------------------------------------------------------------------------------
class DictMemo:
    """A Memo kept in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value


class RecordingTracker(Tracker):
    """Records every call it hears, in order, as (method, args)."""

    name = "recording"

    def __init__(self, spec: Any = None, memo: Any = None, uid: str = "") -> None:
        super().__init__(spec, memo if memo is not None else DictMemo(), uid)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.hooks = False  # hand out a ViewHook per trial

    def of(self, method: str) -> list[tuple[Any, ...]]:
        return [args for m, args in self.calls if m == method]

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls if m != "poll"]

    @property
    def finished(self) -> list[TrialFinished]:
        return [args[0] for args in self.of("trial_finished")]

    def sweep_started(self, settings: dict[str, Any], resumed: bool) -> None:
        self.calls.append(("sweep_started", (settings, resumed)))

    def prepare(self) -> None:
        self.calls.append(("prepare", ()))

    def trial_hooks(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> list[ViewHook]:
        self.calls.append(("trial_hooks", (number, dict(tags))))
        return [ViewHook(self.name, "views_mod:open_view", {"number": number})] if self.hooks else []

    def trial_opened(self, number: int, refs: dict[str, str | None], tags: dict[str, str]) -> None:
        self.calls.append(("trial_opened", (number, dict(refs))))

    def trial_started(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> None:
        self.calls.append(("trial_started", (number, dict(params), dict(tags))))

    def trial_reported(self, number: int, step: int, metrics: dict[str, float]) -> None:
        self.calls.append(("trial_reported", (number, step, dict(metrics))))

    def trial_finished(self, trial: TrialFinished) -> None:
        self.calls.append(("trial_finished", (trial,)))

    def sync(self, records: list[TrialRecord]) -> None:
        self.calls.append(("sync", (list(records),)))

    def poll(self) -> None:
        self.calls.append(("poll", ()))

    def sweep_finished(self, state: str | None, tags: dict[str, str]) -> None:
        self.calls.append(("sweep_finished", (state, dict(tags))))


# --- the sweep ---------------------------------------------------------------------------------
BASE: dict[str, Any] = {"name": "u", "objective": {"metric": "loss"}, "params": {"x": "interval(0.0, 1.0)"},
                        "trial": {"function": "mod:fn"}, "n_trials": 5, "seed": 0}
_loaded: dict[str, SweepSpec] = {}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def make_spec(tmp_path: Path, **over: Any) -> SweepSpec:
    """A SweepSpec from an in-memory config: BASE with `over` merged in (nested dicts merge),
    loaded by `sweeper.config.load` with `workdir=tmp_path`. Hydra's compose costs ~0.15 s, so a
    config loaded once is reused, only its folders moved to `tmp_path`."""
    cfg = _merge(BASE, over)
    key = json.dumps(cfg, sort_keys=True)
    workdir = str(tmp_path)
    spec = _loaded.get(key)
    if spec is None:
        spec = _loaded[key] = load(cfg, workdir=workdir)
    return dataclasses.replace(spec, workdir=workdir, base_dir=workdir, storage=default_storage(workdir))


# --- storages ----------------------------------------------------------------------------------
def sqlite_url(tmp_path: Path, name: str = "s.db") -> str:
    """A fresh SQLite sweep storage file in `tmp_path`, with Optuna's schema already in it.

    Building the schema takes ~0.7 s; `store.open_storage` builds it once per test session (in the
    session's temp folder) and each test gets a copy."""
    from sweeper.state import store

    template = tmp_path.parent / "sweeper-unit-template.db"
    if not template.exists():
        building = tmp_path.parent / "sweeper-unit-template-build" / "t.db"
        s = store.open_storage(f"sqlite:///{building}", create_dirs=True)
        getattr(s, "_backend", s).engine.dispose()  # the WAL is checkpointed into the file
        shutil.copy(building, template)
    shutil.copy(template, tmp_path / name)
    return f"sqlite:///{tmp_path / name}"


def sqlite_storage(tmp_path: Path, name: str = "s.db") -> Any:
    """`store.open_storage(..., create_dirs=True)` on a fresh SQLite file: sweeper's read cache on top."""
    from sweeper.state import store

    return store.open_storage(sqlite_url(tmp_path, name), create_dirs=True)
