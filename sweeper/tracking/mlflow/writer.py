"""The MLflow writer: a process of its own that owns the MlflowClient, fed by a queue.

MLflow's client is heavy Python, and on the driver's GIL it would slow every ask/tell; here the
driver only enqueues. The writer drains what is queued and batches it (a trial's params go with
its first metrics when they come in the same drain, else at the drain's end; parent updates
coalesce into one call per drain, the parent's description and the `trial.best` tag included;
`best_config.yaml` is uploaded at most every 2 s). A trial run's own writes go through `RunWrites`
(run_writes.py): against a tracking server on a few threads, a run's writes in order, with a
barrier before whatever reads their results and at each drain's end; against a local store inline,
and against a SQLite store (the default) staged and written at that barrier in one transaction
(sql_runs.py): MLflow's own store spends four transactions on one `log_batch`.
If MLflow fails, writes are dropped and counted while the writer probes it every 10 s; once it
answers again, the writer goes on and `sweep sync` (run automatically at the end of a sweep that
had failures) rebuilds what was dropped from the study.

Trial runs are created ahead of that queue, on a priority channel served by a thread of their own
(`OpenRun`): the driver waits for the run id when it places a trial, so the trial starts inside
its run (`MLFLOW_RUN_ID`) and its worker never imports MLflow (seconds of CPU and ~150 MB each).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from ...config.spec import SweepSpec
from ...redact import mask
from ...runtime.process import die_with_parent
from .layout import RunLayout, metric, param_list, params_yaml
from .lean_import import import_mlflow_client
from .lookup import unreachable
from .ops import (
    BestSoFar,
    FrontMarked,
    Op,
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
from .run_writes import RunWrites, pool_size
from .store import close_engines
from .summary import BestTrial, note
from .sync import sync

log = logging.getLogger("sweeper.tracking")
PROBE_S = 10.0
BEST_CONFIG_EVERY_S = 2.0
RUN_OPS = (TrialStarted, RunOpened, TrialMetrics, TrialEnded)  # writes to one trial's run (RunWrites)


def _why(e: BaseException) -> str:
    """An MLflow error in one line: its database's own message, without the SQL statement."""
    return mask(" ".join(str(e).split("[SQL:")[0].split()))[:300]


