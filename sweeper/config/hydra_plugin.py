"""The Hydra Sweeper plugin's door: a `hydra.sweeper` node written for hydra-optuna-sweeper → a native sweep.

Its keys map onto ours (`study_name` → name, `direction` → objectives, `sampler` → search,
`n_jobs` → workers, `max_failure_rate` → max_failures, `custom_search_space` → search.configure,
`params` plus the command line's overrides → params); sweeper's own keys (early_stop, tracking,
backend, resources, timeout, retries, max_failures, metric) sit under the same node. The result
goes through the one loader like any sweep file. Two readings differ from ours and follow the
Optuna plugin's, so its configs mean what they meant: `range(a, b, step)` includes `b` (Optuna's
distributions are inclusive) except with the grid sampler, which drops it (Python's reading).
Imports only Hydra's override parser; nothing of Optuna.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from .dialects import Dialect

SOURCE = "hydra.sweeper"
#: the sampler classes of hydra-optuna-sweeper's groups (and Optuna 5's others) → our search methods
SAMPLERS = {"TPESampler": "tpe", "RandomSampler": "random", "CmaEsSampler": "cmaes", "GridSampler": "grid",
            "NSGAIISampler": "nsgaii", "NSGAIIISampler": "nsgaiii", "QMCSampler": "qmc", "GPSampler": "gp"}
#: the node's keys that are sweeper's own, passed through as the native keys of the same name
OWN = ("early_stop", "tracking", "backend", "resources", "max_failures", "budget", "constraints", "seed_trials",
       "warm_start")
#: every key the node may hold (beyond Hydra's _target_ and defaults)
KEYS = ("sampler", "direction", "storage", "study_name", "n_trials", "n_jobs", "max_failure_rate", "params",
        "custom_search_space", "metric", "timeout", "retries", *OWN)


#: a native key → the node's key it came from (an error names what the user wrote)
NODE_KEY = {"name": "study_name", "workers": "n_jobs", "search": "sampler", "search.method": "sampler",
            "search.configure": "custom_search_space", "seed": "sampler.seed", "trial.timeout": "timeout",
            "trial.retries": "retries", "objective": "direction", "objective.goal": "direction",
            "objective.metric": "metric"}


def node_error(e: SpecError) -> SpecError:
    """A loader's error about the translated sweep, said in the node's words."""
    key = NODE_KEY.get(e.key, e.key)
    if key.startswith("search."):
        key = "sampler." + key[len("search."):]
    return SpecError(SOURCE, key, e.message)


@dataclass
class Translated:
    """The native config, and the overrides that are not params (`~key` deletes) for every job."""

    native: dict[str, Any]
    job_overrides: list[str] = field(default_factory=list)


def _directions(raw: Any) -> list[str]:
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    out = []
    for d in items:
        name = getattr(d, "name", d)  # hydra-optuna-sweeper's Direction enum, or its name
        if name not in ("minimize", "maximize"):
            raise SpecError(SOURCE, "direction", f"{d!r} is not allowed (allowed: minimize, maximize, or a list of them)")
        out.append(str(name))
    if not out:
        raise SpecError(SOURCE, "direction", "an empty list: give minimize or maximize, or a list of them")
    return out


def _metrics(raw: Any, n: int) -> list[str]:
    """The objectives' metric names: `metric` (sweeper's key) or `objective`, `objective_1`, ..."""
    if raw is None:
        return ["objective"] if n == 1 else [f"objective_{i}" for i in range(n)]
    names = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else None
    if names is None or len(names) != n or not all(isinstance(m, str) and m for m in names):
        raise SpecError(SOURCE, "metric", f"must name {n} metric{'s' if n > 1 else ''} (one per direction), got {raw!r}")
    return names


def _sampler(raw: Any) -> tuple[str, dict[str, Any], int | None]:
    """(method, options, seed) from the sampler node (`_target_` names Optuna's class)."""
    node = dict(raw or {})
    target = str(node.pop("_target_", "optuna.samplers.TPESampler"))
    node.pop("_partial_", None)
    cls = target.rsplit(".", 1)[-1]
    if cls == "raise_motpe_removed" or cls == "MOTPESampler":
        raise SpecError(SOURCE, "sampler", "motpe was removed in Optuna 4: use hydra/sweeper/sampler=tpe (TPE handles "
                        "several objectives)")
    if cls == "BruteForceSampler":  # it calls study.stop() once done, which ask-and-tell cannot take
        raise SpecError(SOURCE, "sampler", "BruteForceSampler is not supported: use the grid sampler, which runs "
                        "every point once")
    if cls not in SAMPLERS:
        raise SpecError(SOURCE, "sampler._target_", f"{target!r} is not a sampler sweeper runs (allowed: "
                        f"{', '.join('optuna.samplers.' + c for c in SAMPLERS)})")
    seed = node.pop("seed", None)
    # unset arguments are Optuna's defaults; constraints_func and friends are code, not config
    options = {k: v for k, v in node.items() if v is not None}
    return SAMPLERS[cls], options, seed


def _num(x: float) -> str:
    return repr(int(x)) if isinstance(x, int) else repr(float(f"{x:.12g}"))


def _param(name: str, expr: Any, grid: bool) -> Any:
    """One `params` entry in our grammar: the Optuna plugin's inclusive `range` made explicit."""
    if not isinstance(expr, str):
        return expr
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import RangeSweep

    try:
        value = OverridesParser.create().parse_override(f"p={expr}").value()
    except Exception:  # noqa: BLE001 - ANTLR's own errors: our parser says it in one line later
        return expr
    if not isinstance(value, RangeSweep) or grid or value.shuffle or getattr(value, "tags", None):
        if isinstance(value, RangeSweep) and value.shuffle:  # the plugin: a categorical of the values
            values = list(range(value.start, value.stop, value.step)) if all(
                isinstance(v, int) for v in (value.start, value.stop, value.step)) else None
            if values is not None:
                return f"choice({', '.join(map(str, values))})"
        return expr
    start, stop, step = value.start, value.stop, value.step
    if step is None or step <= 0 or start is None or stop is None or stop < start:
        return expr  # our parser names what is wrong
    k = math.floor((stop - start) / step + 1e-9)  # Optuna: the last value is start + k * step <= stop
    if all(isinstance(v, int) for v in (start, stop, step)):
        return f"range({start}, {start + k * step + 1}, step={step})"
    return f"range({_num(float(start))}, {_num(start + (k + 0.5) * step)}, step={_num(float(step))})"


def _split_arguments(arguments: list[str]) -> tuple[dict[str, str], list[str]]:
    """The command line's task overrides: key → value (sweeps and plain values alike become params,
    as in the Optuna plugin), and `~key` deletes kept aside for every job."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params: dict[str, str] = {}
    deletes: list[str] = []
    try:
        parsed = OverridesParser.create().parse_overrides(list(arguments))
    except Exception as e:  # noqa: BLE001 - Hydra's grammar errors
        raise SpecError("command line", "", " ".join(str(e).split("\n")[0].split())) from None
    for ov in parsed:
        line = ov.input_line or ""
        if ov.is_delete():
            deletes.append(line)
            continue
        key, _, value = line.partition("=")
        params[key.strip()] = value.strip()
    return params, deletes


class HydraSweeperNode(Dialect):
    """hydra-optuna-sweeper's `hydra.sweeper` node (only the plugin hands one over: never detected in a file)."""

    name = "hydra-optuna-sweeper"

    def matches(self, raw: dict[str, Any]) -> bool:
        return False

    def to_native(self, raw: dict[str, Any], source: str) -> dict[str, Any]:
        return translate(raw, [], app={}).native


def translate(node: dict[str, Any], arguments: list[str], app: dict[str, Any]) -> Translated:
    """The sweeper node and the multirun's task overrides → a native config. `app` carries what the
    plugin knows of the running app: `name` (the default sweep name), `function` (module:callable)
    and `script` (the app's file), which become the trial's."""
    node = {k: v for k, v in node.items() if k not in ("_target_", "defaults")}
    for k in node:
        if k not in KEYS:
            from .schema import suggest

            raise SpecError(SOURCE, k, suggest(k, list(KEYS)))
    method, options, seed = _sampler(node.get("sampler"))
    directions = _directions(node.get("direction", "minimize"))
    metrics = _metrics(node.get("metric"), len(directions))
    cli, deletes = _split_arguments(arguments)
    raw_params = {**dict(node.get("params") or {}), **cli}
    params = {str(k): _param(str(k), v, method == "grid") for k, v in raw_params.items()}
    n_trials = node.get("n_trials", 20)
    rate = node.get("max_failure_rate", 0.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise SpecError(SOURCE, "max_failure_rate", f"must be a number from 0 to 1, got {rate!r}")
    max_failures = node.get("max_failures")
    if max_failures is None and isinstance(n_trials, int):
        max_failures = math.floor(rate * n_trials + 1e-9)
    objective: Any = ({"metric": metrics[0], "goal": directions[0]} if len(directions) == 1
                      else [{"metric": m, "goal": d} for m, d in zip(metrics, directions, strict=True)])
    search: dict[str, Any] = {"method": method, **options}
    configure = node.get("custom_search_space")
    if configure:  # an instantiate-style dotpath (module.function), ours is module:function
        configure = str(configure)
        search["configure"] = configure if ":" in configure else ":".join(configure.rsplit(".", 1))
    native: dict[str, Any] = {
        "name": node.get("study_name") or app.get("name"),
        "objective": objective,
        "params": params,
        "trial": {"function": app.get("function"), "hydra": app.get("script"),
                  "timeout": node.get("timeout"), "retries": node.get("retries", 0)},
        "search": search,
        "n_trials": n_trials,
        "workers": node.get("n_jobs", 2),
        "max_failures": max_failures,
        "seed": seed,
        "storage": node.get("storage"),
    }
    for k in OWN:
        if node.get(k) is not None and k != "max_failures":
            native[k] = node[k]
    return Translated(native, deletes)
