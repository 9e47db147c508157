"""The Ray backend: trials run in Ray actors, placed by Ray's scheduler and resources.

Ray only places and runs trials; the driver loop, the study and the tracker are the same as on
the local backend, so reporting, pruning, checkpoints, the MLflow layout and resume behave alike.
Each slot is a long-lived actor holding `resources` (reused across trials, like a local worker);
reports travel over a Ray queue, the pruner's answers over one queue per slot. The sweep's working
directory is shipped with Ray's runtime environment, so trial code needs no packaging.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
import time
from typing import Any

from ..config.spec import SweepSpec
from ..errors import SpecError, SweepError
from ..messages import (
    BackendEvent,
    ChildStarted,
    Died,
    Done,
    Opened,
    Reported,
    SlotInfo,
    Task,
    TrialOutcome,
    ViewOpened,
)
from ..runtime.logs import tail
from .base import Backend

OUTPUTS = ("stdout.txt", "stderr.txt")
SHIP_LIMIT = 4 * 1024 * 1024
EXCLUDES = [".sweeps", "mlflow.db", "mlflow.db-journal", "mlruns", "mlartifacts", "outputs", "multirun", ".git",
            ".venv", "__pycache__", "*.db"]


def _import_ray(spec: SweepSpec) -> Any:
    try:
        import ray
    except ImportError:
        raise SpecError(spec.source, "backend", "ray is not installed: pip install 'sweeper[ray]'") from None
    return ray


def _check_reachable(spec: SweepSpec, address: str) -> None:
    """ray.init retries an unreachable address for minutes; a plain connect says so in seconds."""
    if address == "auto" or address.startswith("ray://") and ":" not in address[6:]:
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as e:
        raise SpecError(spec.source, "backend.address", f"cannot reach Ray at {address}: {e}") from None


class _QueueLink:
    """The actor's end of the trial channel (what a socket is for a local worker)."""

    def __init__(self, slot: int, reports: Any, decisions: Any) -> None:
        self.slot, self.reports, self.decisions = slot, reports, decisions

    def send(self, msg: ChildStarted | ViewOpened) -> None:
        # a command's process group is the actor's to kill: nothing to tell the driver about it.
        # Views ride the reports' queue (step None), so they reach the driver before any report
        if isinstance(msg, ViewOpened):
            self.reports.put((self.slot, msg.number, None, (msg.refs, msg.tags)))

    def report(self, number: int, step: int, metrics: dict[str, float], wait: bool) -> bool:
        self.reports.put((self.slot, number, step, metrics))
        if not wait:
            return False
        return bool(self.decisions.get(timeout=3600))


class TrialActor:
    def __init__(self, slot: int, reports: Any, decisions: Any) -> None:
        import sys

        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # the shipped working directory: trial modules import from it
        self.link = _QueueLink(slot, reports, decisions)

    def info(self) -> tuple[str, int, str, str]:
        import ray

        gpus = ",".join(str(g) for g in ray.get_gpu_ids())
        return socket.gethostname(), os.getpid(), gpus, ray.get_runtime_context().get_node_id()

    def check(self, target: str) -> str | None:
        from ..runtime.function_trial import check_function

        return check_function(target)

    def run(self, task: Task) -> TrialOutcome:
        import dataclasses
        import shutil
        import sys

        import ray

        from ..runtime.worker import run_task

        task = dataclasses.replace(task, workdir=os.getcwd())
        if task.argv and not os.path.exists(task.argv[0]) and "python" in os.path.basename(task.argv[0]):
            task.argv = [sys.executable, *task.argv[1:]]
        # on another node the driver's trial folder is not there to read back: write to a scratch
        # folder of this node and ship stdout/stderr home in the result
        remote = ray.get_runtime_context().get_node_id() != task.origin_node
        if remote:
            task.out_dir = tempfile.mkdtemp(prefix=f"sweeper-trial-{task.number}-")
        try:
            outcome = run_task(self.link, task)
            if remote:
                outcome.files = {name: _tail_bytes(os.path.join(task.out_dir, name)) for name in OUTPUTS}
            return outcome
        finally:
            if remote:
                shutil.rmtree(task.out_dir, ignore_errors=True)


