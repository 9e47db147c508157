"""The W&B dialect: a W&B sweep file (`program`, `method`, `metric`, `parameters`, ...) → a native config.

W&B's engine (github.com/wandb/sweeps) samples every parameter as a uniform draw u in [0, 1) pushed
through the parameter's inverse CDF (`HyperParameter.ppf`). Where Optuna has the same distribution
(categorical, int_uniform, uniform, q_uniform, log_uniform, log_uniform_values) the parameter becomes
a native one, so samplers model it directly. The others (normal, log_normal, beta, their q_ forms,
inv_log_uniform, q_log_uniform, weighted `values`) become a float `u` in [0, 1] that the sampler
models, and the trial launcher (`integrations.wandb_launch`) computes W&B's `ppf(u)`: TPE then models
the quantile, which is monotone in the value, so "good region" is still a contiguous range.
The W&B command and its macros are expanded by the launcher too; this module only translates.
"""

from __future__ import annotations

import base64
import difflib
import importlib.util
import json
import math
import os
import re
from typing import Any

from ..errors import SpecError
from .dialects import Dialect

TOP_KEYS = ("program", "method", "metric", "parameters", "early_terminate", "command", "run_cap", "name",
            "description", "project", "entity")
#: keys of W&B's schema that only mean something on W&B's servers
SERVER_KEYS = ("controller", "scheduler", "job", "image_uri", "apiVersion", "kind", "metrics")
#: sweeper's own keys, still accepted in a W&B file (and as overrides)
SWEEPER_KEYS = ("n_trials", "workers", "early_stop", "backend", "resources", "tracking", "storage", "seed",
                "max_failures", "budget", "search", "trial")
METHODS = {"grid": "grid", "random": "random", "bayes": "tpe"}
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
#: the whole-item macros of wandb's agent (`wandb_agent.Agent._run_job`, `sweeps.utils.create_sweep_command_args`)
MACROS = ("${env}", "${interpreter}", "${program}", "${args}", "${args_no_equals}", "${args_no_hyphens}",
          "${args_no_boolean_flags}", "${args_json}", "${args_json_file}", "${args_append_hydra}",
          "${args_override_hydra}")
#: distribution → its required and optional (with default) arguments, as W&B's schema.json has them
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "constant": (("value",), {}),
    "categorical": (("values",), {}),
    "categorical_w_probabilities": (("values", "probabilities"), {}),
    "int_uniform": (("min", "max"), {}),
    "uniform": (("min", "max"), {}),
    "q_uniform": (("min", "max"), {"q": 1.0}),
    "log_uniform": (("min", "max"), {}),
    "log_uniform_values": (("min", "max"), {}),
    "q_log_uniform": (("min", "max"), {"q": 1.0}),
    "q_log_uniform_values": (("min", "max"), {"q": 1.0}),
    "inv_log_uniform": (("min", "max"), {}),
    "inv_log_uniform_values": (("min", "max"), {}),
    "normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "log_normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_log_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "beta": ((), {"a": 1.0, "b": 1.0}),
    "q_beta": ((), {"a": 1.0, "b": 1.0, "q": 1.0}),
}
PARAM_KEYS = {"value", "values", "probabilities", "min", "max", "distribution", "mu", "sigma", "a", "b", "q"}
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def number(v: Any) -> Any:
    """YAML 1.1 reads `1e-6` (no dot) as a string; W&B's JSON schema reads it as a number."""
    if isinstance(v, str) and _FLOAT.match(v.strip()):
        f = float(v)
        return int(f) if re.fullmatch(r"[-+]?\d+", v.strip()) else f
    return v


