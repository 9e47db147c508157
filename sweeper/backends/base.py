"""What the driver may ask of a backend: place trials in slots, relay their reports, say how they ended.

A backend owns `n` slots (a local worker process, a Ray actor, ...). The driver submits a `Task`
to a free slot and polls `wait` for `BackendEvent`s: `Reported` (the trial's `sweeper.report`,
answered with `reply` when a pruner judges it), `Done` with the worker's `TrialOutcome`, or `Died`
when the slot's process ended without one. Backends only place and run trials: the study, the
pruner and the trackers are the driver's. Modelled on Syne Tune's `TrialBackend`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..messages import BackendEvent, SlotInfo, Task


class Backend(ABC):
    name: str = ""
    #: slots: trials that can run at once (known once constructed)
    n: int = 0
    #: where a trial's attempts keep checkpoints when the backend has a folder every host sees
    checkpoint_root: str | None = None

    def __init__(self) -> None:
        #: things the user should hear at launch (said once, by the caller)
        self.warnings: list[str] = []
        #: modules a slot may import before its first trial (what the trackers' view hooks need),
        #: set by the caller before `start`; a backend that cannot is free to ignore it

    @abstractmethod
    def start(self) -> None:
        """Bring up the slots (processes, actors)."""

    @abstractmethod
    def slot_info(self, slot: int) -> SlotInfo:
        """Where slot `slot` runs its trials."""

    @abstractmethod
    def check_function(self, target: str) -> str | None:
        """Import `module:callable` where trials run (never in the driver); the problem, or None."""

    @abstractmethod
    def submit(self, slot: int, task: Task) -> None:
        """Start `task` in the free slot `slot`."""

    @abstractmethod
    def reply(self, slot: int, prune: bool) -> None:
        """Answer the last `Reported` of the trial in `slot`."""

    @abstractmethod
    def kill(self, slot: int, why: str) -> None:
        """Stop the trial in `slot` now; its `Died` event carries `why`."""

    @abstractmethod
    def wait(self, timeout: float) -> list[BackendEvent]:
        """What happened since the last call, waiting up to `timeout` s for something."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop every slot and release what `start` took."""
