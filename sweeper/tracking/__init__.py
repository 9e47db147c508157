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


def _mlflow_warm_up() -> None:
    from .mlflow.tracker import warm_up

    warm_up()


#: the trackers every sweep gets; each is called as factory(spec, memo, uid)
TRACKERS: dict[str, Callable[[SweepSpec, Memo, str], Tracker]] = {"mlflow": _mlflow}
#: what a tracker may start ahead of its sweep (a launch calls these once its input is checked)
WARM_UPS: dict[str, Callable[[], None]] = {"mlflow": _mlflow_warm_up}


def warm_up() -> None:
    """Let every tracker start its slow part now, overlapping the driver's own start."""
    for start in WARM_UPS.values():
        start()


__all__ = ["TRACKERS", "WARM_UPS", "Memo", "Tracker", "Trackers", "warm_up"]