def _write_shipped(out_dir: str, files: dict[str, bytes] | None) -> None:
    """A remote trial's stdout/stderr land where a local trial's would, so tracking reads them alike."""
    if not files:
        return
    os.makedirs(out_dir, exist_ok=True)
    for name, data in files.items():
        if name in OUTPUTS:
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)


def _tail_bytes(path: str, limit: int = SHIP_LIMIT) -> bytes:
    """The file's last `limit` bytes: a trial's whole log rides in one Ray object, so it is capped."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return b""
    return data if size <= limit else b"[... %d bytes cut ...]\n" % (size - limit) + data


class RayBackend(Backend):
    name = "ray"

    def __init__(self, spec: SweepSpec) -> None:
        super().__init__()
        self.spec = spec
        self.ray = _import_ray(spec)
        self.n = 0
        self.actors: list[Any] = []
        self.infos: list[tuple[str, int, str, str]] = []
        self.pending: dict[int, tuple[Any, int, str]] = {}  # slot -> (result ref, trial number, out_dir)
        self.killed: dict[int, str] = {}
        self._tmp: str | None = None
        storage = spec.backend.options.get("storage")
        #: where retried trials find their checkpoints: a folder every node sees, when one is given
        self.checkpoint_root = os.path.join(storage, spec.name, "checkpoints") if storage else None
        self._connect()
        self.driver_node = self.ray.get_runtime_context().get_node_id()

    def _connect(self) -> None:
        ray, spec = self.ray, self.spec
        address = spec.backend.address
        runtime_env = {"working_dir": spec.workdir, "excludes": EXCLUDES,
                       "env_vars": {"SWEEPER_WORKDIR": spec.workdir}}
        kwargs: dict[str, Any] = {"runtime_env": runtime_env, "include_dashboard": False, "log_to_driver": False,
                                  "logging_level": "ERROR"}
        if address:
            _check_reachable(spec, address)
            kwargs["address"] = address
        else:
            self._tmp = tempfile.mkdtemp(prefix="sweeper-ray-")
            kwargs["_temp_dir"] = self._tmp
            kwargs["_node_ip_address"] = "127.0.0.1"  # a private Ray: loopback only
            # Ray 2.60 would write ~/.ray/auth_token for a new local cluster, and with that file
            # present every later `ray start` + join on this machine fails; loopback needs no token
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            gpus = os.environ.get("SWEEPER_GPUS")
            if gpus is not None:
                kwargs["num_gpus"] = len([g for g in gpus.split(",") if g.strip()])
        try:
            ray.init(**kwargs)
        except Exception as e:
            msg = " ".join(str(e).split())[:300]
            raise SpecError(spec.source, "backend.address", f"cannot reach Ray at {address or 'a new local Ray'}: {msg}") from None
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus, gpus = spec.resources.cpus, spec.resources.gpus
        max_gpus = max((n["Resources"].get("GPU", 0) for n in nodes), default=0)
        if gpus > max_gpus:
            ray.shutdown()
            raise SpecError(spec.source, "resources.gpus", f"{gpus:g} GPUs per trial, but no Ray node has more than "
                            f"{max_gpus:g}")
        capacity = by_cpu = 0
        for n in nodes:
            fit = cpu_fit = math.floor(n["Resources"].get("CPU", 0) / cpus + 1e-9)
            if gpus > 0:
                fit = min(fit, math.floor(n["Resources"].get("GPU", 0) / gpus + 1e-9))
            capacity += fit
            by_cpu += cpu_fit
        if capacity < 1:
            ray.shutdown()
            raise SpecError(spec.source, "resources", f"no Ray node can hold one trial ({cpus:g} CPUs, {gpus:g} GPUs)")
        self.n = min(spec.workers or capacity, capacity)
        if spec.workers and spec.workers > capacity:  # Ray places by resources: say why fewer run
            total_cpu = sum(n["Resources"].get("CPU", 0) for n in nodes)
            total_gpu = sum(n["Resources"].get("GPU", 0) for n in nodes)
            short = (f"GPUs are short (resources.gpus={gpus:g} per trial, {total_gpu:g} GPUs in the cluster)"
                     if gpus > 0 and capacity < by_cpu else
                     f"CPUs are short (resources.cpus={cpus:g} per trial, {total_cpu:g} CPUs in the cluster)")
            self.warnings.append(f"workers={spec.workers}, but the Ray cluster runs {capacity} trials at a time: {short}")
        if len(nodes) > 1 and not self.checkpoint_root:
            self.warnings.append(f"the Ray cluster has {len(nodes)} nodes and backend.storage is not set: a trial's "
                                 "checkpoints stay on the node that wrote them, so a retry placed on another node "
                                 "starts afresh (set backend.storage to a folder every node mounts)")

    def _spawn(self, slot: int) -> Any:
        ray = self.ray
        actor_cls = ray.remote(num_cpus=self.spec.resources.cpus, num_gpus=self.spec.resources.gpus,
                               max_concurrency=1)(TrialActor)
        return actor_cls.remote(slot, self.reports, self.decisions[slot])

    def start(self) -> None:
        from ray.util.queue import Queue

        self.reports = Queue()
        self.decisions = [Queue() for _ in range(self.n)]
        self.actors = [self._spawn(i) for i in range(self.n)]
        self.infos = self.ray.get([a.info.remote() for a in self.actors], timeout=300)

    def slot_info(self, slot: int) -> SlotInfo:
        host, pid, gpus, node = self.infos[slot]
        return SlotInfo(host=host, pid=pid, gpus=gpus, extra={"ray.node_id": node})

    def check_function(self, target: str, timeout: float = 300.0) -> str | None:
        return self.ray.get(self.actors[0].check.remote(target), timeout=timeout)

    def submit(self, slot: int, task: Task) -> None:
        import dataclasses

        task = dataclasses.replace(task, origin_node=self.driver_node)
        self.pending[slot] = (self.actors[slot].run.remote(task), task.number, task.out_dir)

    def reply(self, slot: int, prune: bool) -> None:
        self.decisions[slot].put(prune)

    def kill(self, slot: int, why: str) -> None:
        self.killed[slot] = why
        self.ray.kill(self.actors[slot], no_restart=True)

    def wait(self, timeout: float) -> list[BackendEvent]:
        ray = self.ray
        events: list[BackendEvent] = []
        n = self.reports.qsize()
        if n:
            for slot, number, step, metrics in self.reports.get_nowait_batch(n):
                events.append(Opened(slot, number, *metrics) if step is None else Reported(slot, number, step, metrics))
        refs = {ref: slot for slot, (ref, _, _) in self.pending.items()}
        if not refs:
            time.sleep(min(timeout, 0.05))
            return events
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0 if events else min(timeout, 0.05))
        for ref in ready:
            slot = refs[ref]
            _, number, out_dir = self.pending.pop(slot)
            try:
                outcome = ray.get(ref)
            except Exception as e:  # the actor died: crash, OOM kill, our own kill on timeout
                why = self.killed.pop(slot, None) or f"Ray worker died: {' '.join(str(e).split())[:300]}"
                stderr = tail(os.path.join(out_dir, "stderr.txt"))  # there when the trial ran on this node
                events.append(Died(slot, number, f"{why}: {stderr}" if stderr else why))
                self._replace(slot)
                continue
            _write_shipped(out_dir, outcome.files)
            outcome.files = None
            events.append(Done(slot, number, outcome))
        return events

    def _replace(self, slot: int) -> None:
        try:
            self.ray.kill(self.actors[slot], no_restart=True)
        except Exception:
            pass
        self.actors[slot] = self._spawn(slot)
        self.infos[slot] = self.ray.get(self.actors[slot].info.remote(), timeout=300)

    def shutdown(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a, no_restart=True)
            except Exception:
                pass
        self.actors = []
        try:
            self.ray.shutdown()
        except Exception as e:
            raise SweepError(f"ray shutdown failed: {e}") from None
        if self._tmp:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
