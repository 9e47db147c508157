"""A trial's own stdout/stderr files: bounded, redirected into, and read back for a one-line error.

`trial.log_limit` bounds what a trial's logs keep per stream: `BoundedLog` writes the head as it
comes and keeps the tail in memory, so a trial that prints 100 MB never puts more than the limit
on disk, not even while it runs. `PipeLog` is a pipe whose read end a thread copies into one.
"""

from __future__ import annotations

import faulthandler
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

#: how often the kept tail of a stream past its head is rewritten into its file
SYNC_S = 1.0
#: what one read of a trial's pipe takes at most
CHUNK = 1 << 20
#: after a read that found the pipe far from full, wait this long for more: a writer that trickles
#: (an unbuffered `print` is a write per line) costs ~200 reads a second, not one per line
BATCH_S = 0.005


def format_size(n: int) -> str:
    """`10 MB`, `91.2 MB`, `512 bytes` (1024-based, as `trial.log_limit` is read)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            v = n / size
            return f"{v:g} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} byte{'' if n == 1 else 's'}"


class BoundedLog:
    """A stream's bytes into a file, at most `limit` of them kept: its head and its tail.

    The first half of the limit (the head) goes to the file as it comes; past it, a buffer keeps
    the last half (the tail). When nothing had to be dropped, the file is the stream, byte for
    byte; when something was, it is head + a note line of what was cut + tail, the cuts made at a
    line end when one lies in the half of the head (of the tail) next to the cut. Bytes, not text:
    any encoding, or none, passes through. Memory: the tail, at most half the limit (plus one write).

    The tail reaches the file at `close()` and, while it changes, every `sync_s` seconds (a timer
    thread that starts once the head is full). A process that dies hard (segfault, `os._exit`,
    SIGKILL) loses at most the last `sync_s` seconds of the tail; the head is on disk already.
    `limit` None: unbounded, everything is written as it comes. Thread-safe; an error writing the
    file (a full disk) drops the rest rather than stopping the stream's reader.
    """

    def __init__(self, path: str, limit: int | None, stream: str = "output", sync_s: float = SYNC_S) -> None:
        self.limit, self.stream, self.sync_s = limit, stream, sync_s
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)  # no O_APPEND: pwrite at offsets
        self.base = os.lseek(self.fd, 0, os.SEEK_END)  # what an earlier writer left there stays
        self.head_cap = limit // 2 if limit else 0
        self.tail_cap = limit - self.head_cap if limit else 0
        self.head = 0  # bytes of the head written
        self.head_nl = 0  # the head's length up to and with its last newline
        self.ring: bytearray | None = None  # the tail's buffer, tail_cap bytes once the head is full
        self.pos = 0  # where the ring's next byte goes
        self.filled = 0  # bytes of the ring in use (from 0 up while nothing was dropped)
        self.cut = 0  # bytes dropped from the front of the tail's window
        self.cut_lines = 0  # newlines among them
        self.cut_at_nl = False  # the last byte dropped was a newline: the tail starts a line
        self.total = 0
        self.dirty = False  # the tail changed since it was last written
        self.failed: OSError | None = None
        self.closed = False
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def __enter__(self) -> BoundedLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        with self.lock:
            if self.closed:
                return
            if not isinstance(data, bytes):
                data = bytes(data)
            self.total += len(data)
            if self.limit is None:
                self._pwrite(data, self.head)
                self.head += len(data)
                return
            if self.head < self.head_cap:
                n = min(len(data), self.head_cap - self.head)
                part = data[:n]
                nl = part.rfind(b"\n")
                if nl >= 0:
                    self.head_nl = self.head + nl + 1
                self._pwrite(part, self.head)
                self.head += n
                data = data[n:]
                if not data:
                    return
            cap, n = self.tail_cap, len(data)
            if self.ring is None:
                self.ring = bytearray(cap)
            ring, view = self.ring, memoryview(data)  # slices of a view: no copies
            if n >= cap:  # the new bytes alone fill the tail
                self._drop_oldest(self.filled)
                self._drop(data, 0, n - cap)
                ring[:] = view[n - cap:]
                self.pos, self.filled = 0, cap
            else:
                self._drop_oldest(self.filled + n - cap)
                end = self.pos + n
                if end <= cap:
                    ring[self.pos:end] = data
                else:
                    ring[self.pos:] = view[:cap - self.pos]
                    ring[:end - cap] = view[cap - self.pos:]
                self.pos, self.filled = end % cap, min(cap, self.filled + n)
            self.dirty = True
            if self._timer is None and self.sync_s > 0:
                self._timer = threading.Thread(target=self._sync_loop, name=f"sweeper-{self.stream}-sync", daemon=True)
                self._timer.start()

    def _drop(self, buf: bytes | bytearray, start: int, end: int) -> None:
        if end > start:
            self.cut += end - start
            self.cut_lines += buf.count(b"\n", start, end)
            self.cut_at_nl = buf[end - 1] == 0x0A

    def _drop_oldest(self, n: int) -> None:
        """The ring's oldest `n` bytes are dropped (about to be overwritten)."""
        if n <= 0:
            return
        assert self.ring is not None
        start = (self.pos - self.filled) % self.tail_cap
        first = min(n, self.tail_cap - start)
        self._drop(self.ring, start, start + first)
        self._drop(self.ring, 0, n - first)

    def kept_tail(self) -> bytes:
        """The tail as kept now, oldest byte first."""
        if self.ring is None:
            return b""
        if self.filled < self.tail_cap:  # nothing dropped yet: it starts at 0
            return bytes(self.ring[:self.filled])
        return bytes(self.ring[self.pos:]) + bytes(self.ring[:self.pos])

    def _pwrite(self, data: bytes | bytearray, offset: int) -> None:
        if self.failed is not None or not data:
            return
        try:
            view = memoryview(data)
            while view:
                n = os.pwrite(self.fd, view, self.base + offset)
                view, offset = view[n:], offset + n
        except OSError as e:
            self.failed = e

    def rendered(self) -> tuple[int, bytes]:
        """Where the part after the head starts in the file, and what it is (the note and the tail)."""
        kept = self.kept_tail()
        if not self.cut:
            return self.head, kept
        assert self.limit is not None
        head = self.head
        if self.head_nl > self.head_cap // 2:  # end the head with its last whole line
            head = self.head_nl
        start = 0
        if not self.cut_at_nl:  # start the tail with its first whole line
            start = kept.find(b"\n", 0, len(kept) // 2) + 1
        tail = kept[start:]
        cut = self.total - head - len(tail)
        lines = self.cut_lines + (1 if start else 0)
        note = (f"[... sweeper cut {format_size(cut)} ({lines:,} line{'' if lines == 1 else 's'}) of "
                f"{self.stream}: trial.log_limit is {format_size(self.limit)} ...]\n").encode()
        sep = b"\n" if 0 < head != self.head_nl else b""  # the note on a line of its own
        return head, sep + note + tail

    def sync(self) -> None:
        """Write the tail (and the note) after the head: the file as it would be if the stream ended now."""
        with self.lock:
            if self.closed or not self.dirty:
                return
            self.dirty = False
            offset, blob = self.rendered()
            self._pwrite(blob, offset)
            if self.failed is None:
                try:
                    os.ftruncate(self.fd, self.base + offset + len(blob))
                except OSError as e:
                    self.failed = e

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.sync_s):
            self.sync()

    def close(self) -> None:
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()
        self.sync()
        with self.lock:
            if not self.closed:
                self.closed = True
                os.close(self.fd)


