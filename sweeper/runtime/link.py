"""The worker's end of the trial channel, as trial runners see it (a socket locally, queues on Ray)."""

from __future__ import annotations

from typing import Protocol

from ..messages import ChildStarted, ViewOpened


class Link(Protocol):
    def send(self, msg: ChildStarted | ViewOpened) -> None:
        """Tell the backend something about the running trial (a command's process group, its views)."""

    def report(self, number: int, step: int, metrics: dict[str, float], wait: bool) -> bool:
        """Relay a report to the driver; with `wait`, block for the pruner's answer (True: prune)."""
        ...
