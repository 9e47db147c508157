"""`make bench`: every benchmark in one run, written to benchmarks/REPORT.md and printed.

Each benchmark runs as its own process (so one cannot warm another's imports) and prints a
markdown table whose rows were measured side by side in that run; this file only stitches the
tables together under a header that says on what machine and with which versions they were
measured. Usage: python benchmarks/report.py [--only overhead,startup] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEEDS10 = "0,1,2,3,4,5,6,7,8,9"
#: name -> (title, [argv of each table], [argv of each table at --quick])
SECTIONS: dict[str, tuple[str, list[list[str]], list[list[str]]]] = {
    "overhead": ("Orchestration overhead (tracking on, SQLite)",
                 [["overhead.py"]], [["overhead.py", "--trials", "20", "--repeats", "1"]]),
    "parallel": ("Parallel speed-up", [["parallel.py", "--repeats", "3"]], [["parallel.py", "--trials", "4", "--workers", "1,2"]]),
    "sample_efficiency": ("Sample efficiency (median simple regret over seeds, through `sweep launch`)",
                          [["sample_efficiency.py"]],
                          [["sample_efficiency.py", "--seeds", "1", "--trials", "10"]]),
    "early_stop": ("Early termination at equal compute (best value against steps spent, through `sweep launch`)",
                   [["early_stop.py", "--problem", "table,curves,quickstart", "--seeds", SEEDS10, "--workers", "1,4",
                     "--plot", "benchmarks/early_stop.png"]],
                   [["early_stop.py", "--problem", "table", "--seeds", "0", "--workers", "1", "--budget", "60"]]),
    "startup": ("Start-up", [["startup.py"]], [["startup.py", "--repeats", "2"]]),
    "multi_objective": ("Several objectives (hypervolume over seeds, through `sweep launch`)",
                        [["multi_objective.py"]],
                        [["multi_objective.py", "--seeds", "1", "--trials", "10", "--methods", "random,nsgaii"]]),
    "writer": ("The MLflow writer (runs/s, end-of-sweep wait)", [["writer.py"]], [["writer.py", "--trials", "20"]]),
}


def _versions() -> str:
    names = ("sweeper", "optuna", "ray", "mlflow", "hydra-core")
    found = []
    for n in names:
        try:
            found.append(f"{n} {metadata.version(n)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def run_section(name: str, quick: bool = False) -> str:
    title, full, small = SECTIONS[name]
    parts = [f"## {title}", ""]
    for argv in small if quick else full:
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], cwd=HERE.parent, capture_output=True,
                           text=True)
        took = time.perf_counter() - t0
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["(no output)"]
            parts += [f"`{' '.join(argv)}` failed (exit {p.returncode}): {tail[0]}", ""]
            continue
        kept = [line for line in p.stdout.splitlines() if line.startswith("|") or not line.strip()]
        table = "\n".join(kept).strip()  # the tables, a blank line between two of them
        while "\n\n\n" in table:
            table = table.replace("\n\n\n", "\n\n")
        parts += [f"`python benchmarks/{' '.join(argv)}` ({took:.0f} s)", "", table, ""]
    return "\n".join(parts)


def build(names: list[str], quick: bool = False) -> str:
    head = [f"# Benchmark report ({datetime.date.today().isoformat()})", "",
            f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}; "
            f"{_versions()}. Medians; every ratio is against a baseline measured in the same run.", ""]
    return "\n".join(head + [run_section(n, quick) for n in names])


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks that every benchmark runs")
    ap.add_argument("--out", default=str(HERE / "REPORT.md"))
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        ap.error(f"--only: unknown benchmark {unknown[0]!r} (allowed: {', '.join(SECTIONS)})")
    text = build(names, args.quick)
    Path(args.out).write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
