"""Load a sweep file: compose it with Hydra, apply overrides, validate, return a SweepSpec.

Hydra's compose API does the composition (defaults list, config groups from `conf/`,
interpolation), but two things it does not do the way users expect are handled here: sweep
expressions in `params.*` overrides (compose refuses them) and overriding a schema key that the
file does not set (compose wants `+key=`).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

from .config import (
    BACKENDS,
    GOALS,
    GROUP_DEFAULTS,
    BackendSpec,
    EarlyStopSpec,
    Objective,
    Resources,
    SearchSpec,
    SweepSpec,
    TrackingSpec,
    TrialSpec,
)
from .errors import SpecError
from .redact import mask
from .space import parse_params

TOP_KEYS = ("name", "objective", "params", "trial", "n_trials", "workers", "max_failures", "seed", "storage",
            "tracking", "search", "early_stop", "backend", "resources")
SECTION_KEYS = {
    "objective": ("metric", "goal"),
    "trial": ("function", "command", "config", "timeout", "retries"),
    "tracking": ("uri", "experiment"),
    "resources": ("cpus", "gpus"),
}
SELECTOR = {"search": "method", "early_stop": "type", "backend": "type"}
_ARGS = "${args}"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
CLI = "command line"


def conf_dir() -> Path:
    """The shipped config groups: `conf/` in a checkout, `sweeper/_conf` in an installed wheel."""
    here = Path(__file__).resolve().parent
    for cand in (here / "_conf", here.parent / "conf"):
        if cand.is_dir():
            return cand
    raise RuntimeError("sweeper's conf/ directory is missing from the installation")


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def default_storage(workdir: str) -> str:
    return f"sqlite:///{os.path.join(workdir, '.sweeps', 'sweeps.db')}"


def _suggest(key: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key ({hint}allowed: {', '.join(allowed)})"


def _read_yaml(path: Path) -> Any:
    import yaml
    from omegaconf import OmegaConf

    src = path.name
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(str(path), "", f"cannot read: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).split("\n")[0]
        raise SpecError(src, "", f"YAML syntax error{where}: {problem}") from None
    if data is None:
        raise SpecError(src, "", "the file is empty: a sweep needs at least name, objective, params and trial")
    if not isinstance(data, dict):
        raise SpecError(src, "", f"the top level must be a mapping of keys, got {type(data).__name__}")
    return OmegaConf.create(data)


def _split_overrides(overrides: list[str]) -> tuple[list[str], dict[str, str]]:
    """Group choices and plain keys go to Hydra; `params.*` expressions are kept for us to parse."""
    to_hydra: list[str] = []
    params: dict[str, str] = {}
    for ov in overrides:
        if "=" not in ov:
            raise SpecError(CLI, ov, "an override is key=value (e.g. n_trials=40 or search=random)")
        key, value = ov.split("=", 1)
        bare = key.lstrip("+~")
        top = bare.split(".", 1)[0]
        if top not in TOP_KEYS and not top.startswith("_"):
            raise SpecError(CLI, bare, _suggest(top, TOP_KEYS))
        if bare.startswith("params."):
            params[bare[len("params."):]] = value
        elif bare in GROUP_DEFAULTS:
            # the choice wins over a selector key written in the file's own section
            to_hydra += [f"{bare}={value}", f"++{bare}.{SELECTOR[bare]}={value}"]
        elif key.startswith("~"):
            to_hydra.append(ov)
        else:
            to_hydra.append(f"++{bare}={value}")
    return to_hydra, params


def _defaults_with_groups(raw: Any, src: str) -> list[Any]:
    """The file's defaults list with every sweeper group present, inserted before `_self_`."""
    defaults = list(raw.get("defaults") or [])
    named: set[str] = set()
    for entry in defaults:
        if isinstance(entry, dict) or hasattr(entry, "keys"):
            for k in entry.keys():
                named.add(str(k).replace("override ", "").strip())
        elif isinstance(entry, str) and entry != "_self_":
            named.add(entry.split("/")[0].split("@")[0])
    missing = []
    for group, default in GROUP_DEFAULTS.items():
        if group in named:
            continue
        section = raw.get(group)
        chosen = section.get(SELECTOR[group]) if hasattr(section, "get") else None
        # `search: {method: grid}` written without a defaults entry selects that group option
        missing.append({group: chosen if isinstance(chosen, str) and chosen in group_options(group) else default})
    idx = defaults.index("_self_") if "_self_" in defaults else 0
    out = defaults[:idx] + missing + defaults[idx:]
    if "_self_" not in out:
        out.append("_self_")
    return out


