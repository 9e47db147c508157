"""The trial's side of the report channel: `report`, `checkpoint_dir`, `TrialPruned`.

Imported inside trial processes (function trials in a worker, and command trials that import
sweeper), so it imports nothing heavy. The process learns which trial it is from its environment:
a function trial gets an in-process channel from the worker; a command trial gets two pipe file
descriptors in `SWEEPER_REPORT_FD` and talks JSON lines over them.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Protocol


class TrialPruned(Exception):
    """Raised by `report` when the early-stop policy stops this trial; let it propagate."""


class _Channel(Protocol):
    def report(self, step: int, metrics: dict[str, float]) -> bool: ...


_channel: _Channel | None = None
_last_step: int = -1


class _FdChannel:
    """A command trial's channel: one JSON line out, one decision line back."""

    def __init__(self, spec: str) -> None:
        w, r = (int(x) for x in spec.split(","))
        self._out = os.fdopen(w, "w", buffering=1)
        self._in = os.fdopen(r, "r")

    def report(self, step: int, metrics: dict[str, float]) -> bool:
        self._out.write(json.dumps({"step": step, "metrics": metrics}) + "\n")
        self._out.flush()
        return self._in.readline().strip() == "prune"


def _set_channel(channel: _Channel | None) -> None:
    global _channel, _last_step
    _channel, _last_step = channel, -1


def _get_channel() -> _Channel | None:
    global _channel
    if _channel is None and os.environ.get("SWEEPER_REPORT_FD"):
        _channel = _FdChannel(os.environ.pop("SWEEPER_REPORT_FD"))
    return _channel


def report(step: int | None = None, **metrics: Any) -> None:
    """Record intermediate metrics at `step` (default: the previous step + 1).

    Every metric is logged to the trial's MLflow run at that step; the objective's metric also
    goes to the study, where the early-stop policy sees it. Raises TrialPruned when the policy
    says stop. Outside a sweep it does nothing, so training code runs unchanged on its own.
    """
    global _last_step
    if step is None:
        step = _last_step + 1
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise TypeError(f"sweeper.report: step must be an integer >= 0, got {step!r}")
    clean: dict[str, float] = {}
    for k, v in metrics.items():
        try:
            clean[k] = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"sweeper.report: metric {k!r} must be a number, got {v!r}") from None
    _last_step = step
    channel = _get_channel()
    if channel is not None and channel.report(step, clean):
        raise TrialPruned(f"pruned at step {step}")


def trial_number() -> int | None:
    """This trial's number in the sweep, or None outside a sweep."""
    n = os.environ.get("SWEEPER_TRIAL")
    return int(n) if n else None


def checkpoint_dir() -> str:
    """A directory of this trial's own that survives its retries: save checkpoints here.

    A retried trial (after a crash or a killed sweep) gets the same directory back, so it can
    continue from its last checkpoint. Outside a sweep, a fresh temporary directory.
    """
    path = os.environ.get("SWEEPER_CHECKPOINT_DIR") or tempfile.mkdtemp(prefix="sweeper-ckpt-")
    os.makedirs(path, exist_ok=True)
    return path
