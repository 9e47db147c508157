"""Early termination at equal compute: the best value found against the steps spent, per policy.

Every policy (none, median, asha, hyperband) gets the same step budget (`budget.steps: B`, epochs
reported by all trials together, and an `n_trials` it never reaches), through `sweep launch`, with
the same TPE seed, over several seeds, with 1 and with 4 workers. A fifth policy, `bohb`, is
hyperband with the BOHB-style sampler of `bohb.py` in TPE's place (launched through `bohb.py`,
which registers it as the method `bohb`). Three problems:
- `quickstart`: the quickstart MLP (scikit-learn's digits, Adam), really trained: slow;
- `curves`: learning curves fixed by seed that cross (`curves.py`);
- `table`: real training replayed from a table (`make_table.py`, `table.py`): an SGD MLP on digits,
  288 configurations x 27 epochs trained once; the sweep samples the table's grid, so a sampled
  configuration is looked up exactly.

**Steps spent, and what counts as found.** From the study the sweep leaves, each trial consumed
its reported steps (its intermediate values) between its start and its end. With 1 worker trials
run one after another, so the steps spent when a trial completes are exactly the steps reported
so far. With 4 workers trials overlap: a trial's steps are counted as consumed evenly over its run
(the study keeps no time per report), and at each completion the steps spent are every trial's
steps consumed by then. Only completed trials' final values are found: a user trusts a run that
ran to its end, not the last value of a pruned one (which may be a fast starter's early dip).
Completions after B steps (4 workers may overrun the budget by a report each) do not count.

**What it reports**, per problem and worker count, per policy: the best value at 25%, 50% and
100% of B (median and interquartile range over seeds); the steps at which the policy's median
anytime curve first reaches the unpruned sweep's final median best; and the speed-up, the
unpruned sweep's steps to that value over the policy's; and on how many seeds the policy's best
at 100% beats the unpruned sweep's of the same seed. Then the issue's targets, judged, and
(`--plot`) the anytime curves: median and interquartile band of the best value against steps.
Rows go to a JSON-lines file as each sweep ends (`--rows`), and a rerun with the same file skips
the sweeps already there, so a long run can be stopped and resumed.
Usage:
  python benchmarks/early_stop.py --problem table --seeds 0,1,2 --workers 1,4 [--budget 540]
      [--rows rows.jsonl] [--plot curves.png] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # curves.py sits beside this file, which may be imported from elsewhere
    sys.path.insert(0, str(HERE))
import curves  # noqa: E402
import table  # noqa: E402

QUICKSTART = HERE.parent / "examples" / "quickstart"
POLICIES = {
    "none": "",
    "median": "early_stop: {type: median, warmup_steps: 3, startup_trials: 5}",
    "asha": "early_stop: {type: asha, min_iter: 1, eta: 3}",
    "hyperband": "early_stop: {type: hyperband, min_iter: 1, max_iter: EPOCHS, eta: 3}",
    "bohb": "early_stop: {type: hyperband, min_iter: 1, max_iter: EPOCHS, eta: 3}",
}
#: the search method of a policy, when not TPE: `bohb` is hyperband with the BOHB-style sampler of
#: `bohb.py`, which is not a method of sweeper: its sweeps launch through `bohb.py`, which registers it
SEARCH = {"bohb": "bohb"}
HEAD = """
defaults:
  - search: METHOD
  - _self_
