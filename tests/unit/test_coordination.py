"""Drivers sharing a sweep: leases, liveness, orphaned trials, reclaiming them, the shared budget."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from fakes import FakeClock, sqlite_storage
from optuna.distributions import FloatDistribution
from optuna.samplers import RandomSampler
from optuna.storages import RDBStorage
from optuna.trial import TrialState, create_trial

from sweeper.state import attrs, coordination, store
from sweeper.state.coordination import Lease, alive, budget_left, live_leases, orphans, reclaim, surplus

DIST = {"x": FloatDistribution(0.0, 1.0)}
HOST = socket.gethostname()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """coordination's wall clock, frozen at the real time and moved only by the test."""
    c = FakeClock(start=time.time())
    monkeypatch.setattr(coordination, "time", SimpleNamespace(time=c.now))
    return c


def dead_pid() -> int:
    """A pid no process has now (the highest free one: the kernel hands pids out upwards)."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    return next(p for p in range(pid_max - 1, 1, -1) if not os.path.exists(f"/proc/{p}"))


def memory_study() -> Any:
    return optuna.create_study(sampler=RandomSampler(seed=0))


# --- the lease --------------------------------------------------------------------------------
def test_renew_writes_who_holds_what_until_when(clock: FakeClock) -> None:
    study = memory_study()
    lease = Lease(study)
    assert lease.key == attrs.LEASE_PREFIX + lease.id
    lease.renew([5, 2], force=True)
    info = study.user_attrs[lease.key]
    assert info["host"] == HOST and info["pid"] == os.getpid()
    assert info["start"] == coordination._proc_start(os.getpid()) != ""
    assert info["expires"] == clock.now() + coordination.EXPIRE_S
    assert info["trials"] == [2, 5]
    assert alive(info, clock.now())


def test_renew_writes_every_renew_s_and_within_a_second_of_a_change(clock: FakeClock) -> None:
    study = memory_study()
    lease = Lease(study)
    lease.renew([1], force=True)
    first = study.user_attrs[lease.key]

    clock.advance(0.5)
    lease.renew([1])
    lease.renew([1, 2])  # a change, but less than a second since the last write
    assert study.user_attrs[lease.key] == first

    clock.advance(0.6)
    lease.renew([1, 2])  # a change, over a second later: written
    second = study.user_attrs[lease.key]
    assert second["trials"] == [1, 2] and second["expires"] == clock.now() + coordination.EXPIRE_S

    clock.advance(coordination.RENEW_S - 0.1)
    lease.renew([1, 2])  # no change: not before RENEW_S
    assert study.user_attrs[lease.key] == second
    clock.advance(0.1)
    lease.renew([2, 1])
    assert study.user_attrs[lease.key]["expires"] == clock.now() + coordination.EXPIRE_S


def test_a_released_lease_is_not_alive(clock: FakeClock) -> None:
    study = memory_study()
    lease = Lease(study)
    lease.renew([3], force=True)
    lease.release()
    assert study.user_attrs[lease.key] == {"released": True}
    assert not alive(study.user_attrs[lease.key], clock.now())


def test_two_leases_never_share_a_key() -> None:
    study = memory_study()
    assert Lease(study).key != Lease(study).key


# --- liveness ---------------------------------------------------------------------------------
def test_on_this_host_a_dead_pid_is_dead_at_once_whatever_its_expiry() -> None:
    now = time.time()
    assert not alive({"host": HOST, "pid": dead_pid(), "expires": now + 1000}, now)
    assert not alive({"host": HOST, "pid": 0, "expires": now + 1000}, now)


def test_on_this_host_a_live_pid_is_alive_even_past_its_expiry() -> None:
    now = time.time()
    start = coordination._proc_start(os.getpid())
    assert alive({"host": HOST, "pid": os.getpid(), "start": start, "expires": now - 1000}, now)
    assert alive({"host": HOST, "pid": os.getpid(), "expires": now - 1000}, now)  # no start recorded


def test_on_this_host_a_recycled_pid_is_dead() -> None:
    now = time.time()
    assert not alive({"host": HOST, "pid": os.getpid(), "start": "1", "expires": now + 1000}, now)


def test_from_another_host_a_lease_lives_until_it_expires() -> None:
    now = 5000.0
    other = {"host": HOST + "-elsewhere", "pid": dead_pid(), "expires": now + 1}
    assert alive(other, now)
    assert not alive(other, now + 1)
    assert not alive({**other, "released": True}, now)


def test_live_leases_lists_the_other_live_drivers_only() -> None:
    study = memory_study()
    now = time.time()
    elsewhere = {"host": HOST + "-elsewhere", "pid": 7, "expires": now + 1000, "trials": [4]}
    study.set_user_attr(attrs.LEASE_PREFIX + "own", {"host": HOST, "pid": os.getpid(), "expires": now + 1000})
    study.set_user_attr(attrs.LEASE_PREFIX + "other", elsewhere)
    study.set_user_attr(attrs.LEASE_PREFIX + "expired", {**elsewhere, "expires": now - 1})
    study.set_user_attr(attrs.LEASE_PREFIX + "released", {"released": True})
    study.set_user_attr(attrs.LEASE_PREFIX + "dead", {"host": HOST, "pid": dead_pid(), "expires": now + 1000})
    study.set_user_attr(attrs.LEASE_PREFIX + "garbage", "not a lease")
    study.set_user_attr("sweeper.something_else", elsewhere)
    assert live_leases(study, attrs.LEASE_PREFIX + "own") == [elsewhere]


# --- orphans ----------------------------------------------------------------------------------
def running_study(n_running: int) -> tuple[Any, list[Any]]:
    study = memory_study()
    study.add_trial(create_trial(params={"x": 0.5}, distributions=DIST, value=0.5))  # 0: finished
    trials = [study.ask(DIST) for _ in range(n_running)]  # 1..n: RUNNING
    return study, trials


def test_a_running_trial_no_live_lease_holds_is_an_orphan(clock: FakeClock) -> None:
    study, _ = running_study(3)
    assert [t.number for t in orphans(study, [], own_running={3})] == [1, 2]
    held = [{"trials": [2]}]
    clock.advance(3 * coordination.RENEW_S + 1)
    assert [t.number for t in orphans(study, held, own_running={3})] == [1]


def test_with_other_drivers_alive_a_just_started_trial_is_not_yet_an_orphan(clock: FakeClock) -> None:
    """Another driver may have started it since its last renewal: it gets 3 renewals' grace."""
    study, _ = running_study(1)
    held = [{"trials": []}]
    assert orphans(study, held, own_running=set()) == []
    clock.advance(3 * coordination.RENEW_S + 1)
    assert [t.number for t in orphans(study, held, own_running=set())] == [1]


