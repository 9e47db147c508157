"""A worker process: runs trials one after another, isolated from the driver.

The worker is reused across trials (process start-up and imports are paid once), but a trial
that kills its process costs only that trial: the driver sees the socket close, records the
trial as failed with the tail of its stderr, and starts a fresh worker. User code never runs in
the driver. Started as `python -m sweeper.worker FD` with one end of a socketpair.
"""

from __future__ import annotations

import ctypes
import faulthandler
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from . import reporting

RESULT_PREFIX = "SWEEPER_RESULT "
PRUNE_GRACE_S = 5.0


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so a killed driver leaves no orphans behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the worker ignores SIGINT; the trial must not inherit that
    die_with_parent()


def resolve_function(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj


def check_function(target: str) -> str | None:
    """Import the trial function once before the sweep starts: a typo fails at launch, not per trial."""
    module_name = target.partition(":")[0]
    try:
        resolve_function(target)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            return f"cannot import module {module_name!r} (not found from {os.getcwd()})"
        return f"importing {module_name!r} failed: {type(e).__name__}: {e}"
    except AttributeError:
        return f"module {module_name!r} has no attribute {target.partition(':')[2]!r}"
    except Exception as e:
        return f"importing {module_name!r} failed: {type(e).__name__}: {e}"
    return None


def format_value(value: Any) -> str:
    """A Python value as a Hydra override value, quoted only where Hydra's grammar needs it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    s = str(value)
    if re.fullmatch(r"[A-Za-z_/\-][\w./\-]*", s) and s.lower() not in ("null", "true", "false", "nan", "inf"):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def compose_config(task: dict[str, Any]) -> Any:
    """The trial's training config: the base config (if any) with the params applied."""
    from omegaconf import OmegaConf

    params: dict[str, Any] = task["params"]
    path = task.get("config_path")
    if not path:
        cfg = OmegaConf.create({})
        for k, v in params.items():
            OmegaConf.update(cfg, k, v, force_add=True)
        return cfg
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    config_dir, name = os.path.dirname(path), os.path.splitext(os.path.basename(path))[0]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            base = compose(config_name=name)
            overrides = []
            for k, v in params.items():
                known = OmegaConf.select(base, k, default=None) is not None or os.path.isdir(os.path.join(config_dir, k))
                overrides.append(f"{'' if known else '++'}{k}={format_value(v)}")
            return compose(config_name=name, overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


class _Link:
    """The worker's end of the socket: one lock, because a command trial reports from a thread."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, msg: tuple[Any, ...]) -> None:
        with self.lock:
            self.conn.send(msg)

    def report(self, number: int, step: int, metrics: dict[str, float], wait: bool) -> bool:
        with self.lock:
            self.conn.send(("report", number, step, metrics))
            if not wait:
                return False
            reply = self.conn.recv()
            return bool(reply[1])


class _FunctionChannel:
    def __init__(self, link: _Link, task: dict[str, Any], state: dict[str, Any]) -> None:
        self.link, self.task, self.state = link, task, state

    def report(self, step: int, metrics: dict[str, float]) -> bool:
        self.state["last_step"], self.state["last_metrics"] = step, metrics
        prune = self.link.report(self.task["number"], step, metrics, self.task["wait_decision"])
        if prune:
            self.state["pruned"] = True
        return prune


class _Redirect:
    """Point fds 1 and 2 at the trial's own files, so even C-level output and segfault dumps land there."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def __enter__(self) -> _Redirect:
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
            f = os.open(os.path.join(self.out_dir, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(f, fd)
            os.close(f)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)


def _metrics_of(ret: Any, metric: str) -> dict[str, float]:
    if ret is None:
        return {}
    if isinstance(ret, dict):
        out = {}
        for k, v in ret.items():
            try:
                out[str(k)] = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"the trial returned a non-numeric metric {k!r}: {v!r}") from None
        return out
    try:
        return {metric: float(ret)}
    except (TypeError, ValueError):
        raise TypeError(f"the trial must return a number or a dict of metrics, got {type(ret).__name__}") from None


def run_function(link: _Link, task: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {"last_step": None, "last_metrics": {}, "pruned": False}
    result: dict[str, Any] = {"state": "COMPLETE", "metrics": {}, "error": None, "config_yaml": None}
    os.environ.update(task["env"])
    reporting._set_channel(_FunctionChannel(link, task, state))
    try:
        with _Redirect(task["out_dir"]):
            try:
                from omegaconf import OmegaConf

                cfg = compose_config(task)
                result["config_yaml"] = OmegaConf.to_yaml(cfg)
                ret = resolve_function(task["function"])(cfg)
                metrics = _metrics_of(ret, task["metric"])
                result["metrics"] = metrics or dict(state["last_metrics"])
            except reporting.TrialPruned:
                result["state"] = "PRUNED"
            except BaseException as e:  # noqa: BLE001 - SystemExit from user code is a failure too
                if state["pruned"]:
                    result["state"] = "PRUNED"
                else:
                    traceback.print_exc()
                    result["state"] = "FAIL"
                    result["error"] = f"{type(e).__name__}: {e}".strip()
    finally:
        reporting._set_channel(None)
        for k in task["env"]:
            os.environ.pop(k, None)
    result["last_step"] = state["last_step"]
    return result


def run_command(link: _Link, task: dict[str, Any]) -> dict[str, Any]:
    number, wait = task["number"], task["wait_decision"]
    state: dict[str, Any] = {"last_step": None, "last_metrics": {}, "pruned": False, "final": None}
    rep_r, rep_w = os.pipe()
    dec_r, dec_w = os.pipe()
    env = {**os.environ, **task["env"], "SWEEPER_REPORT_FD": f"{rep_w},{dec_r}"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (task["workdir"], env.get("PYTHONPATH", "")) if p)
    out_path = os.path.join(task["out_dir"], "stdout.txt")
    err = open(os.path.join(task["out_dir"], "stderr.txt"), "ab")
    try:
        proc = subprocess.Popen(task["argv"], stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                pass_fds=(rep_w, dec_r), cwd=task["workdir"], env=env,
                                process_group=0, preexec_fn=_child_setup)
    except OSError as e:
        for fd in (rep_r, rep_w, dec_r, dec_w):
            os.close(fd)
        err.close()
        return {"state": "FAIL", "metrics": {}, "error": f"cannot run {task['argv'][0]!r}: {e.strerror}",
                "last_step": None, "config_yaml": None}
    os.close(rep_w)
    os.close(dec_r)
    link.send(("child", number, proc.pid))

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
    result: dict[str, Any] = {"metrics": state["final"] or dict(state["last_metrics"]), "error": None,
                              "last_step": state["last_step"], "config_yaml": None}
    if state["pruned"]:
        result["state"] = "PRUNED"
    elif code != 0:
        result["state"] = "FAIL"
        why = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        result["error"] = f"command {why}: {tail(os.path.join(task['out_dir'], 'stderr.txt'))}".rstrip(": ")
    else:
        result["state"] = "COMPLETE"
    return result


def tail(path: str, lines: int = 3, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    all_lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    fatal = [i for i, ln in enumerate(all_lines) if ln.startswith("Fatal Python error")]
    if fatal:  # a faulthandler dump: its headline and the innermost frame say the most
        i = fatal[-1]
        frame = next((ln for ln in all_lines[i:] if ln.startswith("File ")), "")
        return f"{all_lines[i]} {('at ' + frame) if frame else ''}".strip()[:limit]
    return " | ".join(all_lines[-lines:])[-limit:]


def serve(conn: Connection) -> None:
    link = _Link(conn)
    link.send(("ready", os.getpid(), socket.gethostname()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        if msg[0] == "check":
            link.send(("checked", check_function(msg[1])))
            continue
        if msg[0] == "run":
            task = msg[1]
            os.makedirs(task["out_dir"], exist_ok=True)
            runner = run_command if task.get("argv") else run_function
            result = runner(link, task)
            link.send(("done", task["number"], result))


def main() -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    faulthandler.enable()
    workdir = os.environ.get("SWEEPER_WORKDIR", os.getcwd())
    if workdir not in sys.path:
        sys.path.insert(0, workdir)
    sock = socket.socket(fileno=int(sys.argv[1]))
    serve(Connection(sock.detach()))


if __name__ == "__main__":
    main()
