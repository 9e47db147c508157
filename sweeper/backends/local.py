"""The local backend: a pool of reusable worker processes on this machine.

Each slot is one worker process (`python -m sweeper.runtime.worker`) connected by a socketpair,
over which the trial channel's messages travel (`messages.py`). A worker lives in its own process
group, so a timeout or Ctrl-C kills it together with any command it started; a dead worker is
replaced before its slot takes the next trial.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection, wait

from ..messages import (
    BackendEvent,
    Checked,
    CheckTarget,
    ChildStarted,
    Decision,
    Died,
    Done,
    Finished,
    Opened,
    Ready,
    Report,
    Reported,
    RunTask,
    SlotInfo,
    Stop,
    Task,
    ViewOpened,
)
from ..runtime.logs import tail
from .base import Backend


class _Worker:
    def __init__(self, slot: int, env: dict[str, str], log_path: str, workdir: str) -> None:
        parent, child = socket.socketpair()
        self.log = open(log_path, "ab")
        full_env = {**os.environ, **env, "SWEEPER_WORKDIR": workdir, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sweeper.runtime.worker", str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            cwd=workdir, env=full_env, start_new_session=True,
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.slot = slot
        self.number: int | None = None  # the trial it runs
        self.out_dir: str | None = None  # that trial's output folder
        self.child_pid: int | None = None  # a command trial's process group
        self.ready = False
        self.host = socket.gethostname()

    def kill(self) -> None:
        for pgid in (self.child_pid, self.proc.pid):
            if pgid:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def close(self) -> None:
        self.conn.close()
        self.log.close()


class LocalBackend(Backend):
    """Slots are worker processes; `slot_env[i]` pins slot i's environment (its GPUs)."""

    name = "local"

    def __init__(self, workers: int, workdir: str, slot_env: list[dict[str, str]] | None = None,
                 sweep_dir: str | None = None) -> None:
        super().__init__()
        self.n = workers
        self.workdir = workdir
        if sweep_dir:
            self.checkpoint_root = os.path.join(sweep_dir, "checkpoints")
        # worker logs hold only what is printed outside trials (trials write their own files)
        self.log_dir = tempfile.mkdtemp(prefix="sweeper-workers-")
        self.slot_env = slot_env or [{} for _ in range(workers)]
        self.workers: list[_Worker] = []
        self.killed: dict[int, str] = {}  # slot -> why the driver killed it

    def _spawn(self, slot: int) -> _Worker:
        env = self.slot_env[slot]
        return _Worker(slot, env, os.path.join(self.log_dir, f"worker-{slot}.log"), self.workdir)

    def start(self) -> None:
        self.workers = [self._spawn(i) for i in range(self.n)]

    def slot_info(self, slot: int) -> SlotInfo:
        w = self.workers[slot]
        return SlotInfo(host=w.host, pid=w.proc.pid, gpus=self.slot_env[slot].get("CUDA_VISIBLE_DEVICES", ""))

    def check_function(self, target: str, timeout: float = 120.0) -> str | None:
        """Import the trial function in a worker (never in the driver)."""
        w = self.workers[0]
        w.conn.send(CheckTarget(target))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not w.conn.poll(0.2):
                if w.proc.poll() is not None:
                    return f"the worker process died while importing it (exit {w.proc.returncode})"
                continue
            try:
                msg = w.conn.recv()
            except EOFError:
                return "the worker process died while importing it"
            if isinstance(msg, Checked):
                return msg.problem
        return f"importing it took longer than {timeout:.0f} s"

    def submit(self, slot: int, task: Task) -> None:
        w = self.workers[slot]
        if w.proc.poll() is not None:
            w.close()
            w = self.workers[slot] = self._spawn(slot)
        w.number, w.out_dir, w.child_pid = task.number, task.out_dir, None
        w.conn.send(RunTask(task))

    def reply(self, slot: int, prune: bool) -> None:
        try:
            self.workers[slot].conn.send(Decision(prune))
        except OSError:
            pass

    def kill(self, slot: int, why: str) -> None:
        self.killed[slot] = why
        self.workers[slot].kill()

    def wait(self, timeout: float) -> list[BackendEvent]:
        conns = {w.conn: w for w in self.workers if w.number is not None or not w.ready}
        events: list[BackendEvent] = []
        if not conns:
            time.sleep(min(timeout, 0.05))
            return events
        for conn in wait(list(conns), timeout=timeout):
            w = conns[conn]  # type: ignore[index]
            while True:
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    events.extend(self._died(w))
                    break
                if isinstance(msg, Ready):
                    w.ready = True
                elif isinstance(msg, Report):
                    events.append(Reported(w.slot, msg.number, msg.step, msg.metrics))
                elif isinstance(msg, ViewOpened):
                    events.append(Opened(w.slot, msg.number, msg.refs, msg.tags))
                elif isinstance(msg, ChildStarted):
                    w.child_pid = msg.pid
                elif isinstance(msg, Finished):
                    w.number = None
                    events.append(Done(w.slot, msg.number, msg.outcome))
                if not w.conn.poll(0):
                    break
        return events

    def _died(self, w: _Worker) -> list[BackendEvent]:
        w.kill()
        code = w.proc.wait()
        number, slot, out_dir = w.number, w.slot, w.out_dir
        why = self.killed.pop(slot, None)
        w.close()
        self.workers[slot] = self._spawn(slot)
        if number is None:
            return []
        if why is None:
            if code < 0:
                sig = signal.Signals(-code).name
                why = f"worker process killed by {sig}" + (" (out of memory?)" if sig == "SIGKILL" else "")
            else:
                why = f"worker process exited with status {code}"
        stderr = tail(os.path.join(out_dir, "stderr.txt")) if out_dir else ""
        return [Died(slot, number, f"{why}: {stderr}" if stderr else why)]

    def shutdown(self) -> None:
        for w in self.workers:
            try:
                if w.number is None and w.proc.poll() is None:
                    w.conn.send(Stop())
            except OSError:
                pass
        deadline = time.monotonic() + 2
        for w in self.workers:
            try:
                w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            w.kill()
            w.proc.wait()
            w.close()
        self.workers = []
        shutil.rmtree(self.log_dir, ignore_errors=True)