def test_reclaim_marks_orphans_interrupted_and_skips_what_finished_meanwhile(tmp_path: Path) -> None:
    storage = sqlite_storage(tmp_path)  # sweeper's read cache over SQLite, as a driver has it
    study = store.create(storage, "u", ["minimize"], RandomSampler(seed=0), None, {})
    # a driver that died (another process: its own storage) left two trials RUNNING
    dead = optuna.load_study(study_name="u", storage=RDBStorage(f"sqlite:///{tmp_path}/s.db"))
    a, b = dead.ask(DIST), dead.ask(DIST)
    found = orphans(study, [], own_running=set())
    assert [t.number for t in found] == [0, 1]
    dead.tell(b, 0.1)  # ... one of them was not dead after all, and finished

    completed: list[int] = []
    assert reclaim(study, storage, found, lambda t: completed.append(t.number)) == [0]
    assert completed == [0, 1]  # params are completed first, for every candidate
    # the storage was refreshed: our next read sees the states just written
    t0, t1 = study.get_trials(deepcopy=False)
    assert t0.state == TrialState.FAIL
    assert t0.user_attrs[attrs.INTERRUPTED] is True
    assert t0.user_attrs[attrs.ERROR] == "interrupted: its driver stopped while it ran"
    assert t1.state == TrialState.COMPLETE and attrs.INTERRUPTED not in t1.user_attrs
    c = store.counts([t0, t1])
    assert (c.interrupted, c.failed, c.complete) == (1, 0, 1)
    assert a.number == 0


# --- the shared budget ------------------------------------------------------------------------
def mixed_study() -> Any:
    study = memory_study()
    for state, ua in [(TrialState.COMPLETE, {}), (TrialState.COMPLETE, {}), (TrialState.PRUNED, {}),
                      (TrialState.FAIL, {attrs.ERROR: "E"}), (TrialState.FAIL, {attrs.INTERRUPTED: True})]:
        study.add_trial(create_trial(state=state, params={"x": 0.5}, distributions=DIST,
                                     value=0.5 if state == TrialState.COMPLETE else None, user_attrs=ua))
    study.ask(DIST)  # 5: RUNNING
    study.enqueue_trial({"x": 0.1})  # 6: WAITING
    return study


def test_budget_left_counts_every_drivers_trials_but_interruptions() -> None:
    # finished: 2 complete + 1 pruned + 1 failed; running: 1 running + 1 waiting; the interrupted one is owed
    assert budget_left(mixed_study(), 10) == 10 - 4 - 2
    assert budget_left(mixed_study(), 6) == 0


class Refreshing:
    def __init__(self) -> None:
        self.refreshes = 0

    def refresh(self) -> None:
        self.refreshes += 1


def test_surplus_the_higher_numbered_of_two_last_trials_yields() -> None:
    study = mixed_study()
    storage = Refreshing()
    # trials before 5: 4 count (complete, complete, pruned, failed), the interrupted one does not
    assert not surplus(study, storage, 5, target=5)
    assert surplus(study, storage, 5, target=4)
    # before 6, the running trial 5 counts too
    assert surplus(study, storage, 6, target=5)
    assert not surplus(study, storage, 6, target=6)
    assert storage.refreshes == 4  # each check reads every agent's latest writes


def test_surplus_works_on_a_storage_without_refresh() -> None:
    study = mixed_study()
    assert surplus(study, object(), 6, target=5)
