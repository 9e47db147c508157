"""A command trial: a program run in its own process group, its params on the command line.

It reports either through `sweeper.report` (two pipes named in `SWEEPER_REPORT_FD`, JSON lines out
and a decision back) or, when it cannot import sweeper, by printing `SWEEPER_RESULT {...}` lines
(with a `step`: a report; without: its final metrics). Pruned, it gets SIGTERM and, after
`PRUNE_GRACE_S`, SIGKILL. Its stdout and stderr are pipes copied into stdout.txt / stderr.txt
through `BoundedLog` (`trial.log_limit`); result lines count wherever they are, in a cut part too.
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
from .logs import PipeLog, tail
from .process import child_setup

RESULT_PREFIX = "SWEEPER_RESULT "
PRUNE_GRACE_S = 5.0
#: a result line longer than this is not read as one (the line scanner keeps no more of it)
MAX_RESULT_LINE = 1 << 20


class ResultLines:
    """The lines of a byte stream, fed in chunks of any size, that start (whitespace aside) with the
    `SWEEPER_RESULT ` prefix. A chunk without the prefix costs a few searches, not a split into
    lines; the line in progress is kept only while it may still be one."""

    PREFIX = RESULT_PREFIX.encode()

    def __init__(self) -> None:
        self.part = bytearray()  # the unfinished line, while it may be a result line
        self.skip = False  # the unfinished line cannot be one: wait for its end
        self.sure = False  # the unfinished line starts with the prefix

    def feed(self, chunk: bytes) -> list[bytes]:
        first = chunk.find(b"\n")
        if first < 0:
            self._extend(chunk)
            return []
        out = []
        if not self.skip:
            self.part += chunk[:first]
            out += self.end()
        self.part.clear()
        self.skip = self.sure = False
        last = chunk.rfind(b"\n")
        if last > first and chunk.find(self.PREFIX, first + 1, last) >= 0:  # no copy of the chunk to look
            out += [ln for ln in chunk[first + 1:last].split(b"\n") if ln.lstrip().startswith(self.PREFIX)]
        self._extend(chunk[last + 1:])
        return out

    def end(self) -> list[bytes]:
        """The line in progress, if it is one (the stream's last line, when it has no newline)."""
        line = bytes(self.part) if not self.skip else b""
        self.part.clear()
        self.skip = self.sure = False
        return [line] if line.lstrip().startswith(self.PREFIX) else []

    def _extend(self, data: bytes) -> None:
        if self.skip or not data:
            return
        self.part += data
        if len(self.part) > MAX_RESULT_LINE:
            self.part.clear()
            self.skip, self.sure = True, False
        elif not self.sure:
            lead = self.part.lstrip()
            n = min(len(lead), len(self.PREFIX))
            if lead[:n] != self.PREFIX[:n]:
                self.part.clear()
                self.skip = True
            self.sure = n == len(self.PREFIX) and not self.skip


def run_command(link: Link, task: Task) -> TrialOutcome:
    assert task.argv is not None
    number, wait = task.number, task.wait_decision
    state: dict[str, Any] = {"last_step": None, "last_metrics": {}, "pruned": False, "final": None}
    rep_r, rep_w = os.pipe()
    dec_r, dec_w = os.pipe()
    env = {**os.environ, **task.env, "SWEEPER_REPORT_FD": f"{rep_w},{dec_r}"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (task.workdir, env.get("PYTHONPATH", "")) if p)
    out = PipeLog(os.path.join(task.out_dir, "stdout.txt"), task.log_limit, "stdout")
    err_path = os.path.join(task.out_dir, "stderr.txt")
    # unbounded, stderr is the file itself; bounded, a pipe whose thread writes through a BoundedLog
    err = PipeLog(err_path, task.log_limit, "stderr") if task.log_limit is not None else open(err_path, "ab")
    try:
        proc = subprocess.Popen(task.argv, stdout=out.w, stderr=err.w if isinstance(err, PipeLog) else err,
                                stdin=subprocess.DEVNULL, pass_fds=(rep_w, dec_r), cwd=task.workdir, env=env,
                                process_group=0, preexec_fn=child_setup)
    except OSError as e:
        for fd in (rep_r, rep_w, dec_r, dec_w):
            os.close(fd)
        out.finish()
        if isinstance(err, PipeLog):
            err.finish()
        else:
            err.close()
        return TrialOutcome(state=FAIL, error=f"cannot run {task.argv[0]!r}: {e.strerror}")
    os.close(rep_w)
    os.close(dec_r)
    out.close_write()
    if isinstance(err, PipeLog):
        err.close_write()
        err.start()
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

    def on_lines(raws: list[bytes]) -> None:
        for raw in raws:
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

    relay = threading.Thread(target=relay_reports, daemon=True)
    relay.start()
    lines = ResultLines()
    out.on_data = lambda chunk: on_lines(lines.feed(chunk))
    try:
        out.run()  # here, until the command and whatever it started closed stdout
        on_lines(lines.end())
    finally:
        out.finish()
    code = proc.wait()
    relay.join(timeout=5)
    if isinstance(err, PipeLog):
        err.finish()  # stderr.txt complete before its tail is read below
    else:
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
