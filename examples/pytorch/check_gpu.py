"""Check GPU placement on a real GPU machine: `python check_gpu.py OUT_DIR [local|ray ...]`.

Runs this example's sweep with `resources.gpus: 1` and `0.5`, locally and on Ray, each trial
recording from inside itself what it was given (probe.py). Then counts, per physical GPU, how
many trials ran on it at once, samples nvidia-smi during each sweep, and prints one line per run:
the promise (1 or 2 trials per device) against what was seen. Exits non-zero if a promise broke.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sample_smi(path: Path, stop: threading.Event) -> None:
    """GPU load and the processes on it, once a second."""
    if shutil.which("nvidia-smi") is None:
        return
    with path.open("w") as f:
        while not stop.is_set():
            for q in (["--query-gpu=timestamp,index,utilization.gpu,memory.used", "--format=csv,noheader"],
                      ["--query-compute-apps=pid,used_memory", "--format=csv,noheader"]):
                r = subprocess.run(["nvidia-smi", *q], capture_output=True, text=True)
                f.write(r.stdout.strip().replace("\n", " | ") + "\n")
            f.flush()
            stop.wait(1.0)


def max_sharing(events: list[dict]) -> dict[str, int]:
    """Per physical GPU (UUID), the most trials that ran on it at the same time."""
    edges = []
    for e in events:
        for u in e["uuids"]:
            edges.append((e["t"], 1 if e["event"] == "start" else -1, u))
    edges.sort(key=lambda x: (x[0], x[1]))  # an end at the same instant counts before a start
    now: dict[str, int] = {}
    most: dict[str, int] = {}
    for _, d, u in edges:
        now[u] = now.get(u, 0) + d
        most[u] = max(most.get(u, 0), now[u])
    return most


def tracked_gpus(work: Path, name: str) -> dict[str, int]:
    """How many trial runs in MLflow carry each `gpu.name` tag (set by the worker from nvidia-smi)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return {}
    counts: dict[str, int] = {}
    for r in client.search_runs([exp.experiment_id], max_results=1000):
        if "trial.number" not in r.data.tags:
            continue  # the parent
        g = r.data.tags.get("gpu.name", "none")
        counts[g] = counts.get(g, 0) + 1
    return counts


def run(out: Path, backend: str, gpus: float, n_trials: int, epochs: int) -> dict:
    tag = f"{backend}-gpus{gpus:g}"
    work = Path(tempfile.mkdtemp(prefix=f"gpu-{tag}-"))
    for f in ("sweep.yaml", "train.py", "probe.py"):
        shutil.copy(HERE / f, work / f)
    probe = work / "probe.jsonl"
    env = {**os.environ, "SWEEPER_GPU_PROBE": str(probe)}
    cmd = [sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml", f"resources.gpus={gpus}", f"backend={backend}",
           f"n_trials={n_trials}", f"params.epochs={epochs}", "trial.function=probe:train", f"name=gpu-{tag}",
           "workers=4"]
    stop = threading.Event()
    smi = threading.Thread(target=sample_smi, args=(out / f"smi-{tag}.txt", stop), daemon=True)
    smi.start()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=240)
    wall = time.perf_counter() - t0
    stop.set()
    smi.join()
    (out / f"launch-{tag}.txt").write_text(p.stdout[-20000:] + "\n--- stderr ---\n" + p.stderr[-20000:])
    events = [json.loads(line) for line in probe.read_text().splitlines()] if probe.exists() else []
    starts = [e for e in events if e["event"] == "start"]
    ends = [e for e in events if e["event"] == "end"]
    sharing = max_sharing(events)
    promise = 1 if gpus >= 1 else int(1 / gpus)
    seen = sorted({e["seen"] for e in starts})
    runs = tracked_gpus(work, f"gpu-{tag}")
    names = sorted({e["name"] for e in starts})
    ok = (p.returncode == 0 and bool(starts) and seen == [1] and len(names) == 1
          and runs == {names[0]: len(starts)}  # every trial's run says which GPU it ran on
          and all(v <= promise for v in sharing.values()))
    durations = [e["t"] for e in ends]
    summary = {"run": tag, "rc": p.returncode, "wall_s": round(wall, 1), "trials_started": len(starts),
               "trials_finished": len(ends), "torch_device_count_seen": seen,
               "visible": sorted({e["visible"] for e in starts}), "gpu": names,
               "most_trials_at_once_per_gpu": sharing, "promised_at_most": promise,
               "peak_mb": round(max((e["peak_mb"] for e in ends), default=0), 1),
               "first_start_to_last_end_s": round(max(durations) - min(e["t"] for e in starts), 1) if ends else None,
               "mlflow_trial_runs_by_gpu_tag": runs, "ok": ok}
    print(json.dumps(summary), flush=True)
    return summary


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    backends = sys.argv[2:] or ["local", "ray"]
    results = []
    for backend in backends:
        for gpus in (1, 0.5):
            results.append(run(out, backend, gpus, n_trials=8, epochs=20))
    (out / "summary.json").write_text(json.dumps(results, indent=1))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
