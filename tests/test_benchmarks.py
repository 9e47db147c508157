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


@pytest.mark.slow
def test_learning_curve_benchmark_scores_regret_against_its_known_optimum():
    curves = _bench("curves")
    early_stop = _bench("early_stop")
    best = {"lr": 10 ** -2.3, "width": 128, "dropout": 0.3, "weight_decay": 1e-4}
    assert 0 <= curves.true_final(best) - curves.optimum() < 0.01  # the asymptote's minimum is where it was put
    assert curves.observed(best, 3, seed=1) == curves.observed(best, 3, seed=1) != curves.observed(best, 3, seed=2)
    rows = early_stop.measure("curves", ["none", "hyperband"], seeds=[1], trials=4, epochs=3, workers=2)
    assert [r["policy"] for r in rows] == ["none", "hyperband", early_stop.SAME_EPOCHS, early_stop.REPLAY]
    assert rows[0]["epochs"] == 12 and all(r["regret"] >= 0 for r in rows)
    # the unpruned sweep on hyperband's budget runs as many full trials as its epochs pay for
    assert rows[2]["epochs"] == 3 * max(1, round(rows[1]["epochs"] / 3)) and rows[2]["pruned"] == 0
    table = early_stop.report(rows, 4, 3)  # (the benchmark's own tiny run: this covers early_stop.py end to end)
    assert "| curves: 4 trials x 3 epochs" in table and "| none | 0 | 12 | 100% |" in table
    # the unpruned sweep is within 2% of itself on every seed, never on 40% of its own epochs
    assert table.splitlines()[2].startswith("| none |") and table.splitlines()[2].endswith("| 1/1 | 0/1 |")
    assert f"| {early_stop.SAME_EPOCHS} | 0 |" in table and f"| {early_stop.REPLAY} |" in table
    # the replayed hyperband sweep trained the unpruned sweep's configurations: trial N's final value,
    # where it was not pruned, is the unpruned trial N's (training is deterministic)
    none, replayed = rows[0], rows[3]
    finished = [n for n, v in enumerate(replayed["values"]) if v is not None]
    assert finished and replayed["pruned"] == 4 - len(finished)
    assert all(replayed["values"][n] == none["values"][n] for n in finished)


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