def suggest(word: str, allowed: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f"unknown key{f' (did you mean {close[0]!r}?)' if close else ''}; allowed: {', '.join(allowed)}"


def escape_macros(text: str) -> str:
    """`${args}` and friends are the agent's macros, not OmegaConf interpolations."""
    return text.replace("${", "\\${")


class WandbDialect(Dialect):
    """A W&B sweep file, recognised by `parameters:` plus `method:` or `program:`."""

    name = "wandb"

    def matches(self, raw: dict[str, Any]) -> bool:
        return "parameters" in raw and ("method" in raw or "program" in raw)

    def to_native(self, raw: dict[str, Any], source: str) -> dict[str, Any]:
        return translate(raw, source)


def translate(raw: dict[str, Any], source: str, workdir: str | None = None) -> dict[str, Any]:
    """The W&B file as native keys; `SpecError(source, key, ...)` for whatever W&B would refuse."""
    workdir = workdir or os.getcwd()
    notes: list[str] = []
    for key in raw:
        if key in SERVER_KEYS:
            raise SpecError(source, str(key), "only meaningful on W&B's servers (Launch, controllers, schedulers): "
                            "remove it to run here")
        if key not in TOP_KEYS and key not in SWEEPER_KEYS and not str(key).startswith("_"):
            raise SpecError(source, str(key), suggest(str(key), TOP_KEYS + SWEEPER_KEYS))
    if raw.get("entity") is not None:
        notes.append(f"entity {raw['entity']!r} ignored: runs go to MLflow")
    if "method" not in raw:  # W&B's schema requires it
        raise SpecError(source, "method", f"missing: W&B needs one of {', '.join(METHODS)}")
    method = raw["method"]
    if method not in METHODS:
        raise SpecError(source, "method", f"{method!r} is not a W&B method (allowed: {', '.join(METHODS)})")
    metric = raw.get("metric")
    out: dict[str, Any] = {k: raw[k] for k in SWEEPER_KEYS if k in raw and k != "trial"}
    if metric is None:
        if method == "bayes" or "early_terminate" in raw:
            raise SpecError(source, "metric", f"missing: method {method} needs `metric: {{name, goal}}`")
        metric = {"name": "loss", "goal": "minimize"}
        notes.append("no metric: the objective is `loss`, minimized")
    if not isinstance(metric, dict):
        raise SpecError(source, "metric", f"must be a mapping {{name, goal, target}}, got {metric!r}")
    for k in metric:
        if k not in ("name", "goal", "target", "impute", "impute_while_running"):
            raise SpecError(source, f"metric.{k}", suggest(str(k), ("name", "goal", "target")))
    if not isinstance(metric.get("name"), str):
        raise SpecError(source, "metric.name", "missing: the metric your program logs, e.g. val_loss")
    goal = metric.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise SpecError(source, "metric.goal", f"{goal!r} is not allowed (allowed: minimize, maximize)")
    out["objective"] = {"metric": metric["name"], "goal": goal}
    if metric.get("target") is not None:
        out.setdefault("budget", {})["target"] = number(metric["target"])
    out["name"] = raw.get("name") or _stem(source)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", str(out["name"])):
        out["name"] = re.sub(r"[^A-Za-z0-9_.\-]+", "-", str(out["name"])).strip("-.") or _stem(source)
    if raw.get("project") is not None:
        out.setdefault("tracking", {})["experiment"] = str(raw["project"])
    if raw.get("run_cap") is not None:
        cap = number(raw["run_cap"])
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise SpecError(source, "run_cap", f"must be an integer >= 1, got {raw['run_cap']!r}")
        out.setdefault("n_trials", cap)
    elif method != "grid":
        out.setdefault("n_trials", DEFAULT_RUN_CAP)
        notes.append(f"no run_cap: {DEFAULT_RUN_CAP} trials unless n_trials=N is given (W&B runs until stopped)")
    out.setdefault("search", {})["method"] = METHODS[method]
    if "early_terminate" in raw:
        out["early_stop"] = early_stop(raw["early_terminate"], source)

    params: dict[str, Any] = {}
    launch: dict[str, dict[str, Any]] = {}
    flatten(raw["parameters"], "", source, params, launch)
    out["params"] = params
    quantiles = [n for n, t in launch.items() if t["distribution"] != "index"]
    if quantiles:
        notes.append(f"{', '.join(quantiles)}: the sampler models W&B's quantile u in [0, 1] (the study "
                     "holds u), the program gets W&B's value ppf(u)")

    program = raw.get("program")
    command = raw.get("command", DEFAULT_COMMAND)
    if not isinstance(command, list) or not command or not all(isinstance(c, (str, int, float)) for c in command):
        raise SpecError(source, "command", f"must be a list of strings, got {command!r}")
    command = [str(c) for c in command]
    for i, c in enumerate(command):
        for m in re.findall(r"\$\{[^}]*\}", c):
            if re.fullmatch(r"\$\{envvar:[A-Z0-9_]*\}", m):
                continue
            if m not in MACROS:
                raise SpecError(source, f"command[{i}]", f"unknown macro {m} (allowed: {', '.join(MACROS)}, "
                                "${envvar:NAME})")
            if m != c:  # the agent expands only an item that is a macro, and leaves this one as it is
                raise SpecError(source, f"command[{i}]", f"{m} must be a list item of its own, as wandb's agent "
                                f"expands it, not part of {c!r}")
    if any("${program}" in c for c in command):
        if not isinstance(program, str) or not program:
            raise SpecError(source, "program", "missing: the command runs ${program}")
        if not os.path.isfile(os.path.join(workdir, program)):
            raise SpecError(source, "program", f"no such file: {program!r} (relative to {workdir}, where "
                            "`wandb sweep` would run)")
    plan = {"command": command, "program": program, "params": launch, "project": raw.get("project"),
            "entity": raw.get("entity"), "sweep": out["name"]}
    blob = base64.urlsafe_b64encode(json.dumps(plan).encode()).decode()
    out["trial"] = {**(raw.get("trial") or {}), "command": f"python -m sweeper.integrations.wandb_launch {blob} ${{args}}"}
    out["_dialect"] = "wandb"
    out["_notes"] = notes
    if raw.get("description") is not None:
        out["_wandb_description"] = str(raw["description"])
    return out


#: trials without `run_cap` (W&B's agent runs until stopped; a sweep here ends)
DEFAULT_RUN_CAP = 20


def _stem(source: str) -> str:
    stem = os.path.splitext(os.path.basename(source))[0]
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", stem).strip("-.") or "wandb-sweep"


def early_stop(et: Any, source: str) -> dict[str, Any]:
    """W&B's hyperband: rungs ("bands") at history lengths min_iter·eta^k, or max_iter/eta^i for
    i = 1..s; at each a running trial below the top 1/eta stops. That is successive halving over one
    bracket, which is Optuna's SuccessiveHalvingPruner (our `asha`) from the first band on."""
    key = "early_terminate"
    if not isinstance(et, dict):
        raise SpecError(source, key, f"must be a mapping {{type: hyperband, ...}}, got {et!r}")
    for k in et:
        if k not in ("type", "min_iter", "max_iter", "s", "eta", "strict"):
            raise SpecError(source, f"{key}.{k}", suggest(str(k), ("type", "min_iter", "max_iter", "s", "eta", "strict")))
    if et.get("type") != "hyperband":
        raise SpecError(source, f"{key}.type", f"{et.get('type')!r} is not allowed (allowed: hyperband)")
    eta = number(et.get("eta", 3))
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or eta <= 1:
        raise SpecError(source, f"{key}.eta", f"must be a number > 1, got {et.get('eta')!r}")
    bands = hyperband_bands(et, eta, source)
    return {"type": "asha", "min_iter": bands[0], "eta": eta}


def hyperband_bands(et: dict[str, Any], eta: float, source: str) -> list[int]:
    """The bands W&B's `hyperband_stop_runs` computes (its own code, line for line)."""
    key = "early_terminate"
    if "max_iter" in et:
        max_iter, s = number(et["max_iter"]), number(et.get("s"))
        if not isinstance(max_iter, int) or max_iter < 1:
            raise SpecError(source, f"{key}.max_iter", f"must be an integer >= 1, got {et['max_iter']!r}")
        if isinstance(s, bool) or not isinstance(s, (int, float)):
            raise SpecError(source, f"{key}.s", "missing: max_iter needs s (how many bands below it)")
        band: float = max_iter
        bands = []
        for _ in range(int(s)):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
        if not bands:
            raise SpecError(source, key, "no band: increase s, decrease eta or increase max_iter")
        return sorted(bands)
    if "min_iter" in et:
        m = number(et["min_iter"])
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise SpecError(source, f"{key}.min_iter", f"must be an integer >= 1, got {et['min_iter']!r}")
        return [int(m * eta**k) for k in range(10)]
    raise SpecError(source, key, "give min_iter, or max_iter and s")


def flatten(block: Any, prefix: str, source: str, params: dict[str, Any], launch: dict[str, dict[str, Any]]) -> None:
    """Nested `parameters:` blocks become dotted names (`model.depth`); the launcher nests them back."""
    where = f"{prefix}parameters" if prefix else "parameters"
    if not isinstance(block, dict) or not block:
        raise SpecError(source, where, f"must be a non-empty mapping of parameter name → form, got {block!r}")
    for name, form in block.items():
        full = f"{prefix}{name}"
        key = f"parameters.{full}"
        if not isinstance(form, dict):
            raise SpecError(source, key, f"must be a mapping like {{values: [...]}} or {{value: x}}, got {form!r}")
        if "parameters" in form:
            if set(form) != {"parameters"}:
                raise SpecError(source, key, "a nested block has only `parameters:`")
            flatten(form["parameters"], f"{full}.", source, params, launch)
            continue
        native, transform = param(full, form, key, source)
        params[full] = _escaped(native)
        if transform is not None:
            launch[full] = transform


def _escaped(value: Any) -> Any:
    """Strings as they are: `${...}` in a W&B value is text, not an OmegaConf interpolation."""
    if isinstance(value, str) and "${" in value:
        return escape_macros(value)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def _numbers(form: dict[str, Any], key: str, source: str, names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for n in names:
        v = number(form[n])
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SpecError(source, f"{key}.{n}", f"must be a number, got {form[n]!r}")
        out[n] = v
    return out


def param(name: str, form: dict[str, Any], key: str, source: str) -> tuple[Any, dict[str, Any] | None]:
    """One W&B parameter → (its native param, the launcher's transform or None), W&B's inference included."""
    for k in form:
        if k not in PARAM_KEYS:
            raise SpecError(source, f"{key}.{k}", suggest(str(k), sorted(PARAM_KEYS)))
    dist = form.get("distribution")
    if dist is None:  # W&B's schema infers the distribution from the keys given (config/schema.py)
        if "value" in form:
            dist = "constant"
        elif "values" in form:
            dist = "categorical_w_probabilities" if "probabilities" in form else "categorical"
        elif "min" in form and "max" in form:
            lo, hi = number(form["min"]), number(form["max"])
            both_int = all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi))
            dist = "int_uniform" if both_int else "uniform"
        else:
            raise SpecError(source, key, "give value, values, min and max, or a distribution")
    if dist not in DISTRIBUTIONS:
        raise SpecError(source, f"{key}.distribution", f"unknown distribution {dist!r} "
                        f"(allowed: {', '.join(DISTRIBUTIONS)})")
    required, optional = DISTRIBUTIONS[dist]
    for r in required:
        if r not in form:
            raise SpecError(source, f"{key}.{r}", f"missing: {dist} needs {', '.join(required)}")
    extra = set(form) - set(required) - set(optional) - {"distribution"}
    if extra:
        k = sorted(extra)[0]
        raise SpecError(source, f"{key}.{k}", f"not an argument of {dist} (its arguments: "
                        f"{', '.join([*required, *optional]) or 'none'})")
    if dist == "constant":
        return {"value": form["value"]}, None
    if dist in ("categorical", "categorical_w_probabilities"):
        values = form["values"]
        if not isinstance(values, list) or not values:
            raise SpecError(source, f"{key}.values", "must be a non-empty list")
        values = [number(v) if isinstance(v, str) and "e" in v.lower() else v for v in values]
        if dist == "categorical":
            if any(isinstance(v, (dict, list)) for v in values):  # kept whole: the launcher maps an index back
                return {"values": list(range(len(values)))}, {"distribution": "index", "values": values}
            return {"values": values}, None
        probs = form["probabilities"]
        if not isinstance(probs, list) or len(probs) != len(values):
            raise SpecError(source, f"{key}.probabilities", f"must be a list of {len(values)} numbers, one per value")
        probs = [number(p) for p in probs]
        if any(isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0 for p in probs):
            raise SpecError(source, f"{key}.probabilities", f"must be numbers >= 0, got {form['probabilities']!r}")
        if abs(sum(probs) - 1) > 1e-6:
            raise SpecError(source, f"{key}.probabilities", f"must sum to 1, they sum to {sum(probs):g}")
        return _quantile(), {"distribution": dist, "values": values, "probabilities": probs}
    args = {**optional, **_numbers(form, key, source, tuple(n for n in (*required, *optional) if n in form))}
    if "min" in args and args["min"] >= args["max"]:
        raise SpecError(source, key, f"min {args['min']} must be below max {args['max']}")
    if dist.endswith("_values") and args["min"] <= 0:
        raise SpecError(source, f"{key}.min", f"{dist} needs min > 0, got {args['min']}")
    for positive in ("sigma", "q"):
        if positive in args and args[positive] <= 0:
            raise SpecError(source, f"{key}.{positive}", f"must be > 0, got {args[positive]}")
    if dist.endswith("beta") and (args["a"] <= 0 or args["b"] <= 0):
        raise SpecError(source, key, "beta needs a > 0 and b > 0")
    if dist.endswith("beta") and importlib.util.find_spec("scipy") is None:  # its inverse CDF, as W&B's engine
        raise SpecError(source, f"{key}.distribution", f"{dist} needs scipy: pip install scipy")
    lo, hi = args.get("min"), args.get("max")
    if dist == "int_uniform":
        if not all(isinstance(v, int) for v in (lo, hi)):
            raise SpecError(source, key, f"int_uniform needs integer min and max, got {lo!r}, {hi!r}")
        return {"distribution": "int_uniform", "min": lo, "max": hi}, None
    if dist == "uniform":
        return {"distribution": "uniform", "min": float(lo), "max": float(hi)}, None
    if dist == "log_uniform_values":
        return {"distribution": "log_uniform_values", "min": float(lo), "max": float(hi)}, None
    if dist == "log_uniform":  # bounds in natural log: the values are e^min .. e^max
        return {"distribution": "log_uniform_values", "min": math.exp(lo), "max": math.exp(hi)}, None
    if dist == "q_uniform":  # an integer q (and bounds) gives integers, as W&B's ppf does
        return {"distribution": "q_uniform", "min": lo, "max": hi, "q": args["q"]}, None
    return _quantile(), {"distribution": dist, **args}


def _quantile() -> dict[str, Any]:
    """The uniform draw a sampler models for a distribution Optuna lacks (W&B's own `ppf(u)` input)."""
    return {"distribution": "uniform", "min": 0.0, "max": 1.0}
