"""`MlflowTracker`: the driver's side of MLflow tracking. Every call enqueues and returns at once,
except `sweep_finished`, which waits for the writer to drain (the end of a sweep).

It starts the writer process (writer.py), hands it operations, and keeps what a resume needs (the
parent run id) in its memo, that is in the study. The writer answers on a second queue: the parent
run id once it has one, an error if MLflow could not be reached, and how many writes failed.
"""

from __future__ import annotations

import dataclasses
import queue
import shlex
import time
from typing import Any

from ...config.spec import SweepSpec
from ...messages import COMPLETE, TrialFinished, TrialRecord, ViewHook
from ...redact import mask
from ...runtime.process import start_without_main
from ..base import Memo, Tracker
from .lookup import UI_PORT, run_url, sweep_command, tracking_uri, ui_hint
from .ops import (
    BestSoFar,
    FrontMarked,
    OpenRun,
    RunOpened,
    SweepEnded,
    SweepReport,
    SweepStarted,
    SweepTags,
    Sync,
    TrialEnded,
    TrialMetrics,
    TrialStarted,
)
from .trial_run import TARGET as ADOPT_RUN

PARENT_KEY = "parent_run_id"
OPEN_WAIT_S = 5.0  # the longest a trial's placement waits for its run (the opener takes ~10-30 ms)


@dataclasses.dataclass
class WriterProcess:
    """A started writer process and its channels: `q` (operations, its settings first), `results`
    (its answers), `opens`/`opened` (the priority channel for trial runs and its answers)."""

    proc: Any
    q: Any
    results: Any
    opens: Any
    opened: Any

    @classmethod
    def start(cls) -> WriterProcess:
        import multiprocessing as mp

        from .writer import serve

        ctx = mp.get_context("spawn")
        q, results, opens, opened = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Queue()
        proc = ctx.Process(target=serve, args=(q, results, opens, opened), name="sweeper-mlflow", daemon=True)
        start_without_main(proc)
        return cls(proc, q, results, opens, opened)


_spare: WriterProcess | None = None  # started by start_spare, for this process's next MlflowTracker


def start_spare() -> None:
    """Start the next tracker's writer process now, so that its import of MLflow (~2 CPU-s, most of
    a writer's start) runs while the driver makes the study and starts the workers, not after.

    The process touches no store until a tracker sends it its settings, so a launch refused after
    this leaves nothing behind; it is a daemon, ended with this process.
    """
    global _spare
    if _spare is None or not _spare.proc.is_alive():
        _spare = WriterProcess.start()


def _writer() -> WriterProcess:
    global _spare
    spare, _spare = _spare, None
    return spare if spare is not None and spare.proc.is_alive() else WriterProcess.start()


