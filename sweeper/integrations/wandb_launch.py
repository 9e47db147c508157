"""A W&B trial, started as W&B's agent starts a run: its command's macros expanded, its params in the
environment and a param file, `wandb` offline and bridged to sweeper.

Run as `python -m sweeper.integrations.wandb_launch PLAN key=value ...`: PLAN (base64 JSON from the
W&B dialect) holds the command, the program and the transforms of parameters Optuna cannot model
directly; the `key=value` items are the trial's params as sweeper passes every command trial.
It computes W&B's values, writes what the agent writes, and `exec`s the command: same process,
same process group, so pruning and timeouts reach the program itself.
"""

from __future__ import annotations

import base64
import json
import math
import os
import platform
import re
import sys
from typing import Any

BRIDGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wandb_site")


def parse_value(text: str) -> Any:
    """A `key=value` value as sweeper's `format_value` wrote it (Hydra's grammar)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(f"p={text}").value()


def ppf(t: dict[str, Any], u: float) -> Any:
    """W&B's `HyperParameter.ppf(u)` for the distributions Optuna lacks (sweeps/params.py)."""
    from statistics import NormalDist

    d = t["distribution"]
    u = min(max(u, 1e-12), 1 - 1e-12)
    if d == "index":
        return t["values"][min(int(u), len(t["values"]) - 1)]
    if d == "categorical_w_probabilities":
        acc = 0.0
        for v, p in zip(t["values"], t["probabilities"], strict=True):
            acc += p
            if u < acc:
                return v
        return t["values"][-1]
    lo, hi = t.get("min"), t.get("max")
    if d in ("inv_log_uniform", "inv_log_uniform_values"):
        if d.endswith("_values"):
            lo, hi = math.log(1 / hi), math.log(1 / lo)  # sweeps' config fill: min/max of -log(value)
        return math.exp(-(lo + (1 - u) * (hi - lo)))
    if d in ("q_log_uniform", "q_log_uniform_values"):
        if d.endswith("_values"):
            lo, hi = math.log(lo), math.log(hi)
        r = math.exp(lo + u * (hi - lo))
    elif d in ("normal", "q_normal"):
        r = NormalDist(t["mu"], t["sigma"]).inv_cdf(u)
    elif d in ("log_normal", "q_log_normal"):
        r = math.exp(NormalDist(t["mu"], t["sigma"]).inv_cdf(u))
    elif d in ("beta", "q_beta"):
        from scipy import stats  # as W&B's engine does; beta has no closed-form inverse

        r = float(stats.beta.ppf(u, a=t["a"], b=t["b"]))
    else:
        raise ValueError(f"unknown distribution {d!r}")
    if not d.startswith("q_"):
        return r
    q = t["q"]
    v = round(r / q) * q
    return int(v) if isinstance(q, int) else v


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, v in flat.items():
        node = out
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def agent_args(values: dict[str, Any]) -> dict[str, list[str]]:
    """The argument macros as wandb's agent builds them (`sweeps.utils.create_sweep_command_args`):
    `str()` of each value (`True`, `0.001`, `{'depth': 4}`), booleans as bare flags (false ones
    left out) in `args_no_boolean_flags`, one JSON item in `args_json`."""
    out: dict[str, list[str]] = {m: [] for m in ("args", "args_no_equals", "args_no_hyphens", "args_no_boolean_flags",
                                                 "args_append_hydra", "args_override_hydra")}
    for k, v in values.items():
        flag = f"{k}={v}"
        out["args"].append("--" + flag)
        out["args_no_hyphens"].append(flag)
        out["args_no_equals"] += [f"--{k}", str(v)]
        out["args_append_hydra"].append("+" + flag)
        out["args_override_hydra"].append("++" + flag)
        if not isinstance(v, bool):
            out["args_no_boolean_flags"].append("--" + flag)
        elif v:
            out["args_no_boolean_flags"].append("--" + k)
    out["args_json"] = [json.dumps(values)]
    return out


_ENVVAR = re.compile(r"\$\{envvar\:([A-Z0-9_]*)\}")


def expand(command: list[str], program: str | None, values: dict[str, Any], json_file: str) -> list[str]:
    """The argv as wandb's agent builds it: `${envvar:NAME}` replaced anywhere (by NAME when unset),
    then each item that is a whole macro replaced by its list; `${interpreter}` is the sweep's Python
    (the agent's is `python` on PATH)."""
    macros: dict[str, list[str]] = {**agent_args(values), "interpreter": [sys.executable],
                                    "program": [program or ""], "args_json_file": [json_file],
                                    "env": ["/usr/bin/env"] if platform.system() != "Windows" else []}
    argv: list[str] = []
    for item in command:
        item = _ENVVAR.sub(lambda m: os.environ.get(m.group(1), m.group(1)), str(item))
        if item.startswith("${") and item.endswith("}"):
            argv += macros.get(item[2:-1]) or []
        else:
            argv.append(item)
    return argv


def main(argv: list[str]) -> None:
    plan = json.loads(base64.urlsafe_b64decode(argv[0]))
    flat: dict[str, Any] = {}
    for item in argv[1:]:
        k, _, text = item.partition("=")
        v = parse_value(text)
        t = plan["params"].get(k)
        flat[k] = ppf(t, float(v)) if t is not None else v
    values = nest(flat)
    out_dir = os.path.abspath(os.environ.get("SWEEPER_TRIAL_DIR") or ".")
    run_id = f"{plan['sweep']}-{os.environ.get('SWEEPER_TRIAL', '0')}"
    wdir = os.path.join(os.environ.get("SWEEPER_CHECKPOINT_DIR") or out_dir, "wandb-agent")
    os.makedirs(wdir, exist_ok=True)
    json_file = os.path.join(wdir, f"config-{run_id}.json")
    if "${args_json_file}" in plan["command"]:
        with open(json_file, "w") as f:
            f.write(json.dumps(values))
    param_file = os.path.join(wdir, f"config-{run_id}.yaml")
    with open(param_file, "w") as f:  # what the agent writes: {name: {value: v}}, JSON being YAML
        json.dump({k: {"value": v} for k, v in values.items()}, f)
    env = dict(os.environ)
    env.update({"WANDB_MODE": env.get("WANDB_MODE", "offline"), "WANDB_SWEEP_ID": plan["sweep"],
                "WANDB_RUN_ID": run_id, "WANDB_SWEEP_PARAM_PATH": param_file,
                "WANDB_DIR": env.get("WANDB_DIR", wdir), "WANDB_SILENT": env.get("WANDB_SILENT", "true"),
                "SWEEPER_WANDB": "1"})
    if plan.get("project"):
        env.setdefault("WANDB_PROJECT", str(plan["project"]))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (BRIDGE_DIR, env.get("PYTHONPATH", "")) if p)
    os.environ.update(env)
    cmd = expand(plan["command"], plan.get("program"), values, json_file)
    sys.stdout.flush()
    os.execvpe(cmd[0], cmd, env)


if __name__ == "__main__":
    main(sys.argv[1:])
