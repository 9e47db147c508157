"""The writer process a launch starts ahead of its tracker (`MlflowTracker.warm_up`): one spare at most,
taken once by the next tracker, and never a dead one. (That a spare writes nothing before its
settings arrive is checked end to end: test_bad_input's launches refused after the warm-up create
no file.)"""

from __future__ import annotations

import pytest

from sweeper.tracking.mlflow import tracker as tracker_mod


@pytest.fixture
def started():
    """The writer processes a test starts, stopped at its end (killed: they may still be importing MLflow)."""
    procs: list = []
    yield procs
    tracker_mod._spare = None
    for p in procs:
        p.kill()
        p.join(10)


def test_one_spare_at_most_taken_once_and_never_dead(started) -> None:
    tracker_mod.MlflowTracker.warm_up()
    spare = tracker_mod._spare
    assert spare is not None and spare.proc.is_alive()
    started.append(spare.proc)
    tracker_mod.MlflowTracker.warm_up()  # a second launch in the same process, before the first took it
    assert tracker_mod._spare is spare
    assert tracker_mod._writer() is spare and tracker_mod._spare is None

    tracker_mod.MlflowTracker.warm_up()
    dead = tracker_mod._spare
    assert dead is not None and dead is not spare
    started.append(dead.proc)
    dead.proc.kill()
    dead.proc.join(10)
    fresh = tracker_mod._writer()  # the dead spare is dropped for a new process
    started.append(fresh.proc)
    assert fresh is not dead and fresh.proc.is_alive() and tracker_mod._spare is None