class MlflowTracker(Tracker):
    name = "mlflow"

    @classmethod
    def warm_up(cls) -> None:
        start_spare()

    def __init__(self, spec: SweepSpec, memo: Memo, uid: str, reopen: bool = True,
                 parent_wait_s: float = 30.0) -> None:
        """`reopen`: mark the parent run RUNNING again (a resume does; `sweep sync` does not)."""
        super().__init__(spec, memo, uid)
        self.uri = tracking_uri(spec.tracking.uri, spec.workdir)
        self.experiment = spec.tracking.experiment or spec.name
        self.parent_wait_s = parent_wait_s
        self._saved_parent: str | None = memo.get(PARENT_KEY)
        writer = _writer()
        self._proc = writer.proc
        self._q: Any = writer.q
        self._results: Any = writer.results
        self._opens: Any = writer.opens  # the writer's priority channel: trial runs to create now
        self._opened: Any = writer.opened  # its answers: (trial number, run id or None)
        self._waiting_open: int | None = None  # a trial whose run the writer has not answered for
        self._parent: str | None = None
        self._experiment_id: str | None = None
        self._parent_error: str | None = None
        self._hooked: set[int] = set()  # trials whose run the writer's opener was asked for
        self._down = False  # the writer found MLflow down (and has not seen it back)
        self._errors = 0
        self._q.put((spec, self.uri, self.experiment, self._saved_parent, uid, reopen))

    # --- Tracker -------------------------------------------------------------------------------
    def sweep_started(self, settings: dict[str, Any], resumed: bool) -> None:
        import sys

        # `resumed` is not needed here: the writer knows a resume by the parent run it finds
        self._q.put(SweepStarted(settings, shlex.join(sys.argv)))

    def prepare(self) -> None:
        """Trials that log to MLflow themselves need the store and the parent run before they start."""
        self.wait_parent(self.parent_wait_s)
        self._save_parent()

    def trial_hooks(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> list[ViewHook]:
        self._drain_results()
        if self._parent is None or self._experiment_id is None or self._down:
            return []  # MLflow is not there (yet, or now): the writer creates the run when it can
        if self._waiting_open is not None:
            self._await_open(self._waiting_open, 0)  # a late answer, if it came meanwhile
            if self._waiting_open is not None:
                return []  # the opener is still on an earlier run (MLflow slow or down): no wait per trial
        self._hooked.add(number)
        self._opens.put(OpenRun(number, {"trial.number": str(number), "trial.state": "RUNNING", **tags}, params,
                                int(time.time() * 1000)))
        run_id = self._await_open(number, OPEN_WAIT_S)
        if run_id is None:
            # no run id in time: the trial starts outside MLflow's env; the writer gives it the run
            # the opener makes (or one of its own) with its first report or its end
            return []
        return [ViewHook(self.name, ADOPT_RUN, {"run_id": run_id, "uri": self.uri,
                                                "experiment_id": self._experiment_id})]

    def _await_open(self, number: int, timeout: float) -> str | None:
        """The opener's answer for trial `number` (older answers, for trials that did not wait for
        theirs, are dropped: the writer adopts those runs itself)."""
        self._waiting_open = number
        deadline = time.monotonic() + timeout
        while True:
            try:
                got, run_id = self._opened.get(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
            except (queue.Empty, EOFError, OSError):
                if time.monotonic() >= deadline or not self._proc.is_alive():
                    return None
                continue
            if got == number:
                self._waiting_open = None
                return run_id

    def trial_opened(self, number: int, refs: dict[str, str | None], tags: dict[str, str]) -> None:
        if number in self._hooked:
            self._hooked.discard(number)
            self._q.put(RunOpened(number, refs.get(self.name), tags))

    def trial_started(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> None:
        self._q.put(TrialStarted(number, params, tags, int(time.time() * 1000), hooked=number in self._hooked))

    def trial_reported(self, number: int, step: int, metrics: dict[str, float]) -> None:
        self._q.put(TrialMetrics(number, step, metrics, int(time.time() * 1000)))

    def trial_finished(self, trial: TrialFinished) -> None:
        self._hooked.discard(trial.number)  # a trial that died before its worker opened the run
        self._q.put(TrialEnded(trial.number, trial.status, trial.metrics, trial.step, trial.tags, trial.out_dir,
                               trial.end_ms))
        b = trial.best
        if trial.state != COMPLETE or b is None:
            return
        tags = None
        if b.improved:
            tags = {f"best.{k.lstrip('+')}": str(v) for k, v in b.params.items()}  # MLflow refuses `+`
            tags["best.trial"] = str(b.number)
            tags[f"best.{self.spec.metrics[0]}"] = repr(b.values[0])
        value = trial.values[0] if trial.values else None
        self._q.put(BestSoFar(b.n_finished, b.values[0], tags, b.config_yaml, b.params if b.improved else None,
                              trial.end_ms, number=trial.number, trial_value=value, best_number=b.number))

    def sync(self, records: list[TrialRecord]) -> None:
        self._q.put(Sync(records))

    def poll(self) -> None:
        if self._saved_parent is None:
            self._drain_results()
            self._save_parent()

    def sweep_report(self, files: list[str], metrics: dict[str, float]) -> None:
        """The sweep's report (HTML, images) and its figures (parameter importances) on the parent."""
        self._q.put(SweepReport(files, metrics))

    def sweep_finished(self, state: str | None, tags: dict[str, str]) -> None:
        self.wait_parent(self.parent_wait_s)
        self._save_parent()
        if tags:
            self._q.put(SweepTags(tags))
        if "sweep.front" in tags:  # several objectives: each front member's run says so
            self._q.put(FrontMarked([int(n) for n in tags["sweep.front"].split(",") if n]))
        self._close(state, {k.removeprefix("sweep."): int(v) for k, v in tags.items() if v.isdigit()})

    @property
    def problems(self) -> list[str]:
        if self._parent_error:
            return [f"MLflow tracking unavailable ({self._parent_error[:200]}); results stay in the study"]
        return []

    @property
    def failed_writes(self) -> int:
        return self._errors

    def where(self) -> str:
        """The parent run's page in MLflow's model-training view, and how to open it."""
        if self._parent is None or self._experiment_id is None:
            return f"runs: {ui_hint(self.uri)}  (experiment {self.experiment!r})"
        if self.uri.startswith(("http://", "https://")):
            return f"runs: {mask(run_url(self.uri, self._experiment_id, self._parent))}"
        url = run_url(f"http://127.0.0.1:{UI_PORT}", self._experiment_id, self._parent)
        return f"runs: {url}\n      open it with: {sweep_command()} ui {shlex.quote(self.spec.name)}"

    def reference(self) -> str | None:
        return self.parent_run_id

    # --- the writer's answers ------------------------------------------------------------------
    @property
    def parent_run_id(self) -> str | None:
        return self._parent or self._saved_parent

    @property
    def parent_error(self) -> str | None:
        return self._parent_error

    def _save_parent(self) -> None:
        if self._parent is not None and self._parent != self._saved_parent:
            self.memo.set(PARENT_KEY, self._parent)
            self._saved_parent = self._parent

    def _drain_results(self, block: bool = False, timeout: float | None = None) -> None:
        while True:
            try:
                kind, value = self._results.get(block, timeout) if block else self._results.get_nowait()
            except (queue.Empty, EOFError, OSError):
                return
            block = False
            if kind == "parent":
                self._parent = value
            elif kind == "experiment":
                self._experiment_id = value
            elif kind == "down":
                self._down = bool(value)
            elif kind == "parent_error":
                self._parent_error = value
            elif kind == "errors":
                self._errors = value

    def wait_parent(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while self._parent is None and self._parent_error is None and time.monotonic() < deadline:
            if not self._proc.is_alive():
                self._drain_results()
                break
            self._drain_results(block=True, timeout=0.2)
        return self._parent

    def _close(self, state: str | None, counts: dict[str, int] | None = None, timeout: float = 300.0) -> None:
        """Set the parent's final state (None: leave it) and wait for every queued write."""
        self._opens.put(None)
        self._q.put(SweepEnded(state, counts))
        self._q.put(None)
        deadline = time.monotonic() + timeout
        while self._proc.is_alive() and time.monotonic() < deadline:
            self._drain_results(block=True, timeout=0.2)
        self._drain_results()
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(5)
        for q in (self._q, self._opens):
            q.close()
            q.join_thread()