def _compose(path: Path, raw: Any, hydra_overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf import OmegaConf

    src = path.name
    raw = OmegaConf.create(OmegaConf.to_container(raw, resolve=False))
    raw.defaults = _defaults_with_groups(raw, src)
    primary = "__sweeper_primary__"
    ConfigStore.instance().store(name=primary, node=raw)
    GlobalHydra.instance().clear()
    searchpath = f"hydra.searchpath=[file://{conf_dir()}]"
    try:
        with initialize_config_dir(config_dir=str(path.parent.resolve()), version_base=None):
            return compose(config_name=primary, overrides=[searchpath, *hydra_overrides])
    except MissingConfigException as e:
        m = re.search(r"Could not find '([^/']+)/([^']*)'", str(e))
        if m:
            group, option = m.group(1), m.group(2)
            what = {"search": "method", "early_stop": "type", "backend": "backend"}.get(group, "option")
            allowed = ", ".join(group_options(group)) or "none"
            raise SpecError(src, group, f"unknown {what} {option!r} (allowed: {allowed})") from None
        raise SpecError(src, "defaults", " ".join(str(e).split("\n")[0].split())) from None
    except HydraException as e:
        msg = " ".join(str(e).split("\n")[0].split()).replace(primary, src)
        raise SpecError(src, "", msg) from None
    finally:
        GlobalHydra.instance().clear()


def _check_keys(cfg: dict[str, Any], src: str) -> None:
    for key in cfg:
        if key not in TOP_KEYS and not str(key).startswith("_"):
            raise SpecError(src, str(key), _suggest(str(key), TOP_KEYS))
    for section, allowed in SECTION_KEYS.items():
        value = cfg.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise SpecError(src, section, f"must be a mapping with keys {', '.join(allowed)}")
        for key in value:
            if key not in allowed:
                raise SpecError(src, f"{section}.{key}", _suggest(str(key), allowed))


def _int(src: str, key: str, value: Any, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(src, key, f"must be an integer >= {low}{' or null' if allow_none else ''}, got {value!r}")
    return value


def _num(src: str, key: str, value: Any, positive: bool = True, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (positive and value <= 0):
        raise SpecError(src, key, f"must be a number{' > 0' if positive else ''}, got {value!r}")
    return float(value)


def _str(src: str, key: str, value: Any, allow_none: bool = True) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(src, key, f"must be a non-empty string, got {value!r}")
    return value


def _section(cfg: dict[str, Any], key: str, src: str) -> dict[str, Any]:
    value = cfg.get(key) or {}
    if not isinstance(value, dict):
        raise SpecError(src, key, f"must be a mapping, got {value!r}")
    return dict(value)


def load(path: str | os.PathLike[str], overrides: list[str] | None = None, workdir: str | None = None) -> SweepSpec:
    """Compose and validate a sweep file; raises SpecError with one line naming file and key."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(str(path), "", "no such sweep file")
    src = p.name
    raw = _read_yaml(p)
    hydra_overrides, param_overrides = _split_overrides(list(overrides or []))
    cfg = _compose(p, raw, hydra_overrides)
    return from_config(cfg, src, str(p.parent.resolve()), workdir or os.getcwd(), param_overrides)


def from_config(cfg: Any, src: str, base_dir: str, workdir: str, param_overrides: dict[str, str] | None = None) -> SweepSpec:
    """Validate a composed config (also what `sweep resume` rebuilds from the study)."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    for name, expr in (param_overrides or {}).items():
        if cfg.get("params") is None:
            cfg.params = {}
        OmegaConf.update(cfg, f"params.{name}", expr, force_add=True)
    # `${args}` in trial.command is ours, not an OmegaConf interpolation: escape it before resolving
    command_raw = None
    trial_node = cfg.get("trial") if "trial" in cfg else None
    if isinstance(trial_node, DictConfig) and "command" in trial_node:
        command_raw = trial_node._get_node("command")._value()
        if isinstance(command_raw, str):
            trial_node.command = command_raw.replace(_ARGS, "\\" + _ARGS)
    stored = OmegaConf.to_container(cfg, resolve=False)
    if isinstance(command_raw, str):
        stored["trial"]["command"] = command_raw
    try:
        data = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or ""
        raise SpecError(src, str(key), " ".join(str(e).split("\n")[0].split())) from None
    assert isinstance(data, dict)
    _check_keys(data, src)

    name = _str(src, "name", data.get("name"), allow_none=False)
    assert name is not None
    if not _NAME.match(name):
        raise SpecError(src, "name", f"{name!r}: use letters, digits, '.', '_' and '-' (it names a study and folder)")

    obj = _section(data, "objective", src)
    metric = _str(src, "objective.metric", obj.get("metric"), allow_none=True)
    if metric is None:
        raise SpecError(src, "objective.metric", "missing: name the metric to optimise, e.g. objective: {metric: val_loss}")
    goal = obj.get("goal", "minimize")
    if goal not in GOALS:
        raise SpecError(src, "objective.goal", f"{goal!r} is not allowed (allowed: {', '.join(GOALS)})")

    if "params" not in data or data.get("params") in (None, {}):
        raise SpecError(src, "params", "missing: give the search space, e.g. params: {lr: tag(log, interval(1e-4, 1e-1))}")
    params = parse_params(data.get("params"), src)

    t = _section(data, "trial", src)
    function, command = t.get("function"), t.get("command")
    if (function is None) == (command is None):
        raise SpecError(src, "trial", "give exactly one of trial.function (module:callable) or trial.command")
    if function is not None:
        _str(src, "trial.function", function)
        if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", function):
            raise SpecError(src, "trial.function", f"{function!r} is not of the form package.module:callable")
    if command is not None:
        _str(src, "trial.command", command)
    trial = TrialSpec(function=function, command=command, config=_str(src, "trial.config", t.get("config")),
                      timeout=_num(src, "trial.timeout", t.get("timeout")),
                      retries=_int(src, "trial.retries", t.get("retries", 0), 0) or 0)

    search_d = _section(data, "search", src)
    method = search_d.pop("method", GROUP_DEFAULTS["search"])
    es_d = _section(data, "early_stop", src)
    es_type = es_d.pop("type", "none")
    be_d = _section(data, "backend", src)
    be_type = be_d.pop("type", "local")
    if be_type not in BACKENDS:
        raise SpecError(src, "backend", f"unknown backend {be_type!r} (allowed: {', '.join(BACKENDS)})")
    be_keys = {"local": ("type",), "ray": ("type", "address", "storage")}[be_type]
    for k in be_d:
        if k not in be_keys and be_d[k] is not None:
            raise SpecError(src, f"backend.{k}", f"unknown key for backend {be_type!r} (allowed: {', '.join(be_keys)})")
    if be_d.get("storage") is not None:
        be_d["storage"] = os.path.join(workdir, os.path.expanduser(_str(src, "backend.storage", be_d["storage"]) or ""))
    else:
        be_d.pop("storage", None)
    res = _section(data, "resources", src)
    resources = Resources(cpus=_num(src, "resources.cpus", res.get("cpus", 1)) or 1.0,
                          gpus=_num(src, "resources.gpus", res.get("gpus", 0), positive=False) or 0.0)
    if resources.gpus < 0 or (resources.gpus > 1 and resources.gpus != int(resources.gpus)):
        raise SpecError(src, "resources.gpus", f"must be a fraction of one GPU or a whole number, got {resources.gpus}")
    tr = _section(data, "tracking", src)

    storage = _str(src, "storage", data.get("storage")) or default_storage(workdir)
    spec = SweepSpec(
        name=name,
        objective=Objective(metric=metric, goal=goal),
        params=params,
        trial=trial,
        n_trials=_int(src, "n_trials", data.get("n_trials"), 1, allow_none=True),
        workers=_int(src, "workers", data.get("workers"), 1, allow_none=True),
        max_failures=_int(src, "max_failures", data.get("max_failures", 10), 0) or 0,
        seed=_int(src, "seed", data.get("seed"), 0, allow_none=True),
        storage=storage,
        tracking=TrackingSpec(uri=_str(src, "tracking.uri", tr.get("uri")),
                              experiment=_str(src, "tracking.experiment", tr.get("experiment"))),
        search=SearchSpec(method=method, options=search_d),
        early_stop=EarlyStopSpec(type=es_type, options=es_d),
        backend=BackendSpec(type=be_type, address=be_d.pop("address", None), options=be_d),
        resources=resources,
        source=src,
        base_dir=base_dir,
        workdir=workdir,
        resolved_yaml=mask(OmegaConf.to_yaml(OmegaConf.create(stored))),
        definition=stored,
    )
    from . import early_stop, search

    search.check(spec)
    early_stop.options(spec)
    if spec.search.method == "grid":
        from .space import grid_size, grid_space

        size = grid_size(grid_space(spec.params, src))
        if spec.n_trials is None or spec.n_trials > size:
            spec = _replace(spec, n_trials=size)
    elif spec.n_trials is None:
        raise SpecError(src, "n_trials", "missing: how many trials to run (only grid search infers it)")
    return spec


def _replace(spec: SweepSpec, **changes: Any) -> SweepSpec:
    import dataclasses

    return dataclasses.replace(spec, **changes)

