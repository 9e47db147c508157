"""A trial that trains what another sweep's trial of the same number trained.

`early_stop.py` runs hyperband on the unpruned sweep's own configurations, in the same order, with
this as the trial function. Its result then measures the pruner's decisions alone: which trials it
stopped and whether the best survived. In a normal pruned sweep TPE proposes other configurations
once it learns from pruned trials, and that difference is the sampler's, not the pruner's.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

from omegaconf import OmegaConf

import sweeper

PLAN = "replay.json"  # beside this file: {"trial": "module:function", "params": [params of trial 0, 1, ...]}


def train(cfg: Any) -> Any:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), PLAN)) as f:
        plan = json.load(f)
    n = sweeper.trial_number()
    if n is None or n >= len(plan["params"]):
        raise RuntimeError(f"replay: no configuration for trial {n} ({len(plan['params'])} in {PLAN})")
    module, _, function = plan["trial"].partition(":")
    return getattr(importlib.import_module(module), function)(OmegaConf.merge(cfg, plan["params"][n]))
