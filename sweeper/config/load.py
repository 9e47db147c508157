"""Load a sweep: a file or an in-memory config → its dialect → Hydra composition → one `SweepSpec`.

Hydra's compose API does the composition (defaults list, config groups, interpolation), but two
things it does not do the way users expect are handled here: sweep expressions in `params.*`
overrides (compose refuses them) and overriding a schema key that the file does not set
(compose wants `+key=`). Keys, defaults and bounds come from `schema.py`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..redact import mask
from . import schema
from .dialects import detect
from .schema import GROUP_DEFAULTS, SELECTOR, suggest
from .space import parse_params
from .spec import (
    BackendSpec,
    BudgetSpec,
    Constraint,
    EarlyStopSpec,
    Objective,
    Resources,
    SearchSpec,
    SweepSpec,
    TrackingSpec,
    TrialSpec,
    WarmStart,
)

_ARGS = "${args}"
#: module:callable, any module importlib can import (a file `multi-objective.py` is not an identifier)
_TARGET = re.compile(r"^[^\s:/\\]+:[A-Za-z_][\w.]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w./\-]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")
CLI = "command line"
IN_MEMORY = "<config>"


def conf_dir() -> Path:
    """The shipped search presets: `conf/` in a checkout, `sweeper/_conf` in an installed wheel."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "_conf", here.parent / "conf"):
        if cand.is_dir():
            return cand
    raise RuntimeError("sweeper's conf/ directory is missing from the installation")


def _presets() -> set[str]:
    return {p.stem for p in (conf_dir() / "search").glob("*.yaml")}


def group_options(group: str) -> list[str]:
    if group == "search":
        from ..search import METHODS

        return sorted(_presets() | set(METHODS))
    return sorted(schema.GROUP_OPTIONS[group])


def _register_groups() -> None:
    """The schema's group options, and a bare option for each search method without a preset file."""
    from hydra.core.config_store import ConfigStore

    from ..search import METHODS

    schema.register_groups()
    for method in set(METHODS) - _presets():
        ConfigStore.instance().store(group="search", name=method, node={"method": method})


def default_storage(workdir: str) -> str:
    return f"sqlite:///{os.path.join(workdir, '.sweeps', 'sweeps.db')}"


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

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
    return data


def split_overrides(overrides: list[str]) -> tuple[list[str], dict[str, str]]:
    """Group choices and plain keys go to Hydra; `params.*` expressions are kept for us to parse."""
    to_hydra: list[str] = []
    params: dict[str, str] = {}
    tops = schema.top_keys()
    for ov in overrides:
        if "=" not in ov:
            raise SpecError(CLI, ov, "an override is key=value (e.g. n_trials=40 or search=random)")
        key, value = ov.split("=", 1)
        bare = key.lstrip("+~")
        top = bare.split(".", 1)[0]
        if top not in tops and not top.startswith("_"):
            raise SpecError(CLI, bare, suggest(top, tops))
        if bare.startswith("params."):
            params[bare[len("params."):]] = value
        elif bare in GROUP_DEFAULTS:
            if not re.fullmatch(r"[A-Za-z_][\w-]*", value):
                raise SpecError(CLI, bare, f"{value!r} is not a {SELECTOR[bare]} (allowed: {', '.join(group_options(bare))})")
            # the choice wins over a selector key written in the file's own section
            to_hydra += [f"{bare}={value}", f"++{bare}.{SELECTOR[bare]}={value}"]
        elif key.startswith("~"):
            to_hydra.append(ov)
        else:
            to_hydra.append(_parsable(bare, value))
    return to_hydra, params


