"""The MLflow writer's loop, in-process: batching, coalescing, the outage loop, the stop.

The writer normally runs in a process of its own; here its `loop()` runs in the test's thread on
plain `queue.Queue`s, against a fake RunLayout (no MLflow). Everything it is fed is queued before
`loop()` runs, so one drain of the queue sees it all, as when the driver is faster than MLflow.
Tests taking `threads` run twice: the runs' writes inline (a local store) and on RunWrites' threads
(a tracking server), where only each run's own writes keep their order.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from fakes import FakeClock, make_spec

from sweeper.tracking.mlflow import writer as writer_mod
from sweeper.tracking.mlflow.ops import (
    BestSoFar,
    OpenRun,
    RunOpened,
    SweepEnded,
    SweepStarted,
    SweepTags,
    TrialEnded,
    TrialMetrics,
    TrialStarted,
)
from sweeper.tracking.mlflow.run_writes import SERVER_THREADS, pool_size
from sweeper.tracking.mlflow.sql_runs import Flushed
from sweeper.tracking.mlflow.writer import Writer

OPENED = [("experiment", "exp-1"), ("parent", "parent-1")]  # the writer's first answers


class M(NamedTuple):  # what writer.metric builds (mlflow.entities.Metric, without importing MLflow)
    key: str
    value: float
    timestamp: int
    step: int


class P(NamedTuple):  # what writer.param_list builds (mlflow.entities.Param)
    key: str
    value: str


class Down(ConnectionError):
    pass


class FakeLayout:
    """RunLayout's methods, recorded. `outage_on`: the first call of that method fails, and every
    call fails from then on until a `ping` succeeds (after `failed_pings` failed ones)."""

    def __init__(self, outage_on: str | None = None, failed_pings: int = 0, outage_after: int | None = None,
                 jitter_s: float = 0.0) -> None:
        self.parent_id = "parent-1"
        self.experiment_id = "exp-1"
        self.resumed = False
        self.starts: dict[int, int] = {}  # trial -> the start time its run was created with
        self.notes: list[str] = []
        self.runs: dict[int, str] = {}
        self.worker_runs: dict[int, str] = {}  # runs workers created and never reported
        self.calls: list[tuple[Any, ...]] = []  # the calls that succeeded
        self.attempts: list[str] = []  # every call's name, failed ones too
        self.outage_on, self.failed_pings = outage_on, failed_pings
        self.attempts_full: list[tuple[Any, ...]] = []  # every call, with its arguments
        self.down = False
        self.pings = 0
        # RunWrites' threads call concurrently: `outage_after` (calls before MLflow goes down) and
        # `jitter_s` (each call sleeps up to that long, seeded) make interleavings to test
        self.outage_after, self.jitter_s = outage_after, jitter_s
        self._lock = threading.Lock()
        self._rng = random.Random(7)
        self.fast: Any = None  # RunLayout's SQLite fast path (sql_runs.SqlRuns); see StagingLayout

    def _call(self, name: str, *args: Any) -> None:
        with self._lock:
            pause = self._rng.uniform(0, self.jitter_s)
        if pause:
            time.sleep(pause)
        with self._lock:
            if name == self.outage_on or self.outage_after is not None and len(self.attempts) >= self.outage_after:
                self.outage_on, self.outage_after, self.down = None, None, True
            self.attempts.append(name)
            self.attempts_full.append((name, *args))
            if self.down:
                raise Down(f"{name}: MLflow at http://user:secret@mlflow:5000 is unreachable")
            self.calls.append((name, *args))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == name]

    def ping(self) -> None:
        self.pings += 1
        if self.failed_pings:
            self.failed_pings -= 1
            raise Down("still down")
        self.down = False

    def sweep_started(self, settings: dict[str, Any], command: str) -> None:
        self._call("sweep_started", settings)

    def describe(self, markdown: str) -> None:
        self._call("describe")
        self.notes.append(markdown)

    def mark_best(self, number: int, previous_run: str | None) -> None:
        self._call("mark_best", number, previous_run)

    def log_report(self, files: list[str], metrics: list[Any]) -> None:
        self._call("log_report", list(files), list(metrics))

    def adopt(self, number: int, run_id: str) -> None:
        self._call("adopt", number, run_id)
        self.runs[number] = run_id

    def sweep_tags(self, tags: dict[str, str]) -> None:
        self._call("sweep_tags", tags)

    def parent_update(self, metrics: list[Any], tags: dict[str, str], note: str | None = None) -> None:
        if metrics or tags or note is not None:  # as RunLayout: nothing to send, no call
            self._call("parent_update", list(metrics), dict(tags))
            if note is not None:  # the description, in the same call
                self.notes.append(note)

    def upload_best(self, config_yaml: str) -> None:
        self._call("upload_best", config_yaml)

    def sweep_finished(self, state: str | None) -> None:
        self._call("sweep_finished", state)

    def find_trial_run(self, number: int) -> str | None:
        self._call("find_trial_run", number)
        return self.worker_runs.get(number)

    def trial_started(self, number: int, tags: dict[str, str], start_ms: int) -> str:
        self._call("trial_started", number, tags)
        self.starts[number] = start_ms
        self.runs[number] = f"run-{number}"
        return self.runs[number]

    def log(self, number: int, metrics: list[Any] | None = None, params: list[Any] | None = None,
            tags: dict[str, str] | None = None) -> None:
        self._call("log", self.runs[number], list(metrics or []), list(params or []), *([tags] if tags else []))

    def create_trial_run(self, number: int, tags: dict[str, str], start_ms: int,
                         params: dict[str, Any] | None = None) -> str:
        self._call("create_trial_run", number, tags, dict(params or {}))
        self.starts[number] = start_ms
        return f"opened-{number}"

    def trial_finished(self, number: int, status: str, metrics: list[Any], params: list[Any],
                       tags: dict[str, str], out_dir: str | None, end_ms: int) -> None:
        self._call("trial_finished", self.runs[number], status, list(metrics), list(params), tags, end_ms)


@pytest.fixture(params=[0, 4], ids=["inline", "pool"])
def threads(request: pytest.FixtureRequest) -> int:
    return int(request.param)


class Rig:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: FakeLayout, threads: int = 0) -> None:
        self.layout = layout
        monkeypatch.setattr(writer_mod, "pool_size", lambda uri: threads)
        self.opened: list[tuple[Any, ...]] = []

        def open_layout(*args: Any) -> FakeLayout:
            self.opened.append(args)
            return layout

        monkeypatch.setattr(writer_mod, "RunLayout", open_layout)
        monkeypatch.setattr(writer_mod, "metric", lambda k, v, ts, step: M(k, float(v), ts, int(step)))
        monkeypatch.setattr(writer_mod, "param_list", lambda ps: [P(k, str(v)) for k, v in ps.items()])
        self.spec = make_spec(tmp_path)
        self.q: queue.Queue[Any] = queue.Queue()
        self.results: queue.Queue[Any] = queue.Queue()
        self.opens: queue.Queue[Any] = queue.Queue()
        self.answers: queue.Queue[Any] = queue.Queue()
        self.writer = Writer(self.spec, "http://mlflow:5000", "exp", None, "uid-1", self.q, self.results)
        monkeypatch.setattr(writer_mod, "unreachable", lambda uri: None)

    def open_runs(self, *ops: Any) -> list[tuple[int, str | None]]:
        """The opener thread's work, in the test's thread: create runs for `ops`, return its answers."""
        self.writer.layout, self.writer._opens, self.writer._opened = self.layout, self.opens, self.answers
        for op in (*ops, None):
            self.opens.put(op)
        self.writer._open_runs()
        return [self.answers.get_nowait() for _ in range(self.answers.qsize())]

    def run(self, *ops: Any) -> list[tuple[str, Any]]:
        """Queue `ops` and a final None, run the loop to its end; what it answered."""
        for op in (*ops, None):
            self.q.put(op)
        self.writer.loop()
        out = []
        while not self.results.empty():
            out.append(self.results.get_nowait())
        return out


def started(number: int, params: dict[str, Any], tags: dict[str, str] | None = None, ts: int = 1,
            hooked: bool = False) -> Any:
    return TrialStarted(number, params, tags or {}, ts, hooked)


def metrics(number: int, step: int, values: dict[str, float], ts: int = 1) -> Any:
    return TrialMetrics(number, step, values, ts)


def best(step: int, value: float, improved_params: dict[str, Any] | None, ts: int = 1,
         cfg: str | None = None, number: int = -1, trial_value: float | None = None, best_number: int = -1) -> Any:
    tags = None if improved_params is None else {**{f"best.{k}": str(v) for k, v in improved_params.items()},
                                                 "best.loss": repr(value)}
    return BestSoFar(step, value, tags, cfg, improved_params, ts, number, trial_value, best_number)


# --- batching -----------------------------------------------------------------------------------
def test_a_trials_params_go_out_with_its_first_metrics(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    answers = r.run(started(0, {"x": 0.5, "opt": "adam"}, {"worker.host": "h"}),
                    metrics(0, 1, {"loss": 0.3}, ts=111), metrics(0, 2, {"loss": 0.2, "acc": 0.9}, ts=222))
    assert answers == [*OPENED]  # no errors: none reported
    assert r.opened == [(r.spec, "http://mlflow:5000", "exp", None, "uid-1", True)]
    assert r.layout.calls == [
        ("trial_started", 0, {"worker.host": "h"}),
        ("log", "run-0", [M("loss", 0.3, 111, 1)], [P("x", "0.5"), P("opt", "adam")]),
        ("log", "run-0", [M("loss", 0.2, 222, 2), M("acc", 0.9, 222, 2)], []),
    ]


def test_params_of_a_trial_with_no_metrics_yet_go_out_at_the_end_of_the_drain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.run(started(0, {"x": 0.1}), started(1, {"x": 0.2}),
          TrialEnded(1, "FAILED", {"loss": 9.0}, 4, {"trial.error": "E"}, None, 999))
    # trial 1 ended in the same drain: its params ride on its end; trial 0's are flushed after the drain
    assert r.layout.named("trial_finished") == [
        ("run-1", "FAILED", [M("loss", 9.0, 999, 4)], [P("x", "0.2")], {"trial.error": "E"}, 999)]
    assert r.layout.named("log") == [("run-0", [], [P("x", "0.1")])]


def test_the_end_of_a_trial_that_never_started_is_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    answers = r.run(TrialEnded(7, "FINISHED", {}, 0, {}, None, 1))
    assert r.layout.calls == [] and answers == [*OPENED]


def test_best_updates_of_one_drain_coalesce_into_one_parent_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.run(best(1, 0.5, {"x": 0.5}, ts=10, cfg="x: 0.5\n"), best(2, 0.5, None, ts=20),
          best(3, 0.2, {"x": 0.2}, ts=30))
    (update,) = r.layout.named("parent_update")
    assert update == ([M("best_loss", 0.5, 10, 1), M("best_loss", 0.5, 20, 2), M("best_loss", 0.2, 30, 3)],
                      {"best.x": "0.2", "best.loss": "0.2"})
    # the latest best's config, once (built from its params when the trial composed none)
    assert r.layout.named("upload_best") == [("x: 0.2\n",)]


def test_sweep_finished_flushes_the_parent_before_closing_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.run(SweepStarted({"n_trials": 5}, "sweep launch s.yaml"), best(1, 0.5, {"x": 0.5}, cfg="x: 0.5\n"),
          SweepTags({"sweep.complete": "1"}), SweepEnded("FINISHED", {"complete": 1}))
    # the new best is marked and the parent's history written once the sweep ends (one call), then its
    # config, its final description, its close
    assert [c[0] for c in r.layout.calls] == ["sweep_started", "sweep_tags", "mark_best", "parent_update",
                                              "upload_best", "describe", "sweep_finished"]
    assert r.layout.named("sweep_finished") == [("FINISHED",)]


# --- MLflow down --------------------------------------------------------------------------------
def test_after_a_failed_write_ops_are_dropped_and_counted_until_a_probe_succeeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "PROBE_S", 0.0)  # probe on every op
    r = Rig(tmp_path, monkeypatch, FakeLayout(outage_on="log", failed_pings=1))
    answers = r.run(
        started(0, {"x": 0.1}),
        metrics(0, 1, {"loss": 0.3}),  # fails: MLflow is down from here (error 1)
        metrics(0, 2, {"loss": 0.2}),  # the probe fails: dropped (error 2)
        started(1, {"x": 0.2}),  # the probe succeeds: written
        metrics(1, 1, {"loss": 0.4}),
    )
    assert r.layout.pings == 2
    assert r.layout.calls == [("trial_started", 0, {}), ("trial_started", 1, {}),
                              ("log", "run-1", [M("loss", 0.4, 1, 1)], [P("x", "0.2")])]
    assert answers == [*OPENED, ("errors", 2)]


def test_while_down_mlflow_is_probed_every_probe_s_not_on_every_drain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    """Three drains, each answered before the next is queued: the writer loops in a thread of its own,
    and the test waits on its answers (a queue), never on time."""
    clock = FakeClock()
    monkeypatch.setattr(writer_mod, "time", SimpleNamespace(monotonic=clock.now))
    r = Rig(tmp_path, monkeypatch, FakeLayout(outage_on="trial_started"), threads)
    loop = threading.Thread(target=r.writer.loop, daemon=True)
    loop.start()

    def drain(*ops: Any) -> Any:
        for op in ops:
            r.q.put(op)
        return r.results.get(timeout=30)

    try:
        assert [r.results.get(timeout=30), r.results.get(timeout=30)] == [*OPENED]
        assert drain(started(0, {"x": 0.1})) == ("errors", 1)  # MLflow goes down...
        assert r.results.get(timeout=30) == ("down", True)  # ...and the tracker hears it (no more run hooks)
        clock.advance(writer_mod.PROBE_S - 1)
        assert drain(started(1, {"x": 0.2}), best(1, 0.5, {"x": 0.2})) == ("errors", 3)  # dropped, not probed
        assert r.layout.pings == 0
        clock.advance(1)
        assert drain(started(2, {"x": 0.3})) == ("errors", 3)  # probed: MLflow answers, the op is written
        assert r.results.get(timeout=30) == ("down", False)
        assert r.layout.pings == 1
    finally:
        r.q.put(None)
        loop.join(timeout=30)
    assert not loop.is_alive()
    assert r.layout.calls == [("trial_started", 2, {}), ("log", "run-2", [], [P("x", "0.3")])]


def test_ops_batched_before_a_failure_are_dropped_with_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(outage_on="log"))
    answers = r.run(started(0, {"x": 0.1}), best(1, 0.5, None), metrics(0, 1, {"loss": 0.5}),
                    started(1, {"x": 0.2}))
    # the parent update batched before the failure, and trial 1 queued after it, never reach the layout
    assert r.layout.calls == [("trial_started", 0, {})]
    assert r.layout.attempts == ["trial_started", "log"]
    assert answers == [*OPENED, ("errors", 2), ("down", True)]


def test_while_down_no_write_is_attempted_before_a_probe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(outage_on="log"), threads)
    answers = r.run(started(0, {"x": 0.1}), best(1, 0.5, {"x": 0.1}), metrics(0, 1, {"loss": 0.5}))
    # a new best is marked and described at the drain's end, which the failure skips; nothing after
    # the failure, until a probe
    assert r.layout.attempts == ["trial_started", "log"]
    assert answers == [*OPENED, ("errors", 1), ("down", True)]


# --- the stop, and a layout that cannot open ----------------------------------------------------
def test_the_final_none_stops_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    answers = r.run(started(0, {"x": 0.1}))  # returns: the loop ended on None
    assert r.q.empty()
    assert answers == [*OPENED]
    assert r.layout.named("trial_started") == [(0, {})]


def test_a_layout_that_cannot_open_drains_the_queue_and_reports_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)

    def refuse(*args: Any) -> FakeLayout:
        raise ConnectionError("cannot reach postgresql://sweeper:hunter2@db/mlflow\n  (timeout)")

    monkeypatch.setattr(writer_mod, "RunLayout", refuse)
    answers = r.run(started(0, {"x": 0.1}), metrics(0, 1, {"loss": 0.2}))
    assert r.q.empty()
    assert answers == [("parent_error", "cannot reach postgresql://sweeper:***@db/mlflow (timeout)"),
                       ("errors", 1)]


# --- runs a trial's worker opens, true start times ----------------------------------------------
def test_a_run_the_worker_opened_is_adopted_and_never_created_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.run(started(0, {"x": 0.5}, {"worker.host": "h"}, ts=100, hooked=True), RunOpened(0, "worker-run-0"),
          metrics(0, 1, {"loss": 0.3}, ts=150), TrialEnded(0, "FINISHED", {}, 1, {}, None, 200))
    assert r.layout.named("trial_started") == []
    assert r.layout.named("adopt") == [(0, "worker-run-0")]
    # a local store: the opener logged the params with the run, the writer never logs them twice;
    # a server: the opener left them to the loop, which sends them with the first metrics
    later = [P("x", "0.5")] if threads else []
    assert r.layout.named("log") == [("worker-run-0", [M("loss", 0.3, 150, 1)], later)]
    assert r.layout.named("trial_finished") == [("worker-run-0", "FINISHED", [], [], {}, 200)]


def test_when_the_worker_could_not_open_the_run_the_writer_creates_it_from_the_trials_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.run(started(0, {"x": 0.5}, ts=100, hooked=True), RunOpened(0, None),
          # a trial that died before its worker said anything: its run is created at its end
          started(1, {"x": 0.6}, ts=120, hooked=True), TrialEnded(1, "FAILED", {}, 0, {}, None, 300),
          # metrics before the worker's answer (it never came): the run is created for them
          started(2, {"x": 0.7}, ts=130, hooked=True), metrics(2, 1, {"loss": 1.0}, ts=140))
    assert sorted(r.layout.named("trial_started")) == [(0, {}), (1, {}), (2, {})]
    assert r.layout.starts == {0: 100, 1: 120, 2: 130}  # each run starts when its trial was placed
    assert r.layout.named("trial_finished") == [("run-1", "FAILED", [], [P("x", "0.6")], {}, 300)]
    # params wait for the run: trial 0's go out after the drain, trial 2's with its metrics
    assert ("run-0", [], [P("x", "0.5")]) in r.layout.named("log")
    assert ("run-2", [M("loss", 1.0, 140, 1)], [P("x", "0.7")]) in r.layout.named("log")


def test_a_run_its_worker_created_before_it_was_killed_is_adopted_not_doubled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    layout = FakeLayout()
    layout.worker_runs[1] = "worker-run-1"  # created in MLflow; the worker died before saying so
    r = Rig(tmp_path, monkeypatch, layout, threads)
    r.run(started(1, {"x": 0.6}, ts=120, hooked=True), TrialEnded(1, "FAILED", {}, 0, {}, None, 300))
    assert layout.named("trial_started") == [] and layout.named("adopt") == [(1, "worker-run-1")]
    assert layout.named("trial_finished") == [("worker-run-1", "FAILED", [], [P("x", "0.6")], {}, 300)]


def test_the_opener_creates_the_run_at_placement_and_the_loop_adopts_it_with_the_workers_gpu_tags(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    assert r.open_runs(OpenRun(0, {"trial.number": "0"}, {"x": 0.5}, 100)) == [(0, "opened-0")]
    # params with the run on a local store (one transaction); against a server the driver waits for
    # one request, not two: the loop sends them
    with_run = {} if threads else {"x": 0.5}
    assert r.layout.named("create_trial_run") == [(0, {"trial.number": "0"}, with_run)]
    assert r.layout.starts == {0: 100}  # the run starts when the trial was placed
    r.run(started(0, {"x": 0.5}, ts=100, hooked=True), RunOpened(0, "opened-0", {"gpu.name": "NVIDIA H200"}),
          metrics(0, 1, {"loss": 0.3}, ts=150))
    assert r.layout.named("adopt") == [(0, "opened-0")] and r.layout.named("trial_started") == []
    # the worker's GPU tags land on the run; the params are logged once
    assert r.layout.named("log") == [("opened-0", [], [], {"gpu.name": "NVIDIA H200"}),
                                     ("opened-0", [M("loss", 0.3, 150, 1)], [P("x", "0.5")] if threads else [])]


def test_a_run_the_opener_made_for_a_trial_that_did_not_wait_for_it_is_the_trials_only_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.open_runs(OpenRun(0, {}, {"x": 0.5}, 100))  # the driver stopped waiting; the opener finished later
    r.run(started(0, {"x": 0.5}, ts=100, hooked=True), metrics(0, 1, {"loss": 0.3}, ts=150))
    assert r.layout.named("adopt") == [(0, "opened-0")]
    assert r.layout.named("trial_started") == [] and r.layout.named("find_trial_run") == []


def test_a_trial_the_loop_settled_first_gets_no_second_run_from_the_opener(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.run(started(0, {"x": 0.5}, ts=100, hooked=True), TrialEnded(0, "FAILED", {}, 0, {}, None, 300))
    assert r.layout.named("trial_started") == [(0, {})]
    assert r.open_runs(OpenRun(0, {}, {"x": 0.5}, 100)) == [(0, None)]  # a late request: nothing created
    assert r.layout.named("create_trial_run") == []


def test_params_of_a_trial_whose_run_is_being_opened_wait_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.run(started(0, {"x": 0.5}, hooked=True))  # the drain ends before the worker's answer
    assert r.layout.calls == []


# --- the parent as the sweep's summary ----------------------------------------------------------
def test_the_best_tag_moves_and_the_description_follows_the_best(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    # three drains (each `run` is one): the writer's state goes on from one to the next
    r.run(started(0, {"x": 0.5}), started(1, {"x": 0.2}), started(2, {"x": 0.9}),
          best(1, 0.5, {"x": 0.5}, number=0, trial_value=0.5, best_number=0, ts=10))
    r.run(best(2, 0.2, {"x": 0.2}, number=1, trial_value=0.2, best_number=1, ts=20))
    r.run(best(3, 0.2, None, number=2, trial_value=0.9, best_number=1, ts=30),
          SweepEnded("FINISHED", {"complete": 3, "pruned": 0, "failed": 0}))
    assert r.layout.named("mark_best") == [(0, None), (1, "run-0")]
    # every complete trial's value on the parent, on the best line's steps
    assert [m for u in r.layout.named("parent_update") for m in u[0] if m.key == "trial_loss"] == [
        M("trial_loss", 0.5, 10, 1), M("trial_loss", 0.2, 20, 2), M("trial_loss", 0.9, 30, 3)]
    first, second, last = r.layout.notes
    assert "[trial-0](#/experiments/exp-1/runs/run-0?workflowType=machine_learning)" in first and "| x | 0.5 |" in first
    assert "[trial-1](#/experiments/exp-1/runs/run-1?workflowType=machine_learning)" in second and "Best loss = 0.2**" in second
    assert "**3** of 5 trials finished (3 complete) · sweep **FINISHED**" in last and "run-1" in last


def test_new_bests_of_one_drain_move_the_best_tag_once_and_describe_the_parent_in_its_update(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    r = Rig(tmp_path, monkeypatch, FakeLayout(), threads)
    r.run(started(0, {"x": 0.5}), started(1, {"x": 0.2}),
          TrialEnded(0, "FINISHED", {"loss": 0.5}, 0, {}, None, 10),
          best(1, 0.5, {"x": 0.5}, number=0, trial_value=0.5, best_number=0, ts=10),
          TrialEnded(1, "FINISHED", {"loss": 0.2}, 0, {}, None, 20),
          best(2, 0.2, {"x": 0.2}, number=1, trial_value=0.2, best_number=1, ts=20))
    # the last best only: its run tagged once, the parent's metrics, tags and description in one call
    assert r.layout.named("mark_best") == [(1, None)]
    assert [c[0] for c in r.layout.calls].count("describe") == 0
    (update,) = r.layout.named("parent_update")
    assert update[1] == {"best.x": "0.2", "best.loss": "0.2"}
    (note_md,) = r.layout.notes
    assert "[trial-1](#/experiments/exp-1/runs/run-1?workflowType=machine_learning)" in note_md


# --- the runs' writes on threads (a tracking server) -------------------------------------------
def trial_ops(n: int) -> list[Any]:
    """What the driver queues for n trials the writer creates the runs of: each started, three
    reports, its end."""
    ops: list[Any] = []
    for i in range(n):
        ops.append(started(i, {"x": i}, ts=i))
        ops += [metrics(i, step, {"loss": i + step / 10}, ts=i) for step in (1, 2, 3)]
        ops.append(TrialEnded(i, "FINISHED", {"loss": float(i)}, 3, {"trial.state": "COMPLETE"}, None, i + 1))
    return ops


def test_on_threads_each_runs_writes_keep_their_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = FakeLayout(jitter_s=0.002)  # each call takes 0-2 ms: the threads interleave runs
    r = Rig(tmp_path, monkeypatch, layout, threads=4)
    answers = r.run(*trial_ops(40))
    assert answers == [*OPENED]
    for i in range(40):
        mine = [c for c in layout.calls if c[0] == "trial_started" and c[1] == i or f"run-{i}" in c[1:2]]
        assert mine == [
            ("trial_started", i, {}),
            ("log", f"run-{i}", [M("loss", i + 0.1, i, 1)], [P("x", str(i))]),
            ("log", f"run-{i}", [M("loss", i + 0.2, i, 2)], []),
            ("log", f"run-{i}", [M("loss", i + 0.3, i, 3)], []),
            ("trial_finished", f"run-{i}", "FINISHED", [M("loss", float(i), i + 1, 3)], [],
             {"trial.state": "COMPLETE"}, i + 1)]
    assert len(layout.calls) == 40 * 5  # nothing twice


def test_an_outage_in_the_middle_of_threaded_writes_loses_nothing_uncounted_and_writes_nothing_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = FakeLayout(jitter_s=0.001, outage_after=37)  # the 38th call fails, and all after it
    r = Rig(tmp_path, monkeypatch, layout, threads=4)
    answers = r.run(*trial_ops(20), best(1, 0.5, {"x": 1}, number=1, trial_value=0.5, best_number=1))
    written = [c for c in layout.calls if c[0] in ("trial_started", "log", "trial_finished")]
    assert len(written) == 37
    keys = [repr(c) for c in layout.calls]
    assert len(keys) == len(set(keys))  # nothing written twice (every call of a run differs)
    assert len(layout.attempts) == len(set(map(repr, layout.attempts_full)))  # nothing tried twice
    (errors,) = [v for k, v in answers if k == "errors"]
    # each of the 100 writes was made, or counted as failed or dropped: `sweep sync` rebuilds those
    assert len(written) + errors == 20 * 5
    assert ("down", True) in answers
    assert layout.named("parent_update") == [] and layout.named("mark_best") == []  # after the barrier: down


def test_runs_writes_go_on_threads_against_a_tracking_server_only() -> None:
    assert pool_size("http://127.0.0.1:5000") == pool_size("https://mlflow.example") == SERVER_THREADS > 1
    # a local store's writes serialize on its lock and the writer's GIL: inline
    assert pool_size("sqlite:////tmp/mlflow.db") == pool_size("postgresql://u@db/mlflow") == 0


# --- a SQLite store: the runs' writes staged, one transaction per barrier -------------------------
class FakeFast:
    """sql_runs.SqlRuns as the writer sees it: `staged` writes, and `flush`, which may fail once or
    find some runs deleted (`refused`)."""

    def __init__(self, layout: FakeLayout, fail_flush: int | None = None, refused: int = 0) -> None:
        self.layout, self.fail_flush, self.refused = layout, fail_flush, refused
        self.ops: list[tuple[Any, ...]] = []
        self.flushes: list[list[tuple[Any, ...]]] = []

    @property
    def staged(self) -> int:
        return len(self.ops)

    def flush(self) -> Flushed:
        ops, self.ops = self.ops, []
        self.layout.calls.append(("flush", len(ops)))
        if self.fail_flush == len(self.flushes):
            self.layout.down = True
            raise Down("database is locked")
        self.flushes.append(ops)
        return Flushed(len(ops), self.refused)


class StagingLayout(FakeLayout):
    """RunLayout on a SQLite store: a run's logs and its end are staged, written at `flush`."""

    def __init__(self, **kw: Any) -> None:
        fail_flush, refused = kw.pop("fail_flush", None), kw.pop("refused", 0)
        super().__init__(**kw)
        self.fast = FakeFast(self, fail_flush, refused)

    def log(self, number: int, metrics: list[Any] | None = None, params: list[Any] | None = None,
            tags: dict[str, str] | None = None) -> None:
        self.fast.ops.append(("log", self.runs[number], list(metrics or []), list(params or [])))

    def trial_finished(self, number: int, status: str, metrics: list[Any], params: list[Any],
                       tags: dict[str, str], out_dir: str | None, end_ms: int) -> None:
        self.fast.ops.append(("end", self.runs[number], status))


