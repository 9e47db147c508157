"""The benchmarks run at a tiny size, so they cannot rot (the full run is `make bench`)."""

from __future__ import annotations

import sys

from conftest import ROOT


def test_overhead_benchmark_runs_and_reports_ratios():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import overhead
    finally:
        sys.path.pop(0)
    times = overhead.measure(trials=3, repeats=1)
    assert set(times) == {"textbook loop", "sweeper workers=1", "sweeper workers=2"}
    assert all(len(v) == 1 and v[0] > 0 for v in times.values())
    table = overhead.report(times, 3)
    assert "| textbook loop |" in table and "1.00x" in table and table.count("\n") == 4


def test_early_stop_benchmark_runs_at_a_tiny_size():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import early_stop
    finally:
        sys.path.pop(0)
    rows = [early_stop.run_policy(p, trials=3, epochs=3) for p in ("none", "asha")]
    assert rows[0]["epochs"] == 9 and rows[0]["pruned"] == 0
    assert 3 <= rows[1]["epochs"] <= 9 and rows[1]["best"] > 0
    table = early_stop.report(rows, 3, 3)
    assert "| none | 0 | 9 | 100% |" in table
