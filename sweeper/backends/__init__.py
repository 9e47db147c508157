"""Backends place and run trials: local worker processes (`local.py`) or Ray actors (`ray.py`).

`Backend` (base.py) is the contract; `BACKENDS` maps a sweep's `backend.type` to a factory, so
adding a backend is one module plus one line here (and its keys in `config/schema.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..config.spec import SweepSpec
from .base import Backend


def _local(spec: SweepSpec) -> Backend:
    from . import gpus
    from .local import LocalBackend

    slots = gpus.plan(spec, spec.workers)
    backend = LocalBackend(len(slots), spec.workdir, slots, spec.sweep_dir)
    backend.warnings += gpus.shortfall(spec, len(slots), os.cpu_count() or 1)
    return backend


def _ray(spec: SweepSpec) -> Backend:
    from .ray import RayBackend

    return RayBackend(spec)


BACKENDS: dict[str, Callable[[SweepSpec], Backend]] = {"local": _local, "ray": _ray}


def make_backend(spec: SweepSpec) -> Backend:
    return BACKENDS[spec.backend.type](spec)


__all__ = ["BACKENDS", "Backend", "make_backend"]
