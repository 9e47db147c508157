"""GPU placement for the local backend: which devices each worker slot gets.

A slot is pinned to its devices for its whole life (a reused worker process cannot move CUDA
contexts), so placement is a plan made once: with `gpus: 0.5`, two slots share each device;
with `gpus: 2`, each slot owns two. No device is ever given more trials than fit.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess

from ..config.spec import SweepSpec
from ..errors import SpecError


def detect() -> list[str]:
    """Device ids: `SWEEPER_GPUS` if set (restricts or declares them), else what nvidia-smi lists."""
    declared = os.environ.get("SWEEPER_GPUS")
    if declared is not None:
        return [d.strip() for d in declared.split(",") if d.strip()]
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=20)
            if out.returncode == 0:
                return [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    return []


def plan(spec: SweepSpec, workers: int | None, devices: list[str] | None = None) -> list[dict[str, str]]:
    """One environment per worker slot; its length is the number of workers the resources allow."""
    g = spec.resources.gpus
    if g <= 0:
        n = workers or max(1, int((os.cpu_count() or 1) // max(spec.resources.cpus, 1e-9)))
        return [{} for _ in range(n)]
    devices = detect() if devices is None else devices
    if not devices:
        raise SpecError(spec.source, "resources.gpus", f"{g:g} GPU per trial, but no GPU was found "
                        "(nvidia-smi lists none; SWEEPER_GPUS=0,1 declares them)")
    if g < 1:
        per_device = math.floor(1 / g + 1e-9)
        slots = [{"CUDA_VISIBLE_DEVICES": devices[i % len(devices)]} for i in range(per_device * len(devices))]
    else:
        k = int(g)
        if k > len(devices):
            raise SpecError(spec.source, "resources.gpus", f"{k} GPUs per trial, but only {len(devices)} "
                            f"({','.join(devices)}) are available")
        slots = [{"CUDA_VISIBLE_DEVICES": ",".join(devices[i * k:(i + 1) * k])} for i in range(len(devices) // k)]
    return slots[:workers] if workers else slots


def shortfall(spec: SweepSpec, slots: int, cpus: int) -> list[str]:
    """What the user must hear when the local machine cannot give `workers` what `resources` asks:
    fewer GPU slots than workers (fewer trials at once), or more CPUs asked than the machine has
    (trials share the CPUs and run slower)."""
    out = []
    workers, r = spec.workers, spec.resources
    if workers and slots < workers:
        out.append(f"workers={workers}, but {slots} trials run at a time: GPUs are short "
                   f"(resources.gpus={r.gpus:g} per trial, {len(detect())} GPUs here)")
    asked = min(workers or slots, slots) * r.cpus
    if asked > cpus:
        out.append(f"{min(workers or slots, slots)} trials at a time ask for {asked:g} CPUs (resources.cpus="
                   f"{r.cpus:g} each), but this machine has {cpus}: they share the CPUs and each runs slower")
    return out
