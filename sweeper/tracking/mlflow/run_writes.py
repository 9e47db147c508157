"""Trial runs' writes, in order per run, on a few threads when MLflow is a server (the writer's pool).

Against `mlflow server` every write is an HTTP request that the server answers as a transaction of
its own. Sent one after another by one thread, each waits for the last one's round trip, and the
server (several uvicorn workers by default, each serving requests on threads) idles in between:
a few requests in flight keep it busy. Against an embedded store (SQLite) the writes are MLflow's
Python on the writer's own GIL and commits that serialize on the file's lock: threads would only
contend, so there the writes run inline, in the loop's thread, as they always did.

A run's writes keep their order: every write of trial N goes to thread N modulo the pool's size,
which does them in the order they were submitted (a run is created, then logged to, then ended).
Writes of different runs interleave. `wait` is the barrier the writer's loop puts before anything
that reads what the runs' writes made (the run ids) and at the end of each drain.

Nothing is retried. Once a write fails, MLflow is taken to be down: the writes not yet started are
dropped and counted, and `wait` hands the failures to the writer's outage loop, which probes MLflow
and lets `sweep sync` rebuild from the study whatever was dropped, as with an inline write.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

SERVER_THREADS = 8  # requests in flight against a server: its default 4 workers, each with one waiting


def pool_size(uri: str) -> int:
    """Threads for the run writes to `uri`: SERVER_THREADS for a tracking server, 0 (inline) else."""
    return SERVER_THREADS if uri.startswith(("http://", "https://")) else 0


@dataclass
class Outcome:
    """What `wait` found since the last barrier: the writes that failed (what, the error), in the
    order they failed, and how many were dropped after the first failure without being tried."""

    failed: list[tuple[str, BaseException]] = field(default_factory=list)
    dropped: int = 0


class RunWrites:
    """`submit(number, what, write)` runs `write` after every write submitted earlier for trial
    `number`; with 0 threads it runs it at once and its exception reaches the caller."""

    def __init__(self, threads: int) -> None:
        self._queues: list[queue.SimpleQueue[tuple[str, Callable[[], None]] | None]] = [
            queue.SimpleQueue() for _ in range(threads)]
        self._cv = threading.Condition()
        self._pending = 0
        self._outcome = Outcome()
        self._threads = [threading.Thread(target=self._serve, args=(q,), name=f"sweeper-mlflow-runs-{i}", daemon=True)
                         for i, q in enumerate(self._queues)]
        for t in self._threads:
            t.start()

    @property
    def threads(self) -> int:
        return len(self._queues)

    def submit(self, number: int, what: str, write: Callable[[], None]) -> None:
        if not self._queues:
            write()
            return
        with self._cv:
            self._pending += 1
        self._queues[number % len(self._queues)].put((what, write))

    def wait(self) -> Outcome:
        """Block until every submitted write is done (or dropped); what failed since the last wait."""
        with self._cv:
            self._cv.wait_for(lambda: self._pending == 0)
            outcome, self._outcome = self._outcome, Outcome()
        return outcome

    def close(self) -> None:
        """Finish what is submitted, then end the threads."""
        self.wait()
        for q in self._queues:
            q.put(None)
        for t in self._threads:
            t.join()

    def _serve(self, q: queue.SimpleQueue[tuple[str, Callable[[], None]] | None]) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            what, write = item
            with self._cv:
                down = bool(self._outcome.failed)
            error: BaseException | None = None
            if not down:
                try:
                    write()
                except Exception as e:  # MLflow down (or refusing): the writer's loop decides at `wait`
                    error = e
            with self._cv:
                if error is not None:
                    self._outcome.failed.append((what, error))
                elif down:
                    self._outcome.dropped += 1
                self._pending -= 1
                if self._pending == 0:
                    self._cv.notify_all()
