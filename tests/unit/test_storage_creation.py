"""Creating a storage file never replaces one that another process created meanwhile, and a second
creation of one study is refused in one line.

Two launches at once in a fresh folder both see no `.sweeps/sweeps.db`, both build one aside, and
both used to move theirs into place, the second replacing the first's database while it ran trials
in it. tests/test_same_name_race.py races real launches (before the fix, 2 races of 4 ended with a
traceback and lost trials); these pin the two rules the fix rests on."""

from __future__ import annotations

from pathlib import Path

import optuna

from sweeper.files import place_new_file
from sweeper.state import store


def test_place_new_file_keeps_the_first_and_removes_the_side_file(tmp_path: Path) -> None:
    first, side = tmp_path / "f", tmp_path / "f.init-1"
    first.write_text("first")
    side.write_text("second")
    place_new_file(str(side), str(first))
    assert first.read_text() == "first" and not side.exists()
    fresh = tmp_path / "g"
    side.write_text("new")
    place_new_file(str(side), str(fresh))
    assert fresh.read_text() == "new" and not side.exists()


def test_two_creations_of_one_study_refuse_the_second_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    storage = store.open_storage(url, create_dirs=True)
    store.create(storage, "race", ["minimize"], optuna.samplers.RandomSampler(), None, {})
    other = store.open_storage(url)
    try:
        store.create(other, "race", ["minimize"], optuna.samplers.RandomSampler(), None, {})
    except store.SweepError as e:
        assert "already exists" in str(e) and "\n" not in str(e)
    else:
        raise AssertionError("a second creation of the same study was not refused")


def test_optunas_fallback_notice_is_dropped_so_a_lost_database_stays_one_line() -> None:
    """Optuna's RDB storage logs 'Caught an error from sqlalchemy ... Falling back' (with the SQL)
    when a trial query fails; a PostgreSQL server stopped mid-query made that seven lines before
    sweeper's one (test_storage_faults). Its other warnings still get through."""
    import logging

    store._quiet()
    store._quiet()  # idempotent: one filter
    rdb = logging.getLogger("optuna.storages._rdb.storage")
    assert rdb.filters.count(store._NOTICE_FILTER) == 1

    def record(msg: str) -> logging.LogRecord:
        return rdb.makeRecord(rdb.name, logging.WARNING, __file__, 1, msg, None, None)

    assert not rdb.filter(record("Caught an error from sqlalchemy: (psycopg.errors.AdminShutdown) ... "
                                 "Falling back to a slower alternative."))
    assert rdb.filter(record("some other warning"))
