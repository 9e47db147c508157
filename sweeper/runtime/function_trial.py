"""A function trial: `module:callable` called in the worker process with the trial's config.

Its `sweeper.report` calls reach the driver through the worker's link; what it returns (a number,
or a dict of metrics) is its result. Raising `sweeper.TrialPruned` or `optuna.TrialPruned` ends it
as pruned; any other exception, `SystemExit` included, as failed with the error.
"""

from __future__ import annotations

import importlib
import os
import traceback
from typing import Any

from .. import reporting
from ..messages import COMPLETE, FAIL, PRUNED, Task, TrialOutcome
from .link import Link
from .logs import Redirect
from .trial_config import compose_config, hydra_config, needs_hydra_config


def resolve_function(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj


def check_function(target: str) -> str | None:
    """Import the trial function once before the sweep starts: a typo fails at launch, not per trial."""
    module_name = target.partition(":")[0]
    try:
        resolve_function(target)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            return f"cannot import module {module_name!r} (not found from {os.getcwd()})"
        return f"importing {module_name!r} failed: {type(e).__name__}: {e}"
    except AttributeError:
        return f"module {module_name!r} has no attribute {target.partition(':')[2]!r}"
    except Exception as e:
        return f"importing {module_name!r} failed: {type(e).__name__}: {e}"
    return None


def metrics_of(ret: Any, metrics: tuple[str, ...]) -> dict[str, float]:
    """A trial's return value as metrics: a dict as it is, a bare number as the first objective, a
    tuple or list (a Hydra task's several objectives) as the objectives in order."""
    if ret is None:
        return {}
    if isinstance(ret, (tuple, list)):
        if len(ret) != len(metrics):
            raise ValueError(f"the trial returned {len(ret)} values for {len(metrics)} objectives ({', '.join(metrics)})")
        try:
            return {m: float(v) for m, v in zip(metrics, ret, strict=True)}
        except (TypeError, ValueError):
            raise TypeError(f"the trial returned a non-numeric value among {ret!r}") from None
    if isinstance(ret, dict):
        out = {}
        for k, v in ret.items():
            try:
                out[str(k)] = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"the trial returned a non-numeric metric {k!r}: {v!r}") from None
        return out
    try:
        return {metrics[0]: float(ret)}
    except (TypeError, ValueError):
        raise TypeError(f"the trial must return a number or a dict of metrics, got {type(ret).__name__}") from None


def is_pruned_signal(e: BaseException) -> bool:
    """`sweeper.TrialPruned`, or Optuna's own (checked by name: the worker does not import Optuna for it)."""
    if isinstance(e, reporting.TrialPruned):
        return True
    return any(c.__name__ == "TrialPruned" and c.__module__.startswith("optuna") for c in type(e).__mro__)


class _FunctionChannel:
    """The trial's `sweeper.report` → the worker's link, remembering the last report."""

    def __init__(self, link: Link, task: Task, state: dict[str, Any]) -> None:
        self.link, self.task, self.state = link, task, state

    def report(self, step: int, metrics: dict[str, float]) -> bool:
        self.state["last_step"], self.state["last_metrics"] = step, metrics
        prune = self.link.report(self.task.number, step, metrics, self.task.wait_decision)
        if prune:
            self.state["pruned"] = True
        return prune


def _call(task: Task) -> tuple[Any, str]:
    """Call the trial: a Hydra job as Hydra runs it, or the function with its composed config."""
    if task.hydra_job is not None:
        from .hydra_job import call

        return call(task.hydra_job)
    from omegaconf import OmegaConf

    assert task.function is not None
    cfg = compose_config(task.params, task.config_path)
    config_yaml = OmegaConf.to_yaml(cfg)
    function = resolve_function(task.function)
    if needs_hydra_config(function, config_yaml):  # a @hydra.main app: HydraConfig as its job would see it
        with hydra_config(task.function.partition(":")[0].rsplit(".", 1)[-1], task.number, task.out_dir):
            return function(cfg), config_yaml
    return function(cfg), config_yaml


def run_function(link: Link, task: Task) -> TrialOutcome:
    assert task.function is not None
    state: dict[str, Any] = {"last_step": None, "last_metrics": {}, "pruned": False}
    out = TrialOutcome(state=COMPLETE)
    before = {k: os.environ.get(k) for k in task.env}  # the worker's own values come back after the trial
    os.environ.update(task.env)
    reporting._set_channel(_FunctionChannel(link, task, state))
    try:
        with Redirect(task.out_dir, task.log_limit):  # bounded: stdout.txt/stderr.txt keep head + tail
            try:
                ret, out.config_yaml = _call(task)
                out.metrics = metrics_of(ret, task.metrics) or dict(state["last_metrics"])
            except BaseException as e:  # noqa: BLE001 - SystemExit from user code is a failure too
                if is_pruned_signal(e) or state["pruned"]:
                    out.state = PRUNED
                else:
                    traceback.print_exc()
                    out.state = FAIL
                    out.error = f"{type(e).__name__}: {e}".strip()
    finally:
        reporting._set_channel(None)
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out.last_step = state["last_step"]
    return out
