"""What the user sees while a sweep runs: a live panel on a terminal, plain log lines otherwise.

Both views take the driver's reports (`ProgressView` in driver/loop.py) on the driver's thread and
keep their own tally; the live panel is redrawn ~4 times a second by rich's refresh thread, so every
state change and every render happens under one lock.

Optional reports beyond the protocol, which the driver may call when it has them:
  trial_reported(number, step, value)  the last intermediate value of a running trial
  closing(what)                        what the sweep waits on after the last trial ("writing MLflow...")
  counts(complete, pruned, failed)     the driver's own totals, which win over the view's tally
  budget(spent)                        spent/total of each budget ({"steps": "41/60"}), once a second
  slots(available, asked)              trials the backend runs at once, against the workers asked
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ..redact import mask

#: running trials listed in the live panel; the rest are summed up in one row
MAX_RUNNING_ROWS = 8
#: failures listed in the live panel, newest last
MAX_FAILURES = 3
INTERRUPTED = "interrupted"


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _value(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _params(params: dict[str, Any] | None) -> str:
    return mask(", ".join(f"{k}={_value(v)}" for k, v in (params or {}).items()))


def _first_line(error: str | None, limit: int = 200) -> str:
    """An error on one line: its first line, and its last one when they differ (a traceback's
    exception, a command's last line of stderr)."""
    lines = [ln.strip() for ln in (error or "").splitlines() if ln.strip()]
    if not lines:
        return ""
    text = mask(lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}")  # masked before it is cut
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class _Trial:
    params: dict[str, Any]
    started: float
    step: int | None = None
    value: float | None = None


class Progress:
    """Plain lines: one per finished trial, so logs and CI output stay readable.

    `[name] trial N STATE detail | done F/T, running R, failed X, best METRIC=V (trial K)`"""

    def __init__(self, name: str, metric: str, stream: TextIO | None = None, *, goal: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.metric, self.goal = name, metric, goal
        self.stream = stream or sys.stdout
        self.clock = clock
        self.lock = threading.RLock()
        self.started = False  # start() was called
        self.target = 0
        self.complete = self.pruned = self.failed = 0
        self.best: float | None = None
        self.best_number: int | None = None
        self.best_params: dict[str, Any] | None = None
        self.best_params_number: int | None = None  # whose params best_params are
        self.front_size: int | None = None  # several objectives: trials on the Pareto front
        self.any_started = False  # a trial was started in this run
        self.running: dict[int, _Trial] = {}  # started and not finished, by trial number
        self.ended: set[int] = set()  # finished in this run: a second report of one is ignored
        self.spent: dict[str, str] = {}  # spent/total of each budget, as the driver last said
        self.available = self.asked = 0  # trials the backend runs at once / workers asked (0: not said)
        self.failures: deque[tuple[int, str]] = deque(maxlen=MAX_FAILURES)
        self.session_finished = 0  # finished in this run (the rate ignores a resumed sweep's earlier trials)
        self.t0 = clock()  # start() resets it: elapsed and rate count from the first trial asked
        self.t_end: float | None = None
        self.t_last_finish: float | None = None
        self.closing_what: str | None = None

    # --- the tally -----------------------------------------------------------------------------
    @property
    def done(self) -> int:
        """Finished and not failed (complete or pruned)."""
        return self.complete + self.pruned

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def n_running(self) -> int:
        return len(self.running)

    # --- the ProgressView protocol -------------------------------------------------------------
    def start(self, target: int, finished: int, failed: int, best: float | None, best_number: int | None) -> None:
        with self.lock:
            self.started = True
            self.target = max(0, target or 0)
            # a resumed sweep's earlier trials: the driver does not tell pruned from complete here
            # (counts() does); finishes reported before start() are already in the study's numbers
            self.complete, self.pruned, self.failed = max(0, finished - failed), 0, failed
            self.best, self.best_number = best, best_number
            if self.best_params is not None and self.best_params_number != best_number:
                self.best_params = None
            self.t0 = self.clock()
            self.session_finished = 0
        if finished:
            of = f"/{target}" if target else ""
            self.line(f"resuming {self.name}: {finished}{of} trials already finished")
        self.changed()

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        with self.lock:
            self.any_started = True
            if number not in self.ended:
                self.running[number] = _Trial(dict(params), self.clock())
        self.changed()

    def trial_reported(self, number: int, step: int, value: float | None) -> None:
        """Optional: the last step a running trial reported, and its value of the objective metric."""
        with self.lock:
            t = self.running.get(number)
            if t is not None:
                t.step = step
                if value is not None:
                    t.value = value
        self.changed()

    def trial_finished(self, number: int, state: str, value: float | None, best: float | None,
                       best_number: int | None, error: str | None = None) -> None:
        with self.lock:
            if number in self.ended:  # reported twice: counted once
                return
            self.ended.add(number)
            trial = self.running.pop(number, None)
            self.best, self.best_number = best, best_number
            if best_number == number and trial is not None:
                self.best_params, self.best_params_number = trial.params, number
            interrupted = state == "FAIL" and error == INTERRUPTED
            if state == "FAIL":
                if not interrupted:
                    self.failed += 1
                    self.failures.append((number, _first_line(error) or "failed"))
            elif state == "PRUNED":
                self.pruned += 1
            else:
                self.complete += 1
            if not interrupted:
                self.session_finished += 1
                self.t_last_finish = self.clock()
            if state == "COMPLETE":
                detail = f"{self.metric}={_fmt(value)}"
            elif state == "PRUNED":
                detail = "" if trial is None or trial.step is None else (
                    f"at step {trial.step}" + ("" if trial.value is None else f" {self.metric}={_fmt(trial.value)}"))
            else:
                detail = _first_line(error)
        self.on_finished(number, state, detail)

    def tick(self, running: int) -> None:
        # the driver's count is authoritative about "none": a trial whose end was never reported
        # must not stay on screen forever
        if running == 0:
            with self.lock:
                self.running.clear()
        self.changed()

    def closing(self, what: str) -> None:
        """Optional: the sweep is past its last trial and waits on `what` (e.g. "writing MLflow...")."""
        with self.lock:
            self.closing_what = what
        self.line(f"[{self.name}] {what}")
        self.changed()

    def counts(self, complete: int, pruned: int, failed: int) -> None:
        """Optional: the driver's totals (this run and earlier ones); they replace the view's tally."""
        with self.lock:
            self.complete, self.pruned, self.failed = complete, pruned, failed
        self.changed()

    def budget(self, spent: dict[str, str]) -> None:
        """Optional: spent/total of each budget, shown under the counts (the plain view: at each end)."""
        with self.lock:
            self.spent = dict(spent)
        self.changed()

    def slots(self, available: int, asked: int) -> None:
        """Optional: how many trials run at once (the panel shows busy/available slots)."""
        with self.lock:
            self.available, self.asked = available, asked
        self.changed()

    def front(self, size: int) -> None:
        """Optional, several objectives: the Pareto front's size, beside the first objective's best."""
        with self.lock:
            self.front_size = size
        self.changed()

    def stop(self) -> None:
        with self.lock:
            if self.t_end is None:
                self.t_end = self.clock()
            self.closing_what = None

    # --- output --------------------------------------------------------------------------------
    def line(self, text: str) -> None:
        print(mask(text), file=self.stream, flush=True)

    def changed(self) -> None:
        """The state changed: a live view redraws (the plain view prints only finished trials)."""

    def on_finished(self, number: int, state: str, detail: str) -> None:
        with self.lock:
            of = f"/{self.target}" if self.target else ""
            summary = (f" | done {self.finished}{of}, running {self.n_running}, failed {self.failed}"
                       f", best {self.metric}={_fmt(self.best)}"
                       + (f" (trial {self.best_number})" if self.best_number is not None else "")
                       + (f", front {self.front_size}" if self.front_size is not None else "")
                       + "".join(f", {k} {v}" for k, v in self.spent.items()))
        self.line(f"[{self.name}] trial {number} {state} {detail}".rstrip() + summary)


class LiveProgress(Progress):
    """A rich live panel (only on a terminal): bar, rate, ETA, counts, best, running trials, failures."""

    def __init__(self, name: str, metric: str, *, goal: str | None = None, console: Any = None,
                 clock: Callable[[], float] = time.monotonic, auto_refresh: bool = True,
                 refresh_per_second: float = 4) -> None:
        super().__init__(name, metric, goal=goal, clock=clock)
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self._spin: Any = None
        self.auto_refresh = auto_refresh
        self.live = Live(console=self.console, auto_refresh=auto_refresh, refresh_per_second=refresh_per_second,
                         transient=False, get_renderable=self.render)
        self.live.start()
        self._stopped = False

    def line(self, text: str) -> None:
        from rich.text import Text

        self.console.print(Text(mask(text)), highlight=False)

    def changed(self) -> None:
        if not self.auto_refresh and not self._stopped:
            self.live.refresh()

    def on_finished(self, number: int, state: str, detail: str) -> None:
        # the panel lists the last few failures; a line above it keeps every one on screen
        if state == "FAIL" and detail != INTERRUPTED:
            self.line(f"trial {number} {state} {detail}".rstrip())
        self.changed()

    def closing(self, what: str) -> None:
        with self.lock:
            self.closing_what = what  # shown in the panel until stop(): no line above it
        self.changed()

    def stop(self) -> None:
        super().stop()
        if self._stopped:
            return
        self._stopped = True
        self.live.refresh()
        self.live.stop()

    # --- the panel ----------------------------------------------------------------------------
    def render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        with self.lock:
            title = Text(mask(self.name), style="bold")
            title.append("  " + " ".join(p for p in (self.goal, self.metric) if p), style="")
            if not self.started:
                body: list[Any] = [self._spinner("starting…")]
            else:
                body = [self._bar(), self._counts(), self._best()]
                if self.spent:
                    body.append(Text("budget  " + ", ".join(f"{k} {v}" for k, v in self.spent.items()), style="dim"))
                if not self.any_started and self.closing_what is None and self.t_end is None:
                    body += [self._spinner("waiting for the first trial to start…")]
                if self.running:
                    body += [Text(""), self._running_table()]
                if self.failures:
                    body += [Text(""), self._failures()]
                if self.closing_what is not None:
                    body += [Text(""), self._spinner(mask(self.closing_what))]
            return Panel(Group(*body), title=title, title_align="left", border_style="blue", expand=True)

    def _spinner(self, text: str) -> Any:
        """The panel's one spinner (starting, waiting, closing: never two at once); the same object
        from frame to frame, or it would never turn."""
        from rich.spinner import Spinner
        from rich.text import Text

        if self._spin is None:
            self._spin = Spinner("dots", style="cyan")
        self._spin.update(text=Text(text))
        return self._spin

    def _now(self) -> float:
        return self.t_end if self.t_end is not None else self.clock()

    @property
    def _width(self) -> int:
        """The width every count is padded to, so columns never move as the numbers grow."""
        return max(len(str(self.target)), 3) if self.target else 5

    def _bar(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        elapsed = self._now() - self.t0
        finished, w = self.finished, self._width
        # once the budget is met the rate holds still: waiting on the workers and MLflow is no slower trials
        until = self.t_last_finish if self.target and finished >= self.target and self.t_last_finish else self._now()
        rate = (self.session_finished / (until - self.t0) * 60
                if until > self.t0 and self.session_finished else None)
        if self.target:
            left = max(0, self.target - finished)
            eta = 0.0 if not left else (left / rate * 60 if rate else None)
            stats = f"{finished:>{w}}/{self.target}  {min(100, 100 * finished // self.target):>3}%"
        else:
            eta = None
            stats = f"{finished:>{w}} finished"
        stats += f"  elapsed {_hms(elapsed)}  {'-' if rate is None else f'{rate:.1f}':>6} trials/min  ETA {_hms(eta)}"
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        bar_width = max(10, min(40, self.console.width // 4))
        bar = ProgressBar(total=self.target or None, completed=min(finished, self.target) if self.target else 0,
                          width=bar_width, pulse=not self.target and self.t_end is None)
        grid.add_row(bar, stats)
        return grid

    def _counts(self) -> Any:
        from rich.text import Text

        w = self._width
        t = Text(no_wrap=True)
        for label, n, style in (("complete", self.complete, "green"), ("pruned", self.pruned, "yellow"),
                                ("failed", self.failed, "red"), ("running", self.n_running, "cyan")):
            if label != "complete":
                t.append("   ")
            t.append(f"{label} ", style="dim")
            t.append(f"{n:>{w}}", style=style if n else "")
        if self.available:  # busy/available slots; fewer than the workers asked says so
            t.append(f"/{self.available} slots", style="dim")
            if self.asked > self.available:
                t.append(f" (workers={self.asked})", style="yellow")
        return t

    def _best(self) -> Any:
        from rich.text import Text

        t = Text()
        t.append(f"best {mask(self.metric)} ", style="dim")
        if self.best is None:
            t.append("-")
            return t
        t.append(f"{_fmt(self.best):<12}", style="bold green")
        if self.best_number is not None:
            t.append(f" trial {self.best_number}")
            if self.front_size is not None:
                t.append(f"  Pareto front {self.front_size} trial{'s' if self.front_size != 1 else ''}",
                         style="bold")
            elif self.best_params is not None and self.best_params_number == self.best_number:
                t.append("  " + _params(self.best_params))
        return t

    def _running_table(self) -> Any:
        from rich.table import Table

        now = self._now()
        table = Table(box=None, pad_edge=False, show_edge=False, expand=True, header_style="dim",
                      padding=(0, 1))
        table.add_column("trial", justify="right", no_wrap=True)
        table.add_column("params", ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column("running", justify="right", no_wrap=True)
        table.add_column("step", justify="right", no_wrap=True)
        table.add_column(mask(self.metric), justify="right", no_wrap=True)
        numbers = sorted(self.running)
        for n in numbers[:MAX_RUNNING_ROWS]:
            t = self.running[n]
            table.add_row(str(n), _params(t.params), f"{max(0, int(now - t.started))} s",
                          "-" if t.step is None else str(t.step), _fmt(t.value))
        if len(numbers) > MAX_RUNNING_ROWS:
            table.add_row("", f"… and {len(numbers) - MAX_RUNNING_ROWS} more", "", "", "")
        return table

    def _failures(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True, style="red")
        table.add_column(justify="right", no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        for i, (n, err) in enumerate(self.failures):
            table.add_row("failed" if i == 0 else "", f"trial {n}", err)
        return table


def make(name: str, metric: str, *, goal: str | None = None, stream: TextIO | None = None,
         console: Any = None, clock: Callable[[], float] = time.monotonic) -> Progress:
    """The live panel on a terminal (or on `console`), plain lines otherwise (or to `stream`)."""
    if console is not None or (stream is None and sys.stdout.isatty()):
        return LiveProgress(name, metric, goal=goal, console=console, clock=clock)
    return Progress(name, metric, stream, goal=goal, clock=clock)