def serve(q: Any, results: Any, opens: Any = None, opened: Any = None) -> None:
    """The writer process's entry point. It imports MLflow at once, then waits for its settings
    (the first item on `q`: spec, uri, experiment, parent run id, uid, reopen), so that it can be
    started before the sweep's study exists (`MlflowTracker.warm_up`) and touches no store until told."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's; it closes us in order
    die_with_parent()
    try:  # the ~2 CPU-s every writer pays, while the driver starts
        import_mlflow_client()
    except Exception:  # said by the Writer when it needs MLflow, in its usual words
        pass
    settings = q.get()
    if settings is None:  # the launch stopped before its sweep began
        return
    spec, uri, experiment, parent_run_id, uid, reopen = settings
    writer = Writer(spec, uri, experiment, parent_run_id, uid, q, results, reopen, opens, opened)
    writer.loop()
    writer.wait_opener()
    _quick_exit(results)


def _quick_exit(results: Any) -> None:
    """End the process once everything is written, skipping the interpreter's teardown of MLflow's
    thousands of modules and its exit hooks: 1-1.5 s at the end of every sweep, which the driver
    waits for. What that teardown would still have done for us is done here: the answers reach the
    driver, the log lines are out, and a SQLite store holds every run in its main file."""
    import os
    import sys

    try:
        close_engines()
    except Exception:  # the WAL stays beside the store, and SQLite folds it in at its next open
        pass
    results.close()
    results.join_thread()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class Writer:
    def __init__(self, spec: SweepSpec, uri: str, experiment: str, parent_run_id: str | None, uid: str,
                 q: Any, results: Any, reopen: bool = True, opens: Any = None, opened: Any = None) -> None:
        self.spec, self.uri, self.experiment = spec, uri, experiment
        self.parent_run_id, self.uid, self.reopen = parent_run_id, uid, reopen
        self._q, self._results = q, results
        self._opens, self._opened = opens, opened  # the priority channel (None: trial runs are created in order)
        # runs the opener created, and trials the loop has settled itself: under the lock, a trial
        # gets one run whichever side gets to it first
        self._open_lock = threading.Lock()
        self._made: dict[int, str] = {}
        self._settled: set[int] = set()
        self._pending_params: dict[int, list[Any]] = {}  # sent with the trial's first metrics
        self._awaiting: dict[int, TrialStarted] = {}  # trials whose worker is opening their run
        self.best: BestTrial | None = None
        self._best_moved = False  # a new best this drain: its run tagged, the parent described at the drain's end
        self._tagged_best: str | None = None  # the run that carries `trial.best=true`
        self._writes = RunWrites(0)
        self._remote = pool_size(uri) > 0  # a tracking server: every write is a round trip
        self.finished = 0
        self._errors = 0
        self._down_since: float | None = None
        self._said_down = False
        self._last_probe = 0.0
        self._opener: threading.Thread | None = None
        self.best_metric = f"best_{spec.metrics[0]}"
        self.trial_metric = f"trial_{spec.metrics[0]}"

    def loop(self) -> None:
        try:
            self.layout = RunLayout(self.spec, self.uri, self.experiment, self.parent_run_id, self.uid, self.reopen)
        except Exception as e:  # the sweep goes on without tracking; the study keeps everything
            self._errors += 1
            self._results.put(("parent_error", _why(e)))
            while self._q.get() is not None:
                pass
            self._results.put(("errors", self._errors))
            return
        if self._opens is not None:
            self._opener = threading.Thread(target=self._open_runs, name="sweeper-mlflow-opener", daemon=True)
            self._opener.start()
        self._results.put(("experiment", self.layout.experiment_id))
        self._results.put(("parent", self.layout.parent_id))
        if self.layout.resumed:
            try:
                self.best = self.layout.stored_best()
            except Exception:  # the description is rebuilt with the next best
                self.best = None
            self._tagged_best = self.best.run_id if self.best else None
        self._writes = RunWrites(pool_size(self.uri))
        try:
            self._drains()
        finally:
            self._writes.close()

    def _drains(self) -> None:
        best_cfg: str | None = None
        last_cfg_upload = 0.0
        while True:
            batch = [self._q.get()]
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
                if not isinstance(op, (*RUN_OPS, BestSoFar)):
                    self._barrier()  # what comes next may read the runs' writes (their run ids)
                if self._down_since is not None and not self._probe():
                    self._errors += 1  # dropped while MLflow is down: `sweep sync` rebuilds it from the study
                    continue
                try:
                    if isinstance(op, BestSoFar):
                        parent_metrics.append(metric(self.best_metric, op.value, op.ts, op.step))
                        if op.trial_value is not None:
                            parent_metrics.append(metric(self.trial_metric, op.trial_value, op.ts, op.step))
                        parent_tags.update(op.tags or {})
                        self.finished = max(self.finished, op.step)
                        if op.tags is not None:
                            best_cfg = op.config_yaml or params_yaml(op.params or {})
                            self.best = BestTrial(op.best_number, op.value, dict(op.params or {}))
                            self._best_moved = True
                    elif isinstance(op, SweepEnded):
                        self._parent_update(parent_metrics, parent_tags, describe=op.state is None)
                        parent_metrics, parent_tags = [], {}
                        if best_cfg is not None:
                            self.layout.upload_best(best_cfg)
                            best_cfg = None
                        if op.state is not None:
                            counts = {k: v for k, v in (op.counts or {}).items() if v}
                            finished = sum(counts.get(k, 0) for k in ("complete", "pruned", "failed"))
                            self.layout.describe(note(self.spec, self.layout.experiment_id, self.best,
                                                      max(finished, self.finished), counts, op.state))
                        self.layout.sweep_finished(op.state)
                    else:
                        self.apply(op)
                except Exception as e:
                    self._failed(type(op).__name__, e)
            self._barrier()
            if self._down_since is not None:
                # nothing more until a probe finds MLflow back: the best config waits for it (and is
                # lost if the sweep ends first), the rest `sweep sync` rebuilds from the study
                self._pending_params.clear()
            else:
                try:
                    self._parent_update(parent_metrics, parent_tags)
                    self._flush_params()
                except Exception as e:
                    self._errors += 1
                    log.warning("MLflow write failed: %s; trials go on, the study keeps every result",
                                _why(e))
                    self._down_since = self._last_probe = time.monotonic()
                if self._down_since is None and best_cfg is not None and (
                        stop or time.monotonic() - last_cfg_upload > BEST_CONFIG_EVERY_S):
                    try:
                        self.layout.upload_best(best_cfg)
                    except Exception as e:  # the artifact store, not the tracking server: no outage
                        self._errors += 1
                        log.warning("MLflow could not store best_config.yaml: %s", _why(e))
                    best_cfg, last_cfg_upload = None, time.monotonic()
            if self._errors:
                self._results.put(("errors", self._errors))
            down = self._down_since is not None
            if down != self._said_down:  # the tracker stops handing out run hooks while MLflow is down
                self._results.put(("down", down))
                self._said_down = down
            if stop:
                return

    def _failed(self, what: str, e: BaseException) -> None:
        """A write failed: MLflow is down from now until a probe finds it back."""
        self._errors += 1
        if self._down_since is None:
            log.warning("MLflow write failed (%s): %s; trials go on, the study keeps every result", what, _why(e))
        self._down_since = self._last_probe = time.monotonic()

    def _barrier(self) -> None:
        """Wait for the runs' writes; their failures (and the writes dropped after them) count here,
        as if they had been written inline."""
        outcome = self._writes.wait()
        for what, e in outcome.failed:
            self._failed(what, e)
        self._errors += outcome.dropped
        fast = self.layout.fast  # the barrier runs only once the loop has its layout
        staged = fast.staged if fast is not None else 0
        if not staged:
            return
        try:  # a SQLite store: the runs' writes were staged, and go in one transaction now
            self._errors += fast.flush().refused  # writes to runs deleted meanwhile: not an outage
        except Exception as e:
            self._failed("run writes", e)
            self._errors += staged - 1  # as if written one by one: the first failed, the rest dropped

    def _parent_update(self, metrics: list[Any], tags: dict[str, str], describe: bool = True) -> None:
        """The drain's parent update in one call: the best-value history, the `best.*` tags and, if
        the best moved, the description; and `trial.best` moved to the new best's run (once per
        drain, however many new bests it had). After a barrier: the best's run id is known."""
        note_md = None
        if self._best_moved and self.best is not None:
            self.best.run_id = self.layout.runs.get(self.best.number)
            self.layout.mark_best(self.best.number, self._tagged_best)
            self._tagged_best = self.best.run_id
            if describe:
                note_md = note(self.spec, self.layout.experiment_id, self.best, self.finished)
            self._best_moved = False
        self.layout.parent_update(metrics, tags, note_md)

    def _probe(self) -> bool:
        """While MLflow is down, try it again every PROBE_S rather than on every queued write."""
        if time.monotonic() - self._last_probe < PROBE_S:
            return False
        self._last_probe = time.monotonic()
        try:
            self.layout.ping()
        except Exception:
            return False
        log.warning("MLflow is back after %.0f s; `sweep sync %s` fills in what it missed",
                    time.monotonic() - (self._down_since or 0), self.spec.name)
        self._down_since = None
        return True

    def wait_opener(self, timeout: float = 30.0) -> None:
        """Let the opener finish the request it is on (the tracker closed its channel before the
        loop's stop, so it is at its end), rather than cut it off mid-transaction."""
        if self._opener is not None:
            self._opener.join(timeout)

    def _open_runs(self) -> None:
        """The opener thread: trial runs, created as the driver places trials, ahead of the queue."""
        while True:
            op: OpenRun | None = self._opens.get()
            if op is None:
                return
            run_id = None
            try:
                with self._open_lock:
                    if op.number not in self._settled:
                        if unreachable(self.uri):  # a TCP connect, not MLflow's minutes of retries
                            raise ConnectionError(f"MLflow at {self.uri} does not answer")
                        # against a server the params are a request of their own: the loop sends
                        # them (with the trial's first metrics, or at its drain's end) rather than
                        # the driver waiting for a second round trip before it places the trial
                        run_id = self._made[op.number] = self.layout.create_trial_run(
                            op.number, op.tags, op.ts, None if self._remote else op.params)
            except Exception as e:  # the loop creates the run itself, and meets the outage there
                log.debug("could not open the run of trial %s: %s", op.number, _why(e))
            self._opened.put((op.number, run_id))

    def _ensure_run(self, started: TrialStarted | None) -> None:
        """A trial that has no run yet (its worker did not start it in one, or has not said so yet;
        `started`: what the loop took from `_awaiting` for it): the run the opener created for it,
        one an earlier writer created, or a new one from when the trial was placed; never a second
        one beside it. One of the trial's writes (RunWrites): before the rest of them."""
        if started is None:
            return
        number = started.number
        with self._open_lock:
            self._settled.add(number)
            found = self._made.pop(number, None)
        found = found or self.layout.find_trial_run(number)
        if found is not None:
            self.layout.adopt(number, found)
        else:
            self.layout.trial_started(number, started.tags, started.ts)

    # --- operations, as queued by MlflowTracker ------------------------------------------------
    def apply(self, op: Op) -> None:
        """One operation: a trial run's writes are submitted to RunWrites (the loop keeps the
        bookkeeping, the writes read `layout.runs` when they run, after the run's earlier writes);
        the rest are written here, after a barrier."""
        layout = self.layout
        if isinstance(op, SweepStarted):
            layout.sweep_started(op.settings, op.command)
        elif isinstance(op, SweepTags):
            layout.sweep_tags(op.tags)
        elif isinstance(op, TrialStarted):
            if op.hooked:
                self._awaiting[op.number] = op
            else:
                self._writes.submit(op.number, "TrialStarted", lambda: layout.trial_started(op.number, op.tags, op.ts))
            self._pending_params[op.number] = param_list(op.params)
        elif isinstance(op, RunOpened):
            started = self._awaiting.pop(op.number, None)
            adopted = op.run_id if started is not None else None
            if adopted is not None:
                with self._open_lock:
                    self._made.pop(op.number, None)
                if not self._remote:
                    self._pending_params.pop(op.number, None)  # the opener logged them with the run

            def opened() -> None:
                if adopted is not None:
                    layout.adopt(op.number, adopted)
                else:
                    self._ensure_run(started)
                if op.tags and op.number in layout.runs:
                    layout.log(op.number, tags=op.tags)
            self._writes.submit(op.number, "RunOpened", opened)
        elif isinstance(op, TrialMetrics):
            reported = self._awaiting.pop(op.number, None)
            params = self._pending_params.pop(op.number, [])
            metrics = [metric(k, v, op.ts, op.step) for k, v in op.metrics.items()]

            def log_metrics() -> None:
                self._ensure_run(reported)
                if op.number in layout.runs:  # else its creation was dropped: `sweep sync` makes it
                    layout.log(op.number, metrics=metrics, params=params)
            self._writes.submit(op.number, "TrialMetrics", log_metrics)
        elif isinstance(op, SweepReport):
            layout.log_report(op.files, [metric(k, v, int(time.time() * 1000), 0) for k, v in op.metrics.items()])
        elif isinstance(op, TrialEnded):
            self._end_run(op)
        elif isinstance(op, Sync):
            sync(layout, op.records)
        elif isinstance(op, FrontMarked):
            layout.mark_front(op.numbers)
        else:
            raise TypeError(f"unknown MLflow operation {op!r}")

    def _end_run(self, op: TrialEnded) -> None:
        """A trial's end: its run (found or made if it has none), its last metrics, tags and status.
        A trial with no run (it never started, or its run's creation was dropped) is left alone."""
        layout = self.layout
        started = self._awaiting.pop(op.number, None)
        params = self._pending_params.pop(op.number, [])
        metrics = [metric(k, v, op.ts, op.step) for k, v in op.metrics.items()]

        def end() -> None:
            self._ensure_run(started)
            if op.number in layout.runs:
                layout.trial_finished(op.number, op.status, metrics, params, op.tags, op.out_dir, op.ts)
        self._writes.submit(op.number, "TrialEnded", end)

    def _flush_params(self) -> None:
        """After a barrier: the params of trials that got a run but no metrics yet."""
        layout = self.layout
        for number in list(self._pending_params):
            if number in layout.runs:  # a trial whose run is being opened keeps its params until then
                params = self._pending_params.pop(number)
                self._writes.submit(number, "params", lambda n=number, ps=params: layout.log(n, params=ps))
        self._barrier()