def _parsable(key: str, value: str) -> str:
    """`++key=value` as Hydra's override grammar takes it. A value the grammar cannot read as it is
    (`storage=naïve名`, `name=a b`) is passed as a quoted string, so the key's own check judges it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for candidate in (f"++{key}={value}", "++{}='{}'".format(key, value.replace("'", "\\'"))):
        try:
            parser.parse_override(candidate)
            return candidate
        except Exception:  # noqa: BLE001 - the grammar's lexer raises ANTLR's own errors, not Hydra's
            continue
    raise SpecError(CLI, key, f"cannot read the value {value!r} (quote it: {key}='\"...\"')")


def _defaults_with_groups(raw: Any) -> list[Any]:
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


def _compose(config_dir: str, src: str, raw: dict[str, Any], hydra_overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf import OmegaConf

    node = OmegaConf.create(raw)
    node.defaults = _defaults_with_groups(node)
    primary = "__sweeper_primary__"
    _register_groups()
    ConfigStore.instance().store(name=primary, node=node)
    GlobalHydra.instance().clear()
    searchpath = f"hydra.searchpath=[file://{conf_dir()}]"
    try:
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            return compose(config_name=primary, overrides=[searchpath, *hydra_overrides])
    except MissingConfigException as e:
        m = re.search(r"Could not find '([^/']+)/([^']*)'", str(e))
        if m:
            group, option = m.group(1), m.group(2)
            what = {"search": "method", "early_stop": "type", "backend": "backend"}.get(group, "option")
            allowed = ", ".join(group_options(group)) if group in GROUP_DEFAULTS else "none"
            raise SpecError(src, group, f"unknown {what} {option!r} (allowed: {allowed})") from None
        raise SpecError(src, "defaults", " ".join(str(e).split("\n")[0].split())) from None
    except HydraException as e:
        msg = " ".join(str(e).split("\n")[0].split()).replace(primary, src)
        m = re.match(r"Error merging override \+*([\w.]+)=(.*)", msg)
        if m and m.group(1) in schema.KEYS_BY_PATH:  # a section replaced by a value of another type
            key = schema.key(m.group(1))
            raise SpecError(CLI, key.path, f"must be {key.allowed()}, got {m.group(2)}") from None
        raise SpecError(src, "", msg) from None
    finally:
        GlobalHydra.instance().clear()


def _check_keys(cfg: dict[str, Any], src: str) -> None:
    tops = schema.top_keys()
    for key in cfg:
        if key not in tops and not str(key).startswith("_"):
            raise SpecError(src, str(key), suggest(str(key), tops))
    for section in schema.sections():
        allowed = schema.section_keys(section)
        value = cfg.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise SpecError(src, section, f"must be a mapping with keys {', '.join(allowed)}")
        for key in value:
            if key not in allowed:
                raise SpecError(src, f"{section}.{key}", suggest(str(key), allowed))


def _get(src: str, data: dict[str, Any], path: str) -> Any:
    """The value at `path`, validated by its schema key (default filled in)."""
    k = schema.key(path)
    node: Any = data
    for part in path.split(".")[:-1]:
        node = node.get(part) or {}
    return k.check(src, node.get(k.name, k.default) if isinstance(node, dict) else k.default)


def _section(cfg: dict[str, Any], key: str, src: str) -> dict[str, Any]:
    value = cfg.get(key) or {}
    if not isinstance(value, dict):
        raise SpecError(src, key, f"must be a mapping, got {value!r}")
    return dict(value)


def load(source: str | os.PathLike[str] | Mapping[str, Any], overrides: list[str] | None = None,
         workdir: str | None = None, base_dir: str | None = None) -> SweepSpec:
    """A sweep file (a path) or an in-memory config (a mapping or DictConfig) → a validated SweepSpec.

    `base_dir` is where `trial.config` and a defaults list resolve (the file's folder for a file,
    else `workdir`); `workdir` is where trials run (default: the current directory). Raises
    SpecError with one line naming the source and the key.
    """
    workdir = workdir or os.getcwd()
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.is_file():
            raise SpecError(str(source), "", "no such sweep file")
        src, raw, base = p.name, _read_yaml(p), str(p.parent.resolve())
    else:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(source, DictConfig):
            source = OmegaConf.to_container(source, resolve=False)  # type: ignore[assignment]
        if not isinstance(source, Mapping):
            raise SpecError(IN_MEMORY, "", f"a sweep config must be a mapping, got {type(source).__name__}")
        src, raw, base = IN_MEMORY, dict(source), os.path.abspath(workdir)
    base = os.path.abspath(base_dir) if base_dir else base
    native = detect(raw).to_native(raw, src)
    hydra_overrides, param_overrides = split_overrides(list(overrides or []))
    cfg = _compose(base, src, native, hydra_overrides)
    return from_config(cfg, src, base, workdir, param_overrides)


def resume_config(stored: dict[str, Any], overrides: list[str]) -> Any:
    """A stored sweep definition with the budget overrides a resume may give; others are refused."""
    import yaml
    from omegaconf import OmegaConf

    hydra_ov, param_ov = split_overrides(overrides)
    if param_ov:
        raise SpecError(CLI, "params", "the search space cannot change on resume")
    cfg = OmegaConf.create(stored)
    for ov in hydra_ov:
        key, value = ov.lstrip("+~").split("=", 1)
        if key.split(".")[0] not in schema.BUDGET_KEYS:
            raise SpecError(CLI, key, f"only budget keys can change on resume ({', '.join(schema.BUDGET_KEYS)})")
        OmegaConf.update(cfg, key, yaml.safe_load(value), force_add=True)
    return cfg


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
        command_raw = OmegaConf.to_container(trial_node, resolve=False)["command"]  # type: ignore[index]
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
    objective_list = data.get("objective") if isinstance(data.get("objective"), list) else None
    if objective_list is not None:  # several objectives: each entry is checked like the one mapping
        data["objective"] = None
    _check_keys(data, src)

    name = _get(src, data, "name")
    if not _NAME.match(name):
        raise SpecError(src, "name", f"{name!r}: use letters, digits, '.', '_' and '-' (it names a study and folder)")

    objectives = _objectives(data, src) if objective_list is None else _objective_list(objective_list, src)
    constraints = _constraints(data.get("constraints"), src)

    if "params" not in data or data.get("params") in (None, {}):
        raise SpecError(src, "params", "missing: give the search space, e.g. params: {lr: tag(log, interval(1e-4, 1e-1))}")
    params = parse_params(data.get("params"), src)

    _section(data, "trial", src)
    function, command = _get(src, data, "trial.function"), _get(src, data, "trial.command")
    if (function is None) == (command is None):
        raise SpecError(src, "trial", "give exactly one of trial.function (module:callable) or trial.command")
    if _get(src, data, "trial.hydra") is not None and (function is None or _get(src, data, "trial.config") is not None):
        raise SpecError(src, "trial.hydra", "a Hydra app's trials are its task function (trial.function), "
                        "with the app's own config (no trial.config)")
    # any module importlib can import (a file `multi-objective.py`, as in hydra-optuna-sweeper's
    # examples, is not a Python identifier but imports); whether it does is checked where trials run
    if function is not None and not _TARGET.match(function):
        raise SpecError(src, "trial.function", f"{function!r} is not of the form package.module:callable")
    trial = TrialSpec(function=function, command=command, config=_get(src, data, "trial.config"),
                      timeout=_get(src, data, "trial.timeout"), retries=_get(src, data, "trial.retries"),
                      log_limit=_get(src, data, "trial.log_limit"), hydra=_get(src, data, "trial.hydra"))

    if trial.config is not None and not os.path.isfile(os.path.join(base_dir, trial.config)):
        raise SpecError(src, "trial.config", f"no such file: {trial.config!r} (relative to {base_dir or '.'})")
    if trial.config is not None:
        from ..runtime.trial_config import check_config

        problem = check_config(params, os.path.join(base_dir, trial.config))
        if problem:
            raise SpecError(src, "trial.config", problem)

    search_d = _section(data, "search", src)
    method = schema.key("search.method").check(src, search_d.pop("method", GROUP_DEFAULTS["search"]))
    configure = schema.key("search.configure").check(src, search_d.pop("configure", None))
    if configure is not None and not _TARGET.match(configure):
        raise SpecError(src, "search.configure", f"{configure!r} is not of the form package.module:function")
    es_d = _section(data, "early_stop", src)
    es_type = schema.key("early_stop.type").check(src, es_d.pop("type", GROUP_DEFAULTS["early_stop"]))
    if es_type not in schema.GROUP_OPTIONS["early_stop"]:
        raise SpecError(src, "early_stop", f"unknown type {es_type!r} "
                        f"(allowed: {', '.join(schema.GROUP_OPTIONS['early_stop'])})")
    es_opts = schema.check_group(src, "early_stop", es_type, es_d)
    be_d = _section(data, "backend", src)
    be_type = schema.key("backend.type").check(src, be_d.pop("type", GROUP_DEFAULTS["backend"]))
    if be_type not in schema.GROUP_OPTIONS["backend"]:
        raise SpecError(src, "backend", f"unknown backend {be_type!r} (allowed: {', '.join(schema.GROUP_OPTIONS['backend'])})")
    be_opts = schema.check_group(src, "backend", be_type, be_d)
    address = be_opts.pop("address", None)
    if be_opts.get("storage") is not None:
        be_opts["storage"] = os.path.join(workdir, os.path.expanduser(be_opts["storage"]))
    else:
        be_opts.pop("storage", None)
    _section(data, "resources", src)
    resources = Resources(cpus=_get(src, data, "resources.cpus"), gpus=_get(src, data, "resources.gpus"))
    if resources.gpus > 1 and resources.gpus != int(resources.gpus):
        raise SpecError(src, "resources.gpus", f"must be a fraction of one GPU or a whole number, got {resources.gpus}")
    _section(data, "tracking", src)

    _section(data, "budget", src)
    budget = BudgetSpec(steps=_get(src, data, "budget.steps"), time=_get(src, data, "budget.time"),
                        target=_get(src, data, "budget.target"))
    storage = _get(src, data, "storage") or default_storage(workdir)
    spec = SweepSpec(
        name=name,
        objectives=objectives,
        params=params,
        trial=trial,
        n_trials=_get(src, data, "n_trials"),
        workers=_get(src, data, "workers"),
        max_failures=_get(src, data, "max_failures"),
        seed=_get(src, data, "seed"),
        storage=storage,
        tracking=TrackingSpec(uri=_get(src, data, "tracking.uri"), experiment=_get(src, data, "tracking.experiment")),
        search=SearchSpec(method=method, options=search_d, configure=configure),
        early_stop=EarlyStopSpec(type=es_type, options=es_opts),
        backend=BackendSpec(type=be_type, address=address, options=be_opts),
        resources=resources,
        source=src,
        base_dir=base_dir,
        workdir=workdir,
        resolved_yaml=mask(OmegaConf.to_yaml(OmegaConf.create(stored))),
        definition=stored,
        budget=budget,
        constraints=constraints,
        seed_trials=_seed_trials(data.get("seed_trials"), params, src),
        warm_start=_warm_start(data, src),
    )
    from .. import early_stop, search

    search.check(spec)
    early_stop.check(spec)
    if spec.search.method == "grid":
        size = search.grid_size(spec)
        if spec.n_trials is None or spec.n_trials > size:
            spec = dataclasses.replace(spec, n_trials=size)
    elif spec.n_trials is None:
        raise SpecError(src, "n_trials", "missing: how many trials to run (only grid search infers it)")
    return spec


def _objective_list(entries: list[Any], src: str) -> tuple[Objective, ...]:
    """`objective: [{metric, goal}, ...]`: several objectives, each checked as the single mapping is."""
    if not entries:
        raise SpecError(src, "objective", "an empty list: give one {metric, goal} mapping or a list of them")
    out: list[Objective] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SpecError(src, f"objective[{i}]", f"must be a mapping {{metric, goal}}, got {entry!r}")
        for k in entry:
            if k not in ("metric", "goal"):
                raise SpecError(src, f"objective[{i}].{k}", suggest(str(k), ["metric", "goal"]))
        o = _objectives({"objective": entry}, src)[0]
        if any(p.metric == o.metric for p in out):
            raise SpecError(src, f"objective[{i}].metric", f"{o.metric!r} is listed twice")
        out.append(o)
    return tuple(out)


def _constraints(raw: Any, src: str) -> tuple[Constraint, ...]:
    """`constraints: ["memory_mb <= 2000", ...]`: a metric the trial reports, a comparison, a bound."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SpecError(src, "constraints", f"must be a list like [\"memory_mb <= 2000\"], got {raw!r}")
    out = []
    for i, text in enumerate(raw):
        m = _CONSTRAINT.match(text) if isinstance(text, str) else None
        bound = None
        if m is not None:
            try:
                bound = float(m.group(3))
            except ValueError:
                bound = None
        if m is None or bound is None or not math.isfinite(bound):
            raise SpecError(src, f"constraints[{i}]", f"{text!r} is not `metric <= number` "
                            "(or <, >=, >), e.g. \"memory_mb <= 2000\"")
        out.append(Constraint(m.group(1), m.group(2), bound))
    return tuple(out)


