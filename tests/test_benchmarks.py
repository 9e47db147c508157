"""The benchmarks run at a tiny size, so they cannot rot (the full run is `make bench`)."""

from __future__ import annotations

import pytest
from helpers import import_benchmark as _bench


@pytest.mark.slow
def test_overhead_benchmark_runs_and_reports_ratios():
    overhead = _bench("overhead")
    times = overhead.measure(trials=3, repeats=1, workers=(2,))
    assert set(times) == {"textbook loop", "sweeper workers=2"}
    assert all(len(v) == 1 and v[0] > 0 for v in times.values())
    table = overhead.report(times, 3)
    assert "| textbook loop |" in table and "| sweeper workers=2 |" in table and "1.00x" in table
    assert table.count("\n") == 3


def test_learning_curves_fixed_by_seed_have_their_optimum_where_it_was_put():
    curves = _bench("curves")
    best = {"lr": 10 ** -2.3, "width": 128, "dropout": 0.3, "weight_decay": 1e-4}
    assert 0 <= curves.true_final(best) - curves.optimum() < 0.01  # the asymptote's minimum is where it was put
    assert curves.observed(best, 3, seed=1) == curves.observed(best, 3, seed=1) != curves.observed(best, 3, seed=2)


def test_the_real_training_table_is_looked_up_exactly_on_its_grid():
    table = _bench("table")
    t = table.load()
    assert len(t["rows"]) == len(t["curves"]) >= 200 and t["epochs"] == 27  # "a few hundred configurations"
    assert set(table.params()) == set(t["grid"]) and table.params()["width"] == "choice(16, 32, 64, 128)"
    row = t["rows"][7]
    cfg = dict(zip(t["params"], row[:-1], strict=True))
    assert table.lookup(cfg) == row[-1] and len(row[-1]) == 27
    assert table.lookup({k: str(v) for k, v in cfg.items()}) == row[-1]  # as a sweep may pass them
    with pytest.raises(KeyError, match="not in the table"):
        table.lookup({**cfg, "width": 48})  # off the grid: an error, never a neighbour's curve
    assert table.best_final() == min(r[-1][-1] for r in t["rows"])


class _Trial:
    def __init__(self, start: float, end: float | None, steps: int, value: float | None, state: str = "COMPLETE"):
        import datetime
        from types import SimpleNamespace

        at = datetime.datetime.fromtimestamp
        self.datetime_start, self.datetime_complete = at(start), (at(end) if end is not None else None)
        self.intermediate_values = dict.fromkeys(range(steps), 0.0)
        self.value, self.state = value, SimpleNamespace(name=state)


def test_steps_spent_count_overlapping_trials_as_consumed_evenly_and_only_completions_are_found():
    early_stop = _bench("early_stop")
    trials = [_Trial(0, 10, 10, 0.5),                     # runs alone for its first 5 s
              _Trial(5, 15, 10, 0.4),                     # overlaps it: half its steps consumed by t=10
              _Trial(6, 8, 2, 0.1, state="PRUNED"),       # its steps count, its value is not "found"
              _Trial(15, 25, 10, 0.3)]                    # completes past the budget: not counted
    assert early_stop.trace(trials, budget=25) == [(17.0, 0.5), (22.0, 0.4)]
    assert early_stop.trace(trials, budget=100) == [(17.0, 0.5), (22.0, 0.4), (32.0, 0.3)]
    points = early_stop.trace(trials, budget=100)
    assert early_stop.best_at(points, 16) == float("inf") and early_stop.best_at(points, 30) == 0.4


def _row(policy: str, seed: int, trace: list[list[float]], budget: int = 100) -> dict:
    return {"problem": "p", "policy": policy, "seed": seed, "workers": 1, "budget": budget, "epochs": 10,
            "wall": 1.0, "trials": 5, "completed": 3, "pruned": 2, "steps": budget, "trace": trace}


