"""Which trials run again, and as what: retries of self-crashes and re-runs of interrupted trials.

A trial that crashed by itself is retried up to `trial.retries` times; one cut off by an
interruption (Ctrl-C, a killed driver) is re-run without using up a retry. Either way the new
attempt is a new trial enqueued with the same params, chained to the first by `attrs.ATTEMPT_ROOT`
(which names the checkpoint folder every attempt shares). The queue is rebuilt from the study on
resume, so nothing here lives only in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..state import attrs


@dataclass
class Attempt:
    params: dict[str, Any]
    retry_of: int  # the trial this attempt repeats
    root: int  # the first attempt's number
    attempt: int  # 1 for the first retry of a crash; an interruption keeps the count


class RetryQueue:
    def __init__(self) -> None:
        self.items: list[Attempt] = []

    def __len__(self) -> int:
        return len(self.items)

    def pop(self) -> Attempt | None:
        return self.items.pop(0) if self.items else None

    def queued(self) -> set[int]:
        return {a.retry_of for a in self.items}

    def add(self, params: dict[str, Any], retry_of: int, root: int, attempt: int) -> None:
        self.items.append(Attempt(dict(params), retry_of, root, attempt))

    def restore(self, trials: list[Any]) -> None:
        """On (re)start: every failed trial still owed a re-run, and not re-run yet, in trial order."""
        from optuna.trial import TrialState

        retried = {int(t.user_attrs[attrs.RETRY_OF]) for t in trials if attrs.RETRY_OF in t.user_attrs}
        for t in trials:
            ua = t.user_attrs
            if t.state != TrialState.FAIL or t.number in retried or ua.get(attrs.NO_RETRY):
                continue
            if ua.get(attrs.INTERRUPTED) or ua.get(attrs.RETRIED):
                self.add(t.params, t.number, int(ua.get(attrs.ATTEMPT_ROOT, t.number)),
                         int(ua.get(attrs.ATTEMPT, 0)) + (0 if ua.get(attrs.INTERRUPTED) else 1))

    def add_interrupted(self, trials: list[Any], numbers: list[int]) -> None:
        """Orphans just reclaimed: re-run each once, with the attempt count it had."""
        queued = self.queued()
        for t in trials:
            if t.number in numbers and t.number not in queued and not t.user_attrs.get(attrs.NO_RETRY):
                self.add(t.params, t.number, int(t.user_attrs.get(attrs.ATTEMPT_ROOT, t.number)),
                         int(t.user_attrs.get(attrs.ATTEMPT, 0)))

    @staticmethod
    def user_attrs(a: Attempt) -> dict[str, Any]:
        """What the enqueued trial carries: the chain back to its first attempt."""
        return {attrs.RETRY_OF: a.retry_of, attrs.ATTEMPT_ROOT: a.root, attrs.ATTEMPT: a.attempt}
