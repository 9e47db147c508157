"""A worker process: runs trials one after another, isolated from the driver.

The worker is reused across trials (process start-up and imports are paid once), but a trial
that kills its process costs only that trial: the backend sees the socket close, the driver
records the trial as failed with the tail of its stderr, and a fresh worker takes the slot. User
code never runs in the driver. Started as `python -m sweeper.runtime.worker FD` with one end of a
socketpair, over which the trial channel's messages (`messages.py`) travel.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import os
import signal
import socket
import sys
import threading
from multiprocessing.connection import Connection

from ..messages import (
    Checked,
    CheckTarget,
    Decision,
    Finished,
    Ready,
    Report,
    RunTask,
    Stop,
    Task,
    TrialOutcome,
    ViewOpened,
)
from .command_trial import run_command
from .function_trial import check_function, run_function
from .link import Link
from .process import die_with_parent
from .views import Views


class SocketLink:
    """The worker's end of the socket: one lock, because a command trial reports from a thread."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, msg: object) -> None:
        with self.lock:
            self.conn.send(msg)

    def report(self, number: int, step: int, metrics: dict[str, float], wait: bool) -> bool:
        with self.lock:
            self.conn.send(Report(number, step, metrics))
            if not wait:
                return False
            reply = self.conn.recv()
            return bool(isinstance(reply, Decision) and reply.prune)


def run_task(link: Link, task: Task) -> TrialOutcome:
    os.makedirs(task.out_dir, exist_ok=True)
    views = Views(task)
    if task.views:
        views.open()
        link.send(ViewOpened(task.number, views.refs, views.tags))
        task = dataclasses.replace(task, env={**task.env, **views.env})
    try:
        return run_command(link, task) if task.argv else run_function(link, task)
    finally:
        views.close()


def serve(conn: Connection) -> None:
    link = SocketLink(conn)
    link.send(Ready(os.getpid(), socket.gethostname()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(msg, Stop):
            return
        if isinstance(msg, CheckTarget):
            link.send(Checked(check_function(msg.target)))
        elif isinstance(msg, RunTask):
            link.send(Finished(msg.task.number, run_task(link, msg.task)))


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