def _grow_pipe(fd: int) -> int:
    """Fewer, larger reads: ask Linux for a 1 MiB pipe (the default is 64 KiB); its size, as it is."""
    try:
        import fcntl

        return fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
    except (OSError, ImportError):
        return 1 << 16


class PipeLog:
    """A pipe whose read end is copied into a `BoundedLog`: give `w` to a writer, then `start()` (a
    thread) or `run()` (here), and `finish()` at the end. `on_data` sees every chunk read, after it
    went to the log (a command trial's `SWEEPER_RESULT` lines are found in it, cut or not)."""

    def __init__(self, path: str, limit: int | None, stream: str,
                 on_data: Callable[[bytes], None] | None = None) -> None:
        self.log = BoundedLog(path, limit, stream)
        self.r, self.w = os.pipe()
        self.batch = _grow_pipe(self.w) // 4  # a read shorter than this waits BATCH_S before the next
        self.on_data = on_data
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._deadline = 0.0

    def close_write(self) -> None:
        """Our copy of the write end, once the writer holds its own (a child, or a dup2)."""
        if self.w >= 0:
            os.close(self.w)
            self.w = -1

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"sweeper-{self.log.stream}", daemon=True)
        self.thread.start()

    def run(self) -> None:
        """Read until every writer closed the pipe (or, once `finish` asked, it is quiet)."""
        poller = select.poll()
        poller.register(self.r, select.POLLIN)
        try:
            while True:
                if not poller.poll(200):
                    if self._stop.is_set():
                        break
                    continue
                data = os.read(self.r, CHUNK)
                if not data:
                    break
                self.log.write(data)
                if self.on_data is not None:
                    self.on_data(data)
                if self._stop.is_set() and time.monotonic() > self._deadline:
                    break
                if len(data) < self.batch:
                    time.sleep(BATCH_S)
        finally:
            os.close(self.r)
            self.r = -1

    def finish(self, grace: float = 2.0) -> None:
        """Drain what was written and close the log. A writer that outlives its trial (a background
        process holding the fd) gets `grace` seconds, or until it is quiet for 0.2 s, then the pipe
        closes under it."""
        self.close_write()
        if self.thread is not None:
            self.thread.join(timeout=0.5)  # the usual end: the writers are gone, EOF comes at once
            if self.thread.is_alive():
                self._deadline = time.monotonic() + grace
                self._stop.set()
                self.thread.join()
        elif self.r >= 0:  # never read (the writer never started)
            os.close(self.r)
            self.r = -1
        self.log.close()


