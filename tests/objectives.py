"""Trial functions the tests sweep over (imported by worker processes, never by the driver)."""

from __future__ import annotations

import ctypes
import math
import os
import signal
import sys
import time

import sweeper


def quadratic(cfg):
    print(f"training x={cfg.x}")
    print("a warning on stderr", file=sys.stderr)
    return {"loss": (float(cfg.x) - 1.5) ** 2 + abs(int(cfg.y)), "aux": float(cfg.x) * 2}


def plain_float(cfg):
    return (float(cfg.x) - 1.0) ** 2


def curves(cfg):
    """Learning curves fixed by x: final (x-2)^2, approached as 3/(step+1)."""
    x = float(cfg.x)
    loss = None
    for step in range(int(cfg.get("max_steps", 9))):
        loss = (x - 2.0) ** 2 + 3.0 / (step + 1)
        sweeper.report(step=step, loss=loss, lr_seen=x)
    return {"loss": loss}


def faulty(cfg):
    """Each `mode` fails its own way; x keeps the trial otherwise ordinary."""
    mode = str(cfg.mode)
    if mode == "ok":
        return {"loss": float(cfg.x)}
    if mode == "raise":
        raise ValueError("bad hyperparameters: x is cursed")
    if mode == "segfault":
        ctypes.string_at(0)
    if mode == "exit":
        os._exit(3)
    if mode == "oom":  # what the kernel's OOM killer does to a process
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "hang":
        time.sleep(600)
    if mode == "nometric":
        return {"accuracy": 0.5}
    if mode == "isnan":
        return {"loss": math.nan}
    raise AssertionError(mode)


def slow(cfg):
    for step in range(40):
        time.sleep(0.1)
        sweeper.report(step=step, loss=float(cfg.x) + 1.0 / (step + 1))
    return {"loss": float(cfg.x)}


def with_config(cfg):
    """Reads nested keys of a base training config that the params override."""
    return {"loss": float(cfg.optim.lr) * int(cfg.model.layers) + (0.0 if cfg.data.name == "digits" else 1.0)}


def trivial(cfg):
    return {"loss": float(cfg.x) ** 2}