name: es-bench
objective: {metric: val_loss, goal: minimize}
n_trials: TRIALS
budget: {steps: BUDGET}
workers: WORKERS
seed: SEED
"""
PROBLEMS: dict[str, dict[str, Any]] = {
    "quickstart": {
        "title": "quickstart MLP (digits, Adam, real training)",
        "files": [QUICKSTART / "train.py"],
        "params": {"lr": "tag(log, interval(1e-4, 1e-1))", "alpha": "tag(log, interval(1e-6, 1e-2))",
                   "hidden": "choice(16, 32, 64, 128)", "batch_size": "choice(32, 64, 128)"},
        "trial": "train:train",
        "budget": 540,
    },
    "curves": {
        "title": "crossing learning curves (`curves.py`)",
        "files": [HERE / "curves.py"],
        "params": curves.PARAMS,
        "trial": "curves:train",
        "extra": {"curve_seed": "SEED", "epoch_s": "0.0"},
        "budget": 540,
    },
    "table": {
        "title": "real-training table (SGD MLP on digits, `make_table.py`)",
        "files": [HERE / "table.py"],
        "params": None,  # the table's grid (`table.params()`), read when first needed
        "trial": "table:train",
        "extra": {"table": str(table.TABLE)},
        "budget": 540,
    },
}
#: the fractions of the budget at which the best value is reported
FRACTIONS = (0.25, 0.5, 1.0)


def _params(problem: str) -> dict[str, str]:
    return PROBLEMS[problem]["params"] or table.params()


def _sweep_yaml(problem: str, policy: str, budget: int, epochs: int, seed: int, workers: int) -> str:
    prob = PROBLEMS[problem]
    lines = [HEAD, "params:"]
    lines += [f"  {k}: {v}" for k, v in _params(problem).items()]
    lines.append("  epochs: EPOCHS")
    lines += [f"  {k}: {v}" for k, v in prob.get("extra", {}).items()]
    lines += [f"trial: {{function: {prob['trial']}}}", POLICIES[policy], ""]
    text = "\n".join(lines)
    # every trial reports at least one step, so the budget ends the sweep before n_trials does
    for k, v in {"EPOCHS": epochs, "TRIALS": budget + 100, "BUDGET": budget, "SEED": seed,
                 "WORKERS": workers, "METHOD": SEARCH.get(policy, "tpe")}.items():
        text = text.replace(k, str(v))
    return text


def trace(trials: Iterable[Any], budget: int) -> list[tuple[float, float]]:
    """(steps spent, final value) at each completion within the budget, in completion order.

    A trial's steps are counted as consumed evenly between its start and its end (exact with one
    worker, where trials do not overlap); a trial still without an end (none once a sweep is over)
    counts as ending at the last completion."""
    spans = [(t.datetime_start.timestamp(), t.datetime_complete.timestamp() if t.datetime_complete else math.inf,
              len(t.intermediate_values), t) for t in trials if t.datetime_start is not None]

    def spent(at: float) -> float:
        total = 0.0
        for start, end, n, _ in spans:
            if at >= end:
                total += n
            elif at > start:
                total += n * (at - start) / (end - start)
        return total

    done = sorted((end, t.value) for _, end, _, t in spans if t.state.name == "COMPLETE" and t.value is not None)
    points = [(round(spent(end), 3), float(value)) for end, value in done]
    return [(s, v) for s, v in points if s <= budget + 1e-9]


def best_at(points: list[list[float]] | list[tuple[float, float]], steps: float) -> float:
    """The best (lowest) value completed by `steps` spent; inf before the first completion."""
    return min((v for s, v in points if s <= steps), default=math.inf)


def run_policy(problem: str, policy: str, budget: int, epochs: int = 27, seed: int = 0,
               workers: int = 1) -> dict[str, Any]:
    """One sweep; returns its cost (steps, trials, wall) and its anytime trace (see `trace`)."""
    import optuna

    d = Path(tempfile.mkdtemp(prefix=f"bench-es-{policy}-"))
    try:
        for f in PROBLEMS[problem]["files"]:
            shutil.copy(f, d / Path(f).name)
        (d / "sweep.yaml").write_text(_sweep_yaml(problem, policy, budget, epochs, seed, workers))
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
        t0 = time.perf_counter()
        cli = [str(HERE / "bohb.py")] if SEARCH.get(policy) == "bohb" else ["-m", "sweeper.cli"]
        p = subprocess.run([sys.executable, *cli, "launch", "sweep.yaml"], cwd=d,
                           capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"sweep launch failed ({problem}, {policy}, seed {seed}, workers {workers}): "
                               f"{(p.stderr or p.stdout).strip()[-2000:]}")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name="es-bench", storage=f"sqlite:///{d}/.sweeps/sweeps.db")
        trials = study.get_trials(deepcopy=False)
        return {"problem": problem, "policy": policy, "seed": seed, "workers": workers, "budget": budget,
                "epochs": epochs, "wall": round(wall, 2), "trials": len(trials),
                "completed": sum(t.state.name == "COMPLETE" for t in trials),
                "pruned": sum(t.state.name == "PRUNED" for t in trials),
                "steps": sum(len(t.intermediate_values) for t in trials),
                "trace": [list(p) for p in trace(trials, budget)]}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["problem"], row["policy"], row["seed"], row["workers"], row["budget"], row["epochs"]


def load_rows(path: str | None) -> list[dict[str, Any]]:
    if not path or not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def measure(problem: str, policies: list[str], seeds: list[int], workers: list[int], budget: int,
            epochs: int = 27, rows_path: str | None = None) -> list[dict[str, Any]]:
    """Every (seed, workers, policy) not already in `rows_path`, each appended there as it ends.
    Seed-major, so a busy moment of the machine hurts every policy alike."""
    rows = load_rows(rows_path)
    have = {_key(r) for r in rows}
    for seed in seeds:
        for w in workers:
            for policy in policies:
                if (problem, policy, seed, w, budget, epochs) in have:
                    continue
                row = run_policy(problem, policy, budget, epochs, seed, w)
                rows.append(row)
                if rows_path:
                    with open(rows_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
    return [r for r in rows if r["problem"] == problem and r["budget"] == budget and r["epochs"] == epochs
            and r["seed"] in seeds and r["workers"] in workers and r["policy"] in policies]


def quantile(xs: list[float], q: float) -> float:
    """Linear-interpolation quantile that keeps inf (no value found yet) as inf."""
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if math.isinf(s[lo]) or math.isinf(s[hi]):
        return s[hi] if lo == hi or math.isinf(s[hi]) else s[lo]
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median_curve(rows: list[dict[str, Any]]) -> list[tuple[float, float, float, float]]:
    """(steps, q25, median, q75) of the best value over seeds, at every step where any seed's best
    changes (the median curve is a step function that can change only there)."""
    xs = sorted({s for r in rows for s, _ in r["trace"]} | {float(rows[0]["budget"])})
    out = []
    for x in xs:
        vals = [best_at(r["trace"], x) for r in rows]
        out.append((x, quantile(vals, 0.25), quantile(vals, 0.5), quantile(vals, 0.75)))
    return out


def steps_to_reach(curve: list[tuple[float, float, float, float]], target: float) -> float | None:
    """The first steps spent at which the median best is at least as good as `target`."""
    return next((x for x, _, m, _ in curve if m <= target + 1e-12), None)


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per policy: best at each fraction (q25, median, q75), steps to the unpruned final median
    best, speed-up over the unpruned sweep, trials and pruned (medians)."""
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    budget = rows[0]["budget"]
    by = {p: [r for r in rows if r["policy"] == p] for p in policies}
    base = "none" if "none" in by else policies[0]
    target = statistics.median(best_at(r["trace"], budget) for r in by[base])
    base_curve = median_curve(by[base])
    base_steps = steps_to_reach(base_curve, target)
    base_final = {r["seed"]: best_at(r["trace"], budget) for r in by[base]}
    out = {}
    for p in policies:
        curve = median_curve(by[p])
        # seed by seed, since medians of the two can hide how often one beats the other
        wins = sum(best_at(r["trace"], budget) < base_final[r["seed"]] for r in by[p] if r["seed"] in base_final)
        steps = steps_to_reach(curve, target)
        at = {}
        for f in FRACTIONS:
            vals = [best_at(r["trace"], f * budget) for r in by[p]]
            at[f] = (quantile(vals, 0.25), quantile(vals, 0.5), quantile(vals, 0.75))
        out[p] = {"at": at, "steps": steps, "target": target, "curve": curve, "seeds": len(by[p]), "wins": wins,
                  "speedup": (base_steps / steps) if steps and base_steps else None,
                  "trials": statistics.median(r["trials"] for r in by[p]),
                  "pruned": statistics.median(r["pruned"] for r in by[p]),
                  "wall": statistics.median(r["wall"] for r in by[p])}
    return out