class Redirect:
    """Point fds 1 and 2 at the trial's own files, so even C-level output and segfault dumps land there.

    With a `limit`, each fd is a pipe that a thread copies into its file through a `BoundedLog`
    (a file bounds nothing by itself). What the trial wrote but the thread had not read yet when
    the process dies hard (segfault, `os._exit`, SIGKILL) dies with it, and so does the tail kept
    since its last sync (at most `SYNC_S`); the head is on disk as it comes. A segfault's
    faulthandler dump is written straight into stderr.txt, past the pipe, so it is always there
    and its `tail()` is the error. Without a limit, fds 1 and 2 are the files themselves.

    The readers need the GIL: C code that writes more than a pipe holds (1 MiB) in one call while
    holding the GIL (a pybind11 function that does not release it, printing) blocks the trial for
    good. `trial.log_limit: null` gives such a trial the files themselves again.
    """

    def __init__(self, out_dir: str, limit: int | None = None) -> None:
        self.out_dir, self.limit = out_dir, limit
        self.pipes: list[PipeLog] = []
        self.fault_fd: int | None = None

    def __enter__(self) -> Redirect:
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        try:
            self._redirect()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _redirect(self) -> None:
        for fd, name in ((1, "stdout"), (2, "stderr")):
            path = os.path.join(self.out_dir, f"{name}.txt")
            if self.limit is None:
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(f, fd)
                os.close(f)
                continue
            pipe = PipeLog(path, self.limit, name)
            os.dup2(pipe.w, fd)
            pipe.close_write()
            pipe.start()
            self.pipes.append(pipe)
        if self.pipes and faulthandler.is_enabled():
            self.fault_fd = os.open(os.path.join(self.out_dir, "stderr.txt"), os.O_WRONLY | os.O_APPEND)
            faulthandler.enable(self.fault_fd)

    def __exit__(self, *exc: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, fd)  # the pipes' last write ends in this process close: their readers see EOF
            os.close(saved)
        if self.fault_fd is not None:
            faulthandler.enable(2)  # the worker's own stderr again (fd 2 is restored above)
            os.close(self.fault_fd)
        for pipe in self.pipes:
            pipe.finish()


#: what a Hydra app prints last when its task fails: the tail would hold it instead of the cause
HYDRA_HINT = "Set the environment variable HYDRA_FULL_ERROR=1"


def tail(path: str, lines: int = 3, limit: int = 2000) -> str:
    """The last lines of a log as one line; for a Python traceback, the exception's line and where
    it was raised (the cause, not Hydra's closing hint); for a faulthandler dump, its headline and
    innermost frame."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    raw = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(HYDRA_HINT)]
    all_lines = [ln.strip() for ln in raw]
    fatal = [i for i, ln in enumerate(all_lines) if ln.startswith("Fatal Python error")]
    if fatal:  # a faulthandler dump: its headline and the innermost frame say the most
        i = fatal[-1]
        # with several threads, the crashed one is "Current thread", not necessarily the first listed
        start = next((j for j in range(i, len(all_lines)) if all_lines[j].startswith("Current thread")), i)
        frame = next((ln for ln in all_lines[start:] if ln.startswith("File ")), "")
        return f"{all_lines[i]} {('at ' + frame) if frame else ''}".strip()[:limit]
    tracebacks = [i for i, ln in enumerate(raw) if ln.startswith("Traceback (most recent call last)")]
    if tracebacks:  # a Python traceback: the exception's own line first, then where it was raised
        after = raw[tracebacks[-1] + 1:]
        head = next((j for j, ln in enumerate(after) if not ln[:1].isspace()), None)
        if head is not None:
            frame = next((ln.strip() for ln in reversed(after[:head]) if ln.strip().startswith("File ")), "")
            return f"{after[head].strip()}{(' (at ' + frame + ')') if frame else ''}"[:limit]
    return " | ".join(all_lines[-lines:])[-limit:]
