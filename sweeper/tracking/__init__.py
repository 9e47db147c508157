"""Trackers: the views of a sweep (MLflow today). `Tracker` (base.py) is the contract.

`TRACKERS` maps a name to a tracker class; adding one is a module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config.spec import SweepSpec
from .base import Memo, Tracker, Trackers


def _mlflow(spec: SweepSpec, memo: Memo, uid: str) -> Tracker:
    from .mlflow.tracker import MlflowTracker

    return MlflowTracker(spec, memo, uid)


#: the trackers every sweep gets; each is called as factory(spec, memo, uid)
TRACKERS: dict[str, Callable[[SweepSpec, Memo, str], Tracker]] = {"mlflow": _mlflow}

__all__ = ["TRACKERS", "Memo", "Tracker", "Trackers"]