def _warm_start(data: dict[str, Any], src: str) -> WarmStart | None:
    _section(data, "warm_start", src)
    if not data.get("warm_start"):
        return None
    storage = _get(src, data, "warm_start.storage")  # each key's own check first: its error names it
    sweep = _get(src, data, "warm_start.from")
    if sweep is None:
        raise SpecError(src, "warm_start.from", "missing: name the earlier sweep, e.g. warm_start: {from: lr-search}")
    return WarmStart(sweep=sweep, storage=storage)


def _seed_trials(raw: Any, params: dict[str, Any], src: str) -> tuple[dict[str, Any], ...]:
    """`seed_trials: [{lr: 0.01}, ...]`: each a mapping of searched params to values they can take."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SpecError(src, "seed_trials", f"must be a list of mappings like [{{lr: 0.01}}], got {raw!r}")
    searched = [n for n, p in params.items() if not p.is_fixed]
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not entry:
            raise SpecError(src, f"seed_trials[{i}]", f"must be a mapping of params to values, got {entry!r}")
        for k, v in entry.items():
            if k not in searched:
                raise SpecError(src, f"seed_trials[{i}].{k}", f"not a searched parameter (searched: {', '.join(searched)})")
            if not params[k].admits(v):
                raise SpecError(src, f"seed_trials[{i}].{k}", f"{v!r} is outside {k}'s space ({params[k].describe()})")
        out.append(dict(entry))
    return tuple(out)


def _objectives(data: dict[str, Any], src: str) -> tuple[Objective, ...]:
    """The objective mapping as a tuple of one (a list is refused before, until several are supported)."""
    obj = _section(data, "objective", src)
    if obj.get("metric") is None:
        raise SpecError(src, "objective.metric", "missing: name the metric to optimise, e.g. objective: {metric: val_loss}")
    return (Objective(metric=_get(src, data, "objective.metric"), goal=_get(src, data, "objective.goal")),)
