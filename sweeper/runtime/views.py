"""A trial's views, opened by its worker before the trial's code runs.

A tracker that wants the trial's own logging to land in its view (MLflow: a trial calling
`mlflow.start_run()` as every tutorial does) gives the task a `ViewHook`. The worker calls it
here, where the trial runs, so the view exists, with the trial's true start time, before user
code starts; the trial gets the hook's environment; the references go back to the driver on the
trial channel before any report. A hook that fails costs the view, never the trial: its
reference is None and the tracker opens the view itself.

The worker knows hooks only as "module:function" targets (like trial functions), so the runtime
imports no tracker.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Protocol

from ..messages import Task, ViewHook


class OpenedView(Protocol):
    env: dict[str, str]  # what the trial's environment gets
    ref: str | None  # what the tracker is told (MLflow: the run id)
    tags: dict[str, str]  # what the worker learnt of where the trial runs (its GPUs), for the view

    def close(self) -> None:
        """The trial ended: leave nothing open in a worker that runs the next trial."""


def _call(hook: ViewHook, number: int) -> OpenedView:
    module_name, _, attr = hook.target.partition(":")
    fn: Any = getattr(importlib.import_module(module_name), attr)
    return fn(number, **hook.args)


class Views:
    """The views of one trial: `open` before it runs, `close` after, whatever happened."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.opened: list[OpenedView] = []
        self.refs: dict[str, str | None] = {}
        self.env: dict[str, str] = {}
        self.tags: dict[str, str] = {}

    def open(self) -> None:
        for hook in self.task.views:
            try:
                view = _call(hook, self.task.number)
            except Exception as e:  # the view is the tracker's business: the trial runs anyway
                print(f"sweeper: could not open the {hook.tracker} view of trial {self.task.number}: "
                      f"{type(e).__name__}: {' '.join(str(e).split())[:300]}", file=sys.stderr, flush=True)
                self.refs[hook.tracker] = None
                continue
            self.opened.append(view)
            self.refs[hook.tracker] = view.ref
            self.env.update(view.env)
            self.tags.update(getattr(view, "tags", {}))

    def close(self) -> None:
        for view in self.opened:
            try:
                view.close()
            except Exception as e:
                print(f"sweeper: closing a view of trial {self.task.number} failed: {type(e).__name__}: {e}",
                      file=sys.stderr, flush=True)
        self.opened = []
