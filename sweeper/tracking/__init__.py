"""Trackers: the views of a sweep (MLflow today). `Tracker` (base.py) is the contract.

`TRACKERS` maps a name to a loader of a tracker class; adding one is a module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .base import Memo, Tracker, Trackers


def _mlflow() -> type[Tracker]:
    from .mlflow.tracker import MlflowTracker

    return MlflowTracker


#: the trackers every sweep gets, by name: each entry returns its `Tracker` class, imported only then
#: (`sweep --help` imports no tracker); a sweep makes each as cls(spec, memo, uid)
TRACKERS: dict[str, Callable[[], type[Tracker]]] = {"mlflow": _mlflow}


def tracker_classes(extra: Iterable[type[Tracker]] = ()) -> list[tuple[str, type[Tracker]]]:
    """(name, class) of every registered tracker, then of the `extra` classes a caller brings."""
    return [(name, load()) for name, load in TRACKERS.items()] + [(cls.name, cls) for cls in extra]


def warm_up(extra: Iterable[type[Tracker]] = ()) -> None:
    """Let every tracker start its slow part now (`Tracker.warm_up`), overlapping the driver's own start."""
    for _, cls in tracker_classes(extra):
        cls.warm_up()


__all__ = ["TRACKERS", "Memo", "Tracker", "Trackers", "tracker_classes", "warm_up"]
