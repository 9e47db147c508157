"""A trial's training config: the base config (if any) composed with the trial's params, by Hydra."""

from __future__ import annotations

import os
import re
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
