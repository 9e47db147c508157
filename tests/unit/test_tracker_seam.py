"""The Tracker seam: a tracker written here, knowing nothing of the driver, plugs into a real sweep."""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import optuna
import pytest
from fakes import FakeBackend, FakeClock, RecordingTracker, Script, complete, make_spec, sqlite_url
from optuna.samplers import RandomSampler

import sweeper.backends
import sweeper.tracking
from sweeper import api
from sweeper.driver import Driver
from sweeper.messages import TrialFinished, TrialRecord
from sweeper.state import attrs, store
from sweeper.tracking import Tracker, Trackers


class JsonlTracker(Tracker):
    """One JSON line per call, in `<workdir>/events.jsonl`."""

    name = "jsonl"

    def __init__(self, spec: Any, memo: Any, uid: str) -> None:
        super().__init__(spec, memo, uid)
        self.path = Path(spec.workdir) / "events.jsonl"

    def _write(self, event: str, **fields: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"event": event, **fields}) + "\n")

    def sweep_started(self, settings: dict[str, Any], resumed: bool) -> None:
        self.memo.set("file", str(self.path))
        self._write("sweep_started", n_trials=settings["n_trials"], resumed=resumed, uid=self.uid)

    def trial_started(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> None:
        self._write("trial_started", number=number, params=params)

    def trial_reported(self, number: int, step: int, metrics: dict[str, float]) -> None:
        self._write("trial_reported", number=number, step=step, metrics=metrics)

    def trial_finished(self, trial: TrialFinished) -> None:
        b = trial.best
        self._write("trial_finished", number=trial.number, state=trial.state, status=trial.status,
                    best=None if b is None else {"number": b.number, "value": b.values[0],
                                                 "improved": b.improved})

    def sync(self, records: list[TrialRecord]) -> None:
        self._write("sync", numbers=[r.number for r in records])

    def sweep_finished(self, state: str | None, tags: dict[str, str]) -> None:
        self._write("sweep_finished", state=state, tags=tags)

    def where(self) -> str:
        return f"events: {self.path}"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def script(task: Any) -> Script:
    x = task.params["x"]
    return Script(outcome=complete(x), reports=[(1, {"loss": x + 1})])


def check_events(events: list[dict[str, Any]], study: Any, n_trials: int) -> None:
    assert events[0]["event"] == "sweep_started" and events[-1]["event"] == "sweep_finished"
    assert events[-1]["state"] == "FINISHED"
    kinds = collections.Counter(e["event"] for e in events)
    assert kinds == {"sweep_started": 1, "trial_started": n_trials, "trial_reported": n_trials,
                     "trial_finished": n_trials, "sweep_finished": 1}
    finished = [e for e in events if e["event"] == "trial_finished"]
    assert sorted(e["number"] for e in finished) == list(range(n_trials))  # one end per trial
    trials = {t.number: t for t in study.get_trials()}
    best_so_far, expected = None, []
    for e in finished:
        v = trials[e["number"]].value
        improved = best_so_far is None or v < best_so_far
        best_so_far = v if improved else best_so_far
        expected.append((improved, best_so_far))
    assert [(e["best"]["improved"], e["best"]["value"]) for e in finished] == expected
    assert any(not imp for imp, _ in expected)  # the sweep did see a trial that did not improve


def test_a_new_tracker_plugs_into_the_driver_next_to_another(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, n_trials=6)
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    jsonl = JsonlTracker(spec, store.StudyMemo(study, "jsonl"), "uid-1")
    recording = RecordingTracker(spec)
    both = Trackers([jsonl, recording])
    clock = FakeClock()
    driver = Driver(spec, study, study._storage, FakeBackend(2, script, clock), both, None,
                    clock=clock.now, sleep=clock.sleep)
    both.sweep_started(spec.settings(2), resumed=False)  # what sweeper.api.run says around the driver
    outcome = driver.run()
    both.sweep_finished(outcome.state, {})

    check_events(lines(jsonl.path), study, 6)
    # both trackers heard the same calls, in the same order
    recorded = []
    for method, args in recording.calls:
        if method == "trial_finished":
            recorded.append((method, args[0].number))
        elif method.startswith("trial_"):
            recorded.append((method, args[0]))
        elif method not in ("poll", "prepare"):
            recorded.append((method, None))
    # the optional calls (prepare, trial_hooks) a jsonl file has no use for
    recorded = [r for r in recorded if r[0] != "trial_hooks"]
    assert [(e["event"], e.get("number")) for e in lines(jsonl.path)] == recorded
    # the tracker's own state went to the study, under its own name
    assert study.user_attrs[attrs.TRACKER_PREFIX + "jsonl.file"] == str(jsonl.path)
    assert both.failed_writes == 0 and both.problems == []
    assert both.where() == f"events: {jsonl.path}"


def test_a_new_tracker_plugs_into_sweeper_api_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole flow of `sweeper.api.run`, with the fake backend as the sweep's backend and the
    JSON-lines tracker as its only tracker (MLflow's entry taken out of TRACKERS)."""
    backends: list[FakeBackend] = []

    def make_backend(spec: Any) -> FakeBackend:
        backends.append(FakeBackend(2, script))
        return backends[-1]

    monkeypatch.setattr(sweeper.backends, "make_backend", make_backend)
    monkeypatch.setattr(sweeper.tracking, "TRACKERS", {})
    spec = dataclasses.replace(make_spec(tmp_path, n_trials=5, search={"method": "random"}),
                               storage=sqlite_url(tmp_path))
    said: list[str] = []
    result = api.run(spec, trackers=[JsonlTracker], echo=said.append)

    (backend,) = backends
    assert backend.started and backend.shut_down and backend.checked == ["mod:fn"]
    assert result.state == "FINISHED"
    study = api.open_study("u", spec.storage)
    check_events(lines(tmp_path / "events.jsonl"), study, 5)
    uid = study.user_attrs[attrs.UID]
    assert lines(tmp_path / "events.jsonl")[0]["uid"] == uid
    assert study.user_attrs[attrs.TRACKER_PREFIX + "jsonl.file"] == str(tmp_path / "events.jsonl")
    assert result.best_value == min(t.value for t in study.get_trials())
    assert f"events: {tmp_path / 'events.jsonl'}" in said
    assert study.user_attrs[attrs.STATE] == "FINISHED"


def test_a_tracker_warms_up_through_its_one_registration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`Tracker.warm_up` is called once per launch for each registered or passed tracker, and only
    for those: with MLflow's entry taken out, no MLflow writer is started ahead."""
    import sys

    warmed: list[str] = []

    class Warm(JsonlTracker):
        name = "warm"

        @classmethod
        def warm_up(cls) -> None:
            warmed.append(cls.name)

    monkeypatch.setattr(sweeper.backends, "make_backend", lambda spec: FakeBackend(1, script))
    monkeypatch.setattr(sweeper.tracking, "TRACKERS", {"jsonl": lambda: JsonlTracker})
    spec = dataclasses.replace(make_spec(tmp_path, n_trials=2, search={"method": "random"}),
                               storage=sqlite_url(tmp_path))
    assert api.run(spec, trackers=[Warm], echo=lambda line: None).state == "FINISHED"
    assert warmed == ["warm"]
    mlflow_tracker = sys.modules.get("sweeper.tracking.mlflow.tracker")
    assert mlflow_tracker is None or mlflow_tracker._spare is None


# --- Trackers: one's failure is not the others' ---------------------------------------------------
class Broken(Tracker):
    name = "broken"

    def __init__(self) -> None:
        super().__init__(None, None, "")  # type: ignore[arg-type]

    def _fail(self, *args: Any) -> None:
        raise RuntimeError("the view\nis down")

    sweep_started = trial_started = trial_reported = _fail  # type: ignore[assignment]
    trial_finished = sync = sweep_finished = poll = _fail  # type: ignore[assignment]

    @property
    def problems(self) -> list[str]:
        return ["broken is broken"]

    @property
    def failed_writes(self) -> int:
        return 100


def test_trackers_keep_calling_the_others_when_one_raises(caplog: pytest.LogCaptureFixture) -> None:
    before, after = RecordingTracker(), RecordingTracker()
    both = Trackers([before, Broken(), after])
    tf = TrialFinished(number=0, state="COMPLETE", status="FINISHED", params={}, metrics={}, step=0, tags={},
                       out_dir=None, end_ms=0)
    with caplog.at_level(logging.WARNING, logger="sweeper.tracking"):
        both.sweep_started({}, False)
        both.trial_started(0, {"x": 1}, {})
        both.trial_reported(0, 1, {"loss": 0.5})
        both.trial_finished(tf)
        both.sync([])
        both.poll()
        both.sweep_finished("FINISHED", {})
    expected = ["sweep_started", "trial_started", "trial_reported", "trial_finished", "sync", "poll",
                "sweep_finished"]
    assert [m for m, _ in before.calls] == expected
    assert [m for m, _ in after.calls] == expected
    assert after.of("trial_finished") == [(tf,)]
    assert both.failed_writes == 7 + 100  # its own count of raised calls, plus each tracker's own
    assert both.problems == ["broken is broken"]
    assert len(caplog.records) == 7
    assert "tracker broken failed in trial_finished: the view is down" in caplog.text


def test_a_tracker_that_raises_does_not_stop_the_sweep(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, n_trials=3)
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    recording = RecordingTracker(spec)
    clock = FakeClock()
    trackers = Trackers([Broken(), recording])
    driver = Driver(spec, study, study._storage, FakeBackend(1, script, clock), trackers, None,
                    clock=clock.now, sleep=clock.sleep)
    assert driver.run().state == "FINISHED"
    assert len(study.get_trials()) == 3
    assert [tf.number for tf in recording.finished] == [0, 1, 2]