def test_a_drains_run_writes_go_in_one_flush_before_anything_that_reads_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = StagingLayout()
    r = Rig(tmp_path, monkeypatch, layout)
    ops = [op for n in range(3) for op in (started(n, {"x": n}), metrics(n, 1, {"loss": n}),
                                           TrialEnded(n, "FINISHED", {"loss": n}, 1, {}, None, 5))]
    answers = r.run(*ops, SweepTags({"sweep.x": "1"}), started(3, {"x": 3}), metrics(3, 1, {"loss": 3}))
    assert [len(f) for f in layout.fast.flushes] == [6, 1]  # 3 runs' logs and ends at once; then trial 3's
    names = [c[0] for c in layout.calls]
    assert names == ["trial_started"] * 3 + ["flush", "sweep_tags", "trial_started", "flush"]
    assert layout.fast.flushes[0][-1] == ("end", "run-2", "FINISHED")
    assert answers == OPENED


def test_a_failed_flush_counts_every_staged_write_and_takes_mlflow_down(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "PROBE_S", 3600.0)  # no probe succeeds within the test
    layout = StagingLayout(fail_flush=0)
    r = Rig(tmp_path, monkeypatch, layout)
    answers = r.run(started(0, {"x": 0}), metrics(0, 1, {"loss": 0.5}), metrics(0, 2, {"loss": 0.4}),
                    TrialEnded(0, "FINISHED", {"loss": 0.4}, 2, {}, None, 5),
                    SweepTags({"sweep.x": "1"}))  # after the failed flush: dropped while down
    assert ("errors", 4) in answers and ("down", True) in answers  # 3 staged writes + the dropped sweep_tags
    assert "sweep_tags" not in [c[0] for c in layout.calls]


def test_writes_to_runs_deleted_meanwhile_are_counted_but_mlflow_stays_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = StagingLayout(refused=1)
    r = Rig(tmp_path, monkeypatch, layout)
    answers = r.run(started(0, {"x": 0}), TrialEnded(0, "FINISHED", {"loss": 0.4}, 2, {}, None, 5),
                    SweepTags({"sweep.x": "1"}))
    assert ("errors", 1) in answers and ("down", True) not in answers
    assert ("sweep_tags", {"sweep.x": "1"}) in layout.calls
