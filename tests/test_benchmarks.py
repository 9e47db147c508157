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
