"""What the user sees while a sweep runs: a live panel on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ..redact import mask


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


class Progress:
    """Plain lines: one per finished trial, so logs and CI output stay readable."""

    def __init__(self, name: str, metric: str, stream: TextIO | None = None) -> None:
        self.name, self.metric = name, metric
        self.stream = stream or sys.stdout
        self.target = 0
        self.done = self.failed = self.pruned = self.running = 0
        self.best: float | None = None
        self.best_number: int | None = None
        self.t0 = time.monotonic()

    def start(self, target: int, finished: int, failed: int, best: float | None, best_number: int | None) -> None:
        self.target, self.done, self.failed = target, finished - failed, failed
        self.best, self.best_number = best, best_number
        if finished:
            self.line(f"resuming {self.name}: {finished}/{target} trials already finished")

    def line(self, text: str) -> None:
        print(mask(text), file=self.stream, flush=True)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.running += 1

    def trial_finished(self, number: int, state: str, value: float | None, best: float | None,
                       best_number: int | None, error: str | None = None) -> None:
        self.running = max(0, self.running - 1)
        self.best, self.best_number = best, best_number
        if state == "FAIL":
            self.failed += 0 if error == "interrupted" else 1
        else:
            self.done += 1
            self.pruned += state == "PRUNED"
        if state == "COMPLETE":
            detail = f"{self.metric}={_fmt(value)}"
        else:
            detail = (error or "").splitlines()[0][:200] if error else ""
        self.on_finished(number, state, detail)

    def on_finished(self, number: int, state: str, detail: str) -> None:
        self.line(f"[{self.name}] trial {number} {state} {detail}".rstrip()
                  + f" | done {self.done + self.failed}/{self.target}, running {self.running}, failed {self.failed}"
                  + f", best {self.metric}={_fmt(self.best)}" + (f" (trial {self.best_number})" if self.best_number is not None else ""))

    def tick(self, running: int) -> None:
        self.running = running

    def stop(self) -> None:
        pass


class LiveProgress(Progress):
    """A rich live panel (only on a terminal): counts, best so far, rate."""

    def __init__(self, name: str, metric: str) -> None:
        super().__init__(name, metric)
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def _render(self) -> Any:
        from rich.table import Table

        t = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - self.t0
        finished = self.done + self.failed
        t.add_row(f"[bold]{self.name}[/]", f"done {finished}/{self.target}", f"running {self.running}",
                  f"pruned {self.pruned}", f"failed {self.failed}", f"{elapsed:.0f} s")
        best = f"best {self.metric} = {_fmt(self.best)}" + (f"  (trial {self.best_number})" if self.best_number is not None else "")
        t.add_row(best)
        return t

    def line(self, text: str) -> None:
        self.console.print(mask(text), highlight=False)

    def on_finished(self, number: int, state: str, detail: str) -> None:
        if state != "COMPLETE":
            self.line(f"trial {number} {state} {detail}".rstrip())
        self.live.update(self._render())

    def tick(self, running: int) -> None:
        self.running = running
        self.live.update(self._render())

    def stop(self) -> None:
        self.live.update(self._render())
        self.live.stop()


def make(name: str, metric: str) -> Progress:
    if sys.stdout.isatty():
        return LiveProgress(name, metric)
    return Progress(name, metric)
