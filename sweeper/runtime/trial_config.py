"""A trial's training config: the base config (if any) composed with the trial's params, by Hydra."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def format_value(value: Any) -> str:
    """A Python value as a Hydra override value, quoted only where Hydra's grammar needs it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    s = str(value)
    if re.fullmatch(r"[A-Za-z_/\-][\w./\-]*", s) and s.lower() not in ("null", "true", "false", "nan", "inf"):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check_config(params: dict[str, Any], config_path: str) -> str | None:
    """Compose the base config with the fixed params once, at launch, and look for each config group
    option a searched choice names: what is wrong with it as one line, or None. A training config
    that cannot compose would otherwise fail every trial."""
    config_dir = os.path.dirname(config_path)
    fixed = {k: p.value for k, p in params.items() if p.is_fixed}
    try:
        compose_config(fixed, config_path)
    except Exception as e:  # noqa: BLE001 - Hydra's and OmegaConf's errors alike: their first line
        import yaml

        cause = e if isinstance(e, yaml.YAMLError) else e.__cause__ or e.__context__
        if isinstance(cause, yaml.YAMLError):
            mark = getattr(cause, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(cause, "problem", None) or str(cause).split("\n")[0]
            return f"{os.path.basename(config_path)}: YAML syntax error{where}: {problem}"
        return " ".join(str(e).strip().split("\n")[0].split()) or type(e).__name__
    for name, p in params.items():
        group = os.path.join(config_dir, name.lstrip("+"))
        if p.kind != "categorical" or not os.path.isdir(group):
            continue
        for option in p.choices:
            if not any(os.path.isfile(os.path.join(group, f"{option}{ext}")) for ext in (".yaml", ".yml")):
                return f"config group {name!r} has no option {option!r} (in {group})"
    return None


def compose_config(params: dict[str, Any], config_path: str | None) -> Any:
    """The params alone as a nested config, or the base config at `config_path` with them applied."""
    from omegaconf import OmegaConf

    # a define-by-run param may carry Hydra's `+` (add a key), as hydra-optuna-sweeper's examples do
    params = {k.lstrip("+"): v for k, v in params.items()}
    if not config_path:
        cfg = OmegaConf.create({})
        for k, v in params.items():
            OmegaConf.update(cfg, k, v, force_add=True)
        return cfg
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    config_dir, name = os.path.dirname(config_path), os.path.splitext(os.path.basename(config_path))[0]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            base = compose(config_name=name)
            overrides = []
            for k, v in params.items():
                known = OmegaConf.select(base, k, default=None) is not None or os.path.isdir(os.path.join(config_dir, k))
                overrides.append(f"{'' if known else '++'}{k}={format_value(v)}")
            return compose(config_name=name, overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


_HYDRA_NODE: dict[str, Any] = {}  # per worker process: the `hydra` node of a job, composed once


def needs_hydra_config(function: Any, config_yaml: str) -> bool:
    """Whether a function trial must run with `HydraConfig` set: a `@hydra.main` app (it may call
    `HydraConfig.get()`), or a config that interpolates `${hydra:...}`. Others skip its cost."""
    code = getattr(function, "__code__", None)
    wrapped = code is not None and os.path.basename(os.path.dirname(code.co_filename)) == "hydra" and \
        os.path.basename(code.co_filename) == "main.py"
    return wrapped or "${hydra:" in config_yaml


@contextmanager
def hydra_config(job_name: str, number: int, output_dir: str) -> Iterator[None]:
    """`HydraConfig` set for the duration of a function trial, as a Hydra job would have it: the
    job's name and number (the trial's), its output folder (the trial's), the `${hydra:...}`
    resolvers registered."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import setup_globals
    from omegaconf import OmegaConf, open_dict, read_write

    if "node" not in _HYDRA_NODE:
        from hydra import compose, initialize
        from hydra.core.global_hydra import GlobalHydra

        GlobalHydra.instance().clear()
        try:
            with initialize(version_base=None):
                _HYDRA_NODE["node"] = compose(return_hydra_config=True).hydra
        finally:
            GlobalHydra.instance().clear()
        setup_globals()
    full = OmegaConf.create({})
    with open_dict(full):
        full.hydra = _HYDRA_NODE["node"]
    with read_write(full.hydra), open_dict(full.hydra):
        full.hydra.runtime.output_dir = os.path.abspath(output_dir)
        full.hydra.job.name = job_name
        full.hydra.job.num = number
        full.hydra.job.id = str(number)
    previous = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(full)
    try:
        yield
    finally:
        HydraConfig.instance().cfg = previous