def _fmt(v: float) -> str:
    return "none yet" if math.isinf(v) else f"{v:.4f}"


def table_md(problem: str, workers: int, summary: dict[str, dict[str, Any]], budget: int, epochs: int) -> str:
    seeds = next(iter(summary.values()))["seeds"]
    target = next(iter(summary.values()))["target"]
    head = (f"| {problem}, {workers} worker(s), budget {budget} steps ({epochs} epochs a trial), {seeds} seeds | "
            "trials | pruned | best @25% | best @50% | best @100% | steps to reach "
            f"{target:.4f} | speed-up | seeds better than none @100% |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p, s in summary.items():
        cells = [f"{_fmt(s['at'][f][1])} [{_fmt(s['at'][f][0])}, {_fmt(s['at'][f][2])}]" for f in FRACTIONS]
        steps = f"{s['steps']:.0f}" if s["steps"] is not None else f"not in {budget}"
        speed = f"{s['speedup']:.2f}x" if s["speedup"] is not None else "<1x"
        lines.append(f"| {p} | {s['trials']:g} | {s['pruned']:g} | {' | '.join(cells)} | {steps} | {speed} | {s['wins']}/{s['seeds']} |")
    return "\n".join(lines)


def targets(summaries: dict[tuple[str, int], dict[str, dict[str, Any]]]) -> str:
    """The issue's three targets, judged on each problem and worker count measured."""
    lines = ["| target | problem | workers | measured | met |", "|---|---|---:|---|---|"]
    for (problem, w), s in summaries.items():
        if problem == "curves" or "none" not in s:
            continue
        if "hyperband" in s:
            hb, none = s["hyperband"]["at"][1.0][1], s["none"]["at"][1.0][1]
            lines.append(f"| hyperband's best at the full budget better than the unpruned sweep's | {problem} | "
                         f"{w} | {_fmt(hb)} vs {_fmt(none)} | {'met' if hb < none else 'missed'} |")
        fast = {p: s[p]["speedup"] for p in ("hyperband", "asha") if p in s}
        if fast:
            best = max(fast, key=lambda p: fast[p] or 0.0)
            shown = ", ".join(f"{p} {v:.2f}x" if v else f"{p} <1x" for p, v in fast.items())
            lines.append(f"| hyperband or ASHA reaches it with at most half the steps (>= 2x) | {problem} | {w} | "
                         f"{shown} | {'met' if (fast[best] or 0) >= 2 else 'missed'} |")
    for problem in dict.fromkeys(p for p, _ in summaries):
        one, four = summaries.get((problem, 1), {}).get("asha"), summaries.get((problem, 4), {}).get("asha")
        if problem == "curves" or not one or not four:
            continue
        # "asynchrony does not ruin pruning": 4 workers may lose at most 20% of 1 worker's speed-up.
        # Read as two-sided, 4 workers doing better than 1 would count as a miss; both are shown.
        a, b = one["speedup"], four["speedup"]
        ok = a is not None and b is not None and b >= 0.8 * a
        both = a is not None and b is not None and abs(b - a) <= 0.2 * a
        shown = f"{b:.2f}x vs {a:.2f}x" if a and b else f"{b or '<1'}x vs {a or '<1'}x"
        lines.append(f"| ASHA's speed-up with 4 workers at least 80% of 1 worker's | {problem} | 4 vs 1 | "
                     f"{shown}{'' if both or not ok else ' (more than 20% higher)'} | {'met' if ok else 'missed'} |")
    return "\n".join(lines)


def plot(summaries: dict[tuple[str, int], dict[str, dict[str, Any]]], path: str) -> None:
    """Anytime curves: one panel per (problem, workers), median line and interquartile band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(p for p, _ in summaries))
    workers = sorted({w for _, w in summaries})
    fig, axes = plt.subplots(len(problems), len(workers), figsize=(4.2 * len(workers), 2.9 * len(problems)),
                             squeeze=False)
    colors = {"none": "black", "median": "tab:green", "asha": "tab:orange", "hyperband": "tab:blue"}
    for i, problem in enumerate(problems):
        for j, w in enumerate(workers):
            ax = axes[i][j]
            s = summaries.get((problem, w))
            if not s:
                ax.set_visible(False)
                continue
            finite = []
            for p, v in s.items():
                if p in SEARCH:  # five policies' bands clutter the panels: bohb is in the tables only
                    continue
                xs = [c[0] for c in v["curve"]]
                lo, mid, hi = ([c[k] for c in v["curve"]] for k in (1, 2, 3))
                ax.step(xs, mid, where="post", color=colors.get(p), label=p, lw=1.3)
                ax.fill_between(xs, lo, hi, step="post", color=colors.get(p), alpha=0.15, lw=0)
                finite += [m for m in mid if math.isfinite(m)] + [h for h in hi if math.isfinite(h)]
            target = next(iter(s.values()))["target"]
            ax.axhline(target, color="grey", ls=":", lw=0.8)
            if finite:
                lo_y = min(finite)
                ax.set_ylim(lo_y * 0.95, min(max(finite), lo_y + 4 * (statistics.median(finite) - lo_y) + 1e-3))
            ax.set_title(f"{problem}, {w} worker{'s' if w > 1 else ''}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("steps spent", fontsize=8)
            if j == 0:
                ax.set_ylabel("best val_loss", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def report(rows: list[dict[str, Any]], plot_path: str | None = None) -> str:
    """The markdown: one table per (problem, workers), then the targets; and the plot if asked."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["problem"], r["workers"]), []).append(r)
    summaries = {k: summarise(v) for k, v in groups.items()}
    parts = [table_md(p, w, summaries[p, w], groups[p, w][0]["budget"], groups[p, w][0]["epochs"])
             for p, w in summaries]
    judged = targets(summaries)
    if judged.count("\n") > 1:
        parts.append(judged)
    if plot_path:
        plot(summaries, plot_path)
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="table", help=f"comma-separated, of: {', '.join(PROBLEMS)}")
    ap.add_argument("--budget", type=int, help="steps per sweep (default 540: 20 unpruned trials of 27 epochs)")
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated sweep seeds")
    ap.add_argument("--workers", default="1,4", help="comma-separated worker counts")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--rows", help="JSON-lines file of every sweep's row: appended to, and sweeps already there "
                                   "are not run again")
    ap.add_argument("--plot", help="write the anytime curves here (PNG or SVG, needs matplotlib)")
    ap.add_argument("--report-only", action="store_true", help="report the rows file's sweeps; run nothing")
    args = ap.parse_args(argv)
    problems = args.problem.split(",")
    seeds, workers = [int(s) for s in args.seeds.split(",")], [int(w) for w in args.workers.split(",")]
    policies = args.policies.split(",")
    rows: list[dict[str, Any]] = []
    for problem in problems:
        budget = args.budget or PROBLEMS[problem]["budget"]
        if args.report_only:
            rows += [r for r in load_rows(args.rows) if r["problem"] == problem and r["budget"] == budget
                     and r["epochs"] == args.epochs and r["seed"] in seeds and r["workers"] in workers
                     and r["policy"] in policies]
        else:
            rows += measure(problem, policies, seeds, workers, budget, args.epochs, args.rows)
    text = report(rows, args.plot)
    print(text)
    return text


if __name__ == "__main__":
    main()
