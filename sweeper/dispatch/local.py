"""The local backend: a pool of reusable worker processes on this machine.

Each slot is one worker process (`python -m sweeper.worker`) connected by a socketpair. A worker
lives in its own process group, so a timeout or Ctrl-C kills it together with any command it
started; a dead worker is replaced before its slot takes the next trial.
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
from typing import Any

from .events import Died, Done, Report, SlotInfo


class _Worker:
    def __init__(self, slot: int, env: dict[str, str], log_path: str, workdir: str) -> None:
        parent, child = socket.socketpair()
        self.log = open(log_path, "ab")
        full_env = {**os.environ, **env, "SWEEPER_WORKDIR": workdir, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sweeper.worker", str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            cwd=workdir, env=full_env, start_new_session=True,
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.slot = slot
        self.number: int | None = None  # the trial it runs
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


class LocalBackend:
    """Slots are worker processes; `slot_env[i]` pins slot i's environment (its GPUs)."""

    name = "local"

    def __init__(self, workers: int, workdir: str, slot_env: list[dict[str, str]] | None = None) -> None:
        self.n = workers
        self.workdir = workdir
        # worker logs hold only what is printed outside trials (trials write their own files)
        self.log_dir = tempfile.mkdtemp(prefix="sweeper-workers-")
        self.slot_env = slot_env or [{} for _ in range(workers)]
        self.workers: list[_Worker] = []
        self.killed: dict[int, str] = {}  # slot -> why the driver killed it

    def _spawn(self, slot: int) -> _Worker:
        return _Worker(slot, self.slot_env[slot], os.path.join(self.log_dir, f"worker-{slot}.log"), self.workdir)

    def start(self) -> None:
        self.workers = [self._spawn(i) for i in range(self.n)]

    def slot_info(self, slot: int) -> SlotInfo:
        w = self.workers[slot]
        return SlotInfo(host=w.host, pid=w.proc.pid, gpus=self.slot_env[slot].get("CUDA_VISIBLE_DEVICES", ""))

    def check_function(self, target: str, timeout: float = 120.0) -> str | None:
        """Import the trial function in a worker (never in the driver)."""
        w = self.workers[0]
        w.conn.send(("check", target))
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
            if msg[0] == "checked":
                return msg[1]
        return f"importing it took longer than {timeout:.0f} s"

    def submit(self, slot: int, task: dict[str, Any]) -> None:
        w = self.workers[slot]
        if w.proc.poll() is not None:
            w.close()
            w = self.workers[slot] = self._spawn(slot)
        w.number, w.child_pid = task["number"], None
        w.conn.send(("run", task))

    def reply(self, slot: int, prune: bool) -> None:
        try:
            self.workers[slot].conn.send(("decision", prune))
        except OSError:
            pass

    def kill(self, slot: int, why: str) -> None:
        self.killed[slot] = why
        self.workers[slot].kill()

    def wait(self, timeout: float) -> list[Any]:
        conns = {w.conn: w for w in self.workers if w.number is not None or not w.ready}
        events: list[Any] = []
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
                kind = msg[0]
                if kind == "ready":
                    w.ready = True
                elif kind == "report":
                    events.append(Report(w.slot, msg[1], msg[2], msg[3]))
                elif kind == "child":
                    w.child_pid = msg[2]
                elif kind == "done":
                    w.number = None
                    events.append(Done(w.slot, msg[1], msg[2]))
                if not w.conn.poll(0):
                    break
        return events

    def _died(self, w: _Worker) -> list[Any]:
        w.kill()
        code = w.proc.wait()
        number, slot = w.number, w.slot
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
        return [Died(slot, number, why)]

    def shutdown(self) -> None:
        for w in self.workers:
            try:
                if w.number is None and w.proc.poll() is None:
                    w.conn.send(("stop",))
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
