"""Drivers sharing one sweep: leases, orphaned trials and the shared trial budget.

Each running driver (`sweep launch`/`resume`, or `sweep agent`) keeps a lease in the study: a study user attr
`sweeper.agent.<id>` with host, pid, the process's start time, when it expires, and the trials it
runs. A RUNNING trial that no live lease holds was cut off (SIGKILL, power loss): `reclaim` marks
it interrupted, to be re-run. On the lease's own host, a dead pid is seen at once, so a resume
re-runs interrupted trials within seconds; from another host, once the lease expires. With other
drivers alive, `n_trials` is a budget all of them share: `budget_left` and `surplus` count every
driver's trials.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from . import attrs
from .store import counts

PREFIX = attrs.LEASE_PREFIX
RENEW_S = 3.0
EXPIRE_S = 30.0


def _proc_start(pid: int) -> str:
    """The kernel's start time of `pid`, so a recycled pid is not mistaken for the old process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def alive(info: dict[str, Any], now: float | None = None) -> bool:
    if info.get("released"):
        return False
    now = time.time() if now is None else now
    if info.get("host") == socket.gethostname():
        pid = int(info.get("pid", 0))
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return not info.get("start") or _proc_start(pid) == info.get("start")
    return float(info.get("expires", 0)) > now


class Lease:
    def __init__(self, study: Any) -> None:
        self.study = study
        self.id = uuid.uuid4().hex[:12]
        self.key = PREFIX + self.id
        self._last = 0.0
        self._trials: list[int] = []
        self.peers: list[str] = []  # the other drivers' lease ids this driver has seen

    def renew(self, running: list[int], force: bool = False, peers: list[str] | None = None) -> None:
        """Refresh the lease every RENEW_S, within a second of a change in its trials, and at once
        when it sees a new peer (the joining driver waits for that acknowledgement)."""
        now = time.time()
        running = sorted(running)
        if peers is not None and sorted(peers) != self.peers:
            self.peers, force = sorted(peers), True
        due = now - self._last >= (1.0 if running != self._trials else RENEW_S)
        if not (force or due):
            return
        self.study.set_user_attr(self.key, {"host": socket.gethostname(), "pid": os.getpid(),
                                            "start": _proc_start(os.getpid()), "expires": now + EXPIRE_S,
                                            "trials": running, "id": self.id, "peers": self.peers})
        self._last, self._trials = now, running

    def release(self) -> None:
        self.study.set_user_attr(self.key, {"released": True})


def live_leases(study: Any, own_key: str) -> list[dict[str, Any]]:
    """The leases of the other drivers (agents, other hosts) working on this sweep right now."""
    now = time.time()
    return [v for k, v in study.user_attrs.items()
            if k.startswith(PREFIX) and k != own_key and isinstance(v, dict) and alive(v, now)]


def acknowledged(lease: Lease, live: list[dict[str, Any]]) -> bool:
    """Whether every other live driver has seen `lease` (lists it among its peers): until then, one
    of them may still count the budget as its own. Leases of drivers too old to list peers count
    as acknowledged."""
    return all(lease.id in v.get("peers", []) for v in live if "peers" in v)


def orphans(study: Any, live: list[dict[str, Any]], own_running: set[int]) -> list[Any]:
    """RUNNING trials that no live driver holds: cut off by an interruption."""
    from optuna.trial import TrialState

    now = time.time()
    held = {int(n) for v in live for n in v.get("trials", [])}
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.number in own_running or t.number in held:
            continue
        started = t.datetime_start.timestamp() if t.datetime_start else 0.0
        # with another driver alive, a trial it started since its last renewal is not listed yet
        if live and now - started < 3 * RENEW_S:
            continue
        out.append(t)
    return out


def reclaim(study: Any, storage: Any, orphaned: list[Any], complete_params: Callable[[Any], None]) -> list[int]:
    """Mark `orphaned` trials interrupted (FAIL, not counted) so they are re-run; returns their numbers.

    `complete_params` first gives a trial cut off inside `ask` the params it lacked, so its retry
    runs the very params the study records for it.
    """
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    found = []
    for t in orphaned:
        try:
            complete_params(t)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            storage.set_trial_user_attr(trial_id, attrs.INTERRUPTED, True)
            storage.set_trial_user_attr(trial_id, attrs.ERROR, "interrupted: its driver stopped while it ran")
            # the storage's own (public) write: no sampler hook runs for a trial nobody ran to its end
            if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                continue
        except Exception:  # finished meanwhile by a driver that was alive after all
            continue
        found.append(t.number)
    if found and hasattr(storage, "refresh"):
        storage.refresh()  # our reads must see the states just written
    return found


def budget_left(study: Any, target: int) -> int:
    """Trials still to start when several drivers share `target` (every agent's trials count)."""
    c = counts(study.get_trials(deepcopy=False))
    return target - c.finished - c.running


def surplus(study: Any, storage: Any, number: int, target: int) -> bool:
    """Two agents may ask the last trial at once: the one with the higher number yields."""
    if hasattr(storage, "refresh"):
        storage.refresh()
    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < number]
    c = counts(earlier)
    return c.finished + c.running >= target
