"""What the driver tells a tracker, and what a tracker may keep: the view's side of the seam.

A tracker shows a sweep somewhere (MLflow runs, a JSON-lines file, ...). It hears the sweep's
life from the driver as it happens, and can rebuild what it shows from the study (`sync`), which
stays the truth: a tracker that fails costs the view, never a result. What a tracker must find
again on resume (its run ids) it keeps in its `Memo`, which the study backs; nothing about a
tracker is the driver's business. Modelled on Syne Tune's `TunerCallback`.

Adding a tracker is one module with a `Tracker` subclass plus its entry in `TRACKERS`
(tracking/__init__.py); a caller of `sweeper.api.run` may also pass its own.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Protocol

from ..config.spec import SweepSpec
from ..messages import TrialFinished, TrialRecord, ViewHook

log = logging.getLogger("sweeper.tracking")


class Memo(Protocol):
    """A tracker's own small state, kept with the sweep (the study's user attrs)."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class Tracker(ABC):
    """Calls come from the driver's thread and must not block it (queue, batch, or be quick);
    `sweep_finished` alone may wait, for what is queued to be written."""

    name: str = ""

    def __init__(self, spec: SweepSpec, memo: Memo, uid: str) -> None:
        """`uid` is the sweep's random id (one per sweep, kept across resumes)."""
        self.spec, self.memo, self.uid = spec, memo, uid

    @abstractmethod
    def sweep_started(self, settings: dict[str, Any], resumed: bool) -> None:
        """The sweep (re)starts with these flat settings."""

    @classmethod  # noqa: B027 - optional: a tracker with nothing slow to start
    def warm_up(cls) -> None:
        """Optional, for a tracker with something slow to start. Called once a launch's input is
        checked, before any tracker is made: may start the tracker's slow part (a process, an
        import) so that it overlaps the driver's own start. Must create nothing a refused launch
        would leave behind."""

    def prepare(self) -> None:  # noqa: B027 - optional: a tracker that needs nothing before trials
        """Called once before the first trial is placed: may wait (bounded) until the view can take
        trials, so that `trial_hook` can hand out what trials need (MLflow: the store, the parent run)."""

    def trial_hooks(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> list[ViewHook]:
        """What the trial's worker should open before the trial's code runs (the trial's own view,
        its environment, with the trial's params in it from the start). Each hook's reference
        comes back through `trial_opened`."""
        return []

    def trial_opened(self, number: int, refs: dict[str, str | None],  # noqa: B027 - trackers with hooks
                     tags: dict[str, str]) -> None:
        """The worker ran trial `number`'s hooks: the reference of each, by tracker name (None: it
        failed), and the tags they learnt where the trial runs (its GPUs)."""

    @abstractmethod
    def trial_started(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> None:
        """Trial `number` was placed (tags: where it runs, what it retries). Called after `trial_hook`."""

    @abstractmethod
    def trial_reported(self, number: int, step: int, metrics: dict[str, float]) -> None:
        """Trial `number` reported metrics at `step`."""

    @abstractmethod
    def trial_finished(self, trial: TrialFinished) -> None:
        """Trial `number` ended; `trial.best` says where the best stands now."""

    @abstractmethod
    def sync(self, records: list[TrialRecord]) -> None:
        """Make the view match the study for these finished trials (idempotent)."""

    def poll(self) -> None:  # noqa: B027 - optional: most trackers have nothing to do between events
        """Called on every turn of the driver's loop: a chance to persist state, without blocking."""

    def sweep_report(self, files: list[str], metrics: dict[str, float]) -> None:  # noqa: B027 - optional
        """The sweep's report (an HTML page, PNG previews) and its figures (parameter importances),
        made when the sweep ends or is synced: before `sweep_finished`."""

    @abstractmethod
    def sweep_finished(self, state: str | None, tags: dict[str, str]) -> None:
        """The sweep ended as `state` (None: leave the view's state as it is); flush and close."""

    @property
    def problems(self) -> list[str]:
        """What the user should hear after the sweep (the view was unavailable, writes failed)."""
        return []

    @property
    def failed_writes(self) -> int:
        """Writes that did not reach the view: `sweep sync` can rebuild them from the study."""
        return 0

    def where(self) -> str | None:
        """One line telling the user where to look."""
        return None

    def reference(self) -> str | None:
        """What identifies this sweep in the view (MLflow: the parent run id), once known."""
        return None


class Trackers(Tracker):
    """Several trackers as one: each hears every call; one's failure does not stop the others."""

    name = "trackers"

    def __init__(self, trackers: list[Tracker]) -> None:  # a fan-out: no spec, memo or uid of its own
        self.trackers = trackers
        self._errors = 0

    def _each(self, method: str, *args: Any) -> None:
        for t in self.trackers:
            try:
                getattr(t, method)(*args)
            except Exception as e:  # a tracker is a view: its bug must not end the sweep
                self._errors += 1
                log.warning("tracker %s failed in %s: %s", t.name, method, " ".join(str(e).split())[:300])

    def sweep_started(self, settings: dict[str, Any], resumed: bool) -> None:
        self._each("sweep_started", settings, resumed)

    def prepare(self) -> None:
        self._each("prepare")

    def trial_hooks(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> list[ViewHook]:
        hooks: list[ViewHook] = []
        for t in self.trackers:
            try:
                hooks += t.trial_hooks(number, params, tags)
            except Exception as e:  # no hook: the tracker opens the trial's view itself
                self._errors += 1
                log.warning("tracker %s failed in trial_hooks: %s", t.name, " ".join(str(e).split())[:300])
        return hooks

    def trial_opened(self, number: int, refs: dict[str, str | None], tags: dict[str, str]) -> None:
        self._each("trial_opened", number, refs, tags)

    def trial_started(self, number: int, params: dict[str, Any], tags: dict[str, str]) -> None:
        self._each("trial_started", number, params, tags)

    def trial_reported(self, number: int, step: int, metrics: dict[str, float]) -> None:
        self._each("trial_reported", number, step, metrics)

    def trial_finished(self, trial: TrialFinished) -> None:
        self._each("trial_finished", trial)

    def sync(self, records: list[TrialRecord]) -> None:
        self._each("sync", records)

    def poll(self) -> None:
        self._each("poll")

    def sweep_report(self, files: list[str], metrics: dict[str, float]) -> None:
        self._each("sweep_report", files, metrics)

    def sweep_finished(self, state: str | None, tags: dict[str, str]) -> None:
        self._each("sweep_finished", state, tags)

    @property
    def problems(self) -> list[str]:
        return [p for t in self.trackers for p in t.problems]

    @property
    def failed_writes(self) -> int:
        return self._errors + sum(t.failed_writes for t in self.trackers)

    def where(self) -> str | None:
        lines = [w for t in self.trackers if (w := t.where())]
        return "\n".join(lines) or None

    def references(self) -> dict[str, str]:
        return {t.name: ref for t in self.trackers if (ref := t.reference())}
