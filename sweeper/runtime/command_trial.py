"""A command trial: a program run in its own process group, its params on the command line.

It reports either through `sweeper.report` (two pipes named in `SWEEPER_REPORT_FD`, JSON lines out
and a decision back) or, when it cannot import sweeper, by printing `SWEEPER_RESULT {...}` lines
(with a `step`: a report; without: its final metrics). Pruned, it gets SIGTERM and, after
`PRUNE_GRACE_S`, SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from typing import Any

from ..messages import COMPLETE, FAIL, PRUNED, ChildStarted, Task, TrialOutcome
from .link import Link
from .logs import tail
from .process import child_setup

RESULT_PREFIX = "SWEEPER_RESULT "
PRUNE_GRACE_S = 5.0


def run_command(link: Link, task: Task) -> TrialOutcome:
    assert task.argv is not None
    number, wait = task.number, task.wait_decision
    state: dict[str, Any] = {"last_step": None, "last_metrics": {}, "pruned": False, "final": None}
    rep_r, rep_w = os.pipe()
    dec_r, dec_w = os.pipe()
    env = {**os.environ, **task.env, "SWEEPER_REPORT_FD": f"{rep_w},{dec_r}"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (task.workdir, env.get("PYTHONPATH", "")) if p)
    out_path = os.path.join(task.out_dir, "stdout.txt")
    err = open(os.path.join(task.out_dir, "stderr.txt"), "ab")
    try:
        proc = subprocess.Popen(task.argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                pass_fds=(rep_w, dec_r), cwd=task.workdir, env=env,
                                process_group=0, preexec_fn=child_setup)
    except OSError as e:
        for fd in (rep_r, rep_w, dec_r, dec_w):
            os.close(fd)
        err.close()
        return TrialOutcome(state=FAIL, error=f"cannot run {task.argv[0]!r}: {e.strerror}")
    os.close(rep_w)
    os.close(dec_r)
    link.send(ChildStarted(number, proc.pid))

    def stop_child() -> None:
        state["pruned"] = True
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + PRUNE_GRACE_S
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def relay_reports() -> None:
        with os.fdopen(rep_r, "r") as reports, os.fdopen(dec_w, "w", buffering=1) as decisions:
            for line in reports:
                if state["pruned"]:  # told to stop: whatever it still says is not a result
                    try:
                        decisions.write("prune\n")
                    except BrokenPipeError:
                        pass
                    continue
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    continue
                state["last_step"], state["last_metrics"] = msg["step"], msg["metrics"]
                prune = link.report(number, msg["step"], msg["metrics"], wait)
                if prune:
                    state["pruned"] = True
                try:
                    decisions.write("prune\n" if prune else "continue\n")
                except BrokenPipeError:
                    pass

    relay = threading.Thread(target=relay_reports, daemon=True)
    relay.start()
    assert proc.stdout is not None
    with open(out_path, "ab") as out:
        for raw in proc.stdout:
            out.write(raw)
            out.flush()
            line = raw.decode(errors="replace").strip()
            if not line.startswith(RESULT_PREFIX) or state["pruned"]:
                continue
            try:
                payload = json.loads(line[len(RESULT_PREFIX):])
                metrics = {str(k): float(v) for k, v in payload.items() if k != "step"}
            except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
                continue
            if "step" in payload:
                step = int(payload["step"])
                state["last_step"], state["last_metrics"] = step, metrics
                if link.report(number, step, metrics, wait):
                    threading.Thread(target=stop_child, daemon=True).start()
            else:
                state["final"] = metrics
    code = proc.wait()
    relay.join(timeout=5)
    err.close()
    outcome = TrialOutcome(state=COMPLETE, metrics=state["final"] or dict(state["last_metrics"]),
                           last_step=state["last_step"])
    if state["pruned"]:
        outcome.state = PRUNED
    elif code != 0:
        outcome.state = FAIL
        why = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        outcome.error = f"command {why}: {tail(os.path.join(task.out_dir, 'stderr.txt'))}".rstrip(": ")
    return outcome