def test_the_speed_up_is_the_steps_to_the_unpruned_final_median_best_and_the_targets_are_judged():
    early_stop = _bench("early_stop")
    rows = [_row("none", 0, [[10, 0.5], [60, 0.3], [100, 0.2]]), _row("none", 1, [[10, 0.6], [90, 0.2]]),
            _row("none", 2, [[10, 0.4], [80, 0.25]]),
            _row("hyperband", 0, [[20, 0.3], [40, 0.2], [100, 0.1]]), _row("hyperband", 1, [[30, 0.15]]),
            _row("hyperband", 2, [[50, 0.9]]),
            _row("asha", 0, [[95, 0.9]]), _row("asha", 1, [[95, 0.9]]), _row("asha", 2, [[95, 0.9]])]
    s = early_stop.summarise(rows)
    assert s["none"]["target"] == 0.2  # the median over seeds of the unpruned final best
    # the unpruned median curve reaches 0.2 only at 100 steps (at 90 the seeds stand at 0.3, 0.2, 0.25);
    # hyperband's at 40 (0.2, 0.15, nothing yet)
    assert s["none"]["steps"] == 100 and s["none"]["speedup"] == 1.0
    assert s["hyperband"]["steps"] == 40 and s["hyperband"]["speedup"] == 100 / 40
    assert s["asha"]["steps"] is None and s["asha"]["speedup"] is None
    inf = float("inf")
    assert s["hyperband"]["at"][0.25] == (inf, inf, inf)  # only seed 0 found something by 25 steps
    assert s["hyperband"]["at"][0.5] == pytest.approx((0.175, 0.2, 0.55))
    assert s["hyperband"]["at"][1.0][1] == 0.15 and s["none"]["at"][0.5][1] == 0.5
    table = early_stop.table_md("p", 1, s, 100, 10)
    assert table.splitlines()[0].startswith("| p, 1 worker(s), budget 100 steps (10 epochs a trial), 3 seeds |")
    assert "| hyperband | 5 | 2 | none yet [none yet, none yet] | 0.2000 [0.1750, 0.5500] |" in table and table.endswith("| not in 100 | <1x | 0/3 |")
    assert "| 40 | 2.50x | 2/3 |" in table and "| 100 | 1.00x | 0/3 |" in table  # seed 2: 0.9 against 0.25
    four = early_stop.summarise([{**r, "workers": 4, "trace": [[x * (1.5 if r["policy"] == "asha" else 1), v]
                                                                 for x, v in r["trace"]]} for r in rows])
    judged = early_stop.targets({("p", 1): s, ("p", 4): four})
    assert "| hyperband's best at the full budget better than the unpruned sweep's | p | 1 | 0.1500 vs 0.2000 | " \
           "met |" in judged
    assert "| hyperband or ASHA reaches it with at most half the steps (>= 2x) | p | 1 | hyperband 2.50x, asha <1x " \
           "| met |" in judged
    assert "| ASHA's speed-up with 4 workers at least 80% of 1 worker's | p | 4 vs 1 |" in judged
    assert judged.rstrip().endswith("| missed |")  # ASHA never reaches the target here

    def asha(one: float, four: float) -> str:  # the asynchrony line alone, for these two speed-ups
        lines = early_stop.targets({("q", 1): {"none": {"speedup": 1.0}, "asha": {"speedup": one}},
                                    ("q", 4): {"none": {"speedup": 1.0}, "asha": {"speedup": four}}}).splitlines()
        return lines[-1]

    assert asha(2.0, 1.7).endswith("| 1.70x vs 2.00x | met |")  # 15% lower
    assert asha(2.0, 1.5).endswith("| 1.50x vs 2.00x | missed |")  # 25% lower: asynchrony cost pruning
    assert asha(1.5, 2.7).endswith("| 2.70x vs 1.50x (more than 20% higher) | met |")  # better is not ruin


@pytest.mark.slow
def test_early_stop_benchmark_runs_every_policy_on_one_step_budget(tmp_path):
    early_stop = _bench("early_stop")
    rows_file = tmp_path / "rows.jsonl"
    rows = early_stop.measure("table", ["none", "asha"], seeds=[1], workers=[1], budget=15, epochs=3,
                              rows_path=str(rows_file))
    assert [r["policy"] for r in rows] == ["none", "asha"] and len(rows_file.read_text().splitlines()) == 2
    for r in rows:
        assert 15 <= r["steps"] <= 16 and r["trace"]  # the budget ended the sweep, not n_trials
        assert all(0 < s <= 15 for s, _ in r["trace"]) and [s for s, _ in r["trace"]] == sorted(s for s, _ in r["trace"])
    # one worker: trials run one after another, so completions fall on whole trials of 3 steps, the
    # fifth one too (its last report spent the budget's last step, and it completes)
    assert [s for s, _ in rows[0]["trace"]] == [3.0, 6.0, 9.0, 12.0, 15.0]
    assert rows[1]["pruned"] >= 2 and rows[1]["trials"] > rows[0]["trials"]  # pruning bought more trials
    # a rerun with the same rows file runs nothing: it reuses the sweeps already there
    again = early_stop.measure("table", ["none", "asha"], seeds=[1], workers=[1], budget=15, epochs=3,
                               rows_path=str(rows_file))
    assert again == rows and len(rows_file.read_text().splitlines()) == 2
    text = early_stop.main(["--problem", "table", "--budget", "15", "--epochs", "3", "--seeds", "1", "--workers",
                            "1", "--policies", "none,asha", "--rows", str(rows_file), "--report-only",
                            "--plot", str(tmp_path / "curves.png")])
    assert text.startswith("| table, 1 worker(s), budget 15 steps (3 epochs a trial), 1 seeds |")
    assert "| none |" in text and "| 1.00x |" in text and "| asha |" in text
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_parallel_benchmark_runs_at_a_tiny_size():
    parallel = _bench("parallel")
    times = parallel.measure(trials=2, workers=(1, 2), seconds=0.2, kinds=("sleep",))
    assert set(times) == {("sleep", 1), ("sleep", 2)}
    table = parallel.report(times, 2, 0.2)
    assert "| sleep | 1 |" in table and "| 1.00x | 1x | 100% |" in table and table.count("\n") == 3
    # the start-up benchmark runs through the report (test_report_stitches_each_benchmark_table_under_a_header)


def test_report_stitches_each_benchmark_table_under_a_header(tmp_path):
    report = _bench("report")
    out = tmp_path / "REPORT.md"
    text = report.main(["--only", "startup", "--quick", "--out", str(out)])
    assert out.read_text() == text + "\n"
    assert text.startswith("# Benchmark report (") and "optuna " in text.splitlines()[2]
    assert "## Start-up" in text and "| `sweep --help` |" in text and "failed" not in text
    try:
        report.main(["--only", "nonsense", "--out", str(tmp_path / "x.md")])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("an unknown benchmark name must be refused")
    assert not (tmp_path / "x.md").exists()


def test_the_multi_objective_benchmarks_hypervolume_is_exact_in_two_dimensions():
    hv = _bench("multi_objective").hypervolume
    assert hv([(1, 3), (2, 2), (3, 1)], (4, 4)) == 6.0  # three unit staircase steps: 3 + 2 + 1
    # dominated points, a point beyond the reference and duplicates add nothing
    assert hv([(1, 3), (2, 2), (2.5, 2.5), (3, 1), (5, 0), (2, 2)], (4, 4)) == 6.0
    assert hv([], (4, 4)) == 0.0 and hv([(0, 0)], (2, 3)) == 6.0
