"""The worker's end of the trial channel, as trial runners see it (a socket locally, queues on Ray)."""

from __future__ import annotations

from typing import Protocol

from ..messages import ChildStarted


class Link(Protocol):
    def send(self, msg: ChildStarted) -> None:
        """Tell the backend something about the running trial (a command's process group)."""

    def report(self, number: int, step: int, metrics: dict[str, float], wait: bool) -> bool:
        """Relay a report to the driver; with `wait`, block for the pruner's answer (True: prune)."""
        ...
