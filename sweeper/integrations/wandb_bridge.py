"""The bridge from the real `wandb` package to sweeper, installed in a W&B trial when it imports wandb.

W&B's offline files are written by a helper process and flushed only at `finish()`, and a killed run
leaves them empty, so they cannot feed early termination. Instead `Run.log` (what `wandb.log` and
`run.log` both call) is wrapped: every committed row goes at once through `sweeper.report`, so the
study's pruner and the trial's MLflow run see it while the program runs. Its step is W&B's iteration
count (rows logged, `_step + 1`), the index W&B's own hyperband counts bands in. When the pruner
says stop, the trial's process group (the program and wandb's helper) is killed, as W&B's agent
kills a stopped run; what was logged is already recorded. At exit the run's summary (each metric's
last value, W&B's `summary`) is printed as the trial's final `SWEEPER_RESULT`.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import signal
import sys
from typing import Any

_state: dict[str, Any] = {"rows": 0, "pending": {}, "summary": {}, "installed": False}


def _numeric(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The loggable numbers of a `wandb.log` dict (nested dicts as `a/b`, W&B's own separator);
    media, tables and strings are W&B's business, not a metric here."""
    out: dict[str, float] = {}
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_numeric(v, f"{name}/"))
        elif isinstance(v, bool):
            continue
        elif isinstance(v, (int, float)) or type(v).__name__ in ("float32", "float64", "int32", "int64"):
            f = float(v)
            if math.isfinite(f):
                out[name] = f
        elif hasattr(v, "item") and getattr(v, "size", None) == 1:
            try:
                out[name] = float(v.item())
            except (TypeError, ValueError):
                pass
    return out


def relay(data: Any, step: int | None, commit: bool | None) -> None:
    """One `wandb.log` call: rows commit as W&B commits them; a committed row is reported."""
    import sweeper

    if isinstance(data, dict):
        _state["pending"].update(_numeric(data))
    if commit is False:
        return
    row, _state["pending"] = _state["pending"], {}
    if not row:
        return
    _state["rows"] += 1
    _state["summary"].update(row)
    try:
        sweeper.report(_state["rows"], **row)
    except sweeper.TrialPruned:
        sys.stdout.flush()
        os.killpg(os.getpgrp(), signal.SIGKILL)


def _final() -> None:
    if _state["pending"]:
        relay({}, None, True)
    if _state["summary"]:
        print("SWEEPER_RESULT " + json.dumps(_state["summary"]), flush=True)


def install(wandb: Any) -> None:
    """Wrap `Run.log` of the imported package; idempotent."""
    if _state["installed"]:
        return
    from wandb.sdk.wandb_run import Run

    original = Run.log

    def log(self: Any, data: Any, step: int | None = None, commit: bool | None = None, *args: Any, **kwargs: Any) -> Any:
        result = original(self, data, step, commit, *args, **kwargs)
        relay(data, step, commit)
        return result

    log.__wrapped__ = original  # type: ignore[attr-defined]
    log.__doc__ = original.__doc__
    Run.log = log  # type: ignore[method-assign]
    atexit.register(_final)
    _state["installed"] = True
