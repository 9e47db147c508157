"""Bounded trial logs: head + note + tail, exactly; small outputs untouched; any bytes; crash-safe head."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sweeper.runtime.command_trial import ResultLines
from sweeper.runtime.logs import BoundedLog, PipeLog, format_size, tail

ROOT = Path(__file__).resolve().parents[2]
LINES = b"".join(b"l%02d\n" % i for i in range(100))  # 400 bytes, 4 a line


def bounded(path: Path, limit: int | None, chunks: list[bytes], stream: str = "stdout") -> bytes:
    with BoundedLog(str(path), limit, stream, sync_s=0) as log:
        for c in chunks:
            log.write(c)
    return path.read_bytes()


def pieces(data: bytes, seed: int) -> list[bytes]:
    """`data` in random chunks of 1 to 50 bytes."""
    rng, out, i = random.Random(seed), [], 0
    while i < len(data):
        n = rng.randint(1, 50)
        out.append(data[i:i + n])
        i += n
    return out


def note(cut: str, lines: str, limit: str, stream: str = "stdout") -> bytes:
    return f"[... sweeper cut {cut} ({lines}) of {stream}: trial.log_limit is {limit} ...]\n".encode()


@pytest.mark.parametrize("chunking", ["whole", "bytes", "random"])
def test_head_and_tail_cut_at_line_ends(tmp_path, chunking):
    chunks = {"whole": [LINES], "bytes": [LINES[i:i + 1] for i in range(len(LINES))],
              "random": pieces(LINES, 1)}[chunking]
    # limit 20: the head is the first 10 bytes ("l00\nl01\nl0"), ended at its last newline; the tail
    # the last 10 ("7\nl98\nl99\n"), started after its first one
    assert bounded(tmp_path / "out.txt", 20, chunks) == (
        b"l00\nl01\n" + note("384 bytes", "96 lines", "20 bytes") + b"l98\nl99\n")


def test_small_outputs_are_untouched(tmp_path):
    assert bounded(tmp_path / "a.txt", 400, pieces(LINES, 2)) == LINES  # exactly the limit
    assert bounded(tmp_path / "b.txt", 10 << 20, [b"hello\n", b"world"]) == b"hello\nworld"
    assert bounded(tmp_path / "c.txt", None, [LINES] * 3) == LINES * 3  # no limit
    assert bounded(tmp_path / "d.txt", 20, []) == b""
    out = bounded(tmp_path / "e.txt", 399, [LINES])  # one byte over: the head ends at its last line end
    assert out == LINES[:196] + note("4 bytes", "1 line", "399 bytes") + LINES[-200:]


def test_binary_output_passes_through_byte_for_byte(tmp_path):
    rng = random.Random(3)
    data = bytes(b for b in rng.randbytes(5000) if b != 0x0A)  # no line ends: cuts at the byte
    out = bounded(tmp_path / "bin.txt", 1000, pieces(data, 4))
    cut = len(data) - 1000
    assert out == data[:500] + b"\n" + note(format_size(cut), "0 lines", "1000 bytes") + data[-500:]
    mixed = b"".join(bytes([0xFF, 0xFE, 0x00, i, 0x0A]) for i in range(256))  # not UTF-8, with lines
    out = bounded(tmp_path / "mixed.txt", 100, [mixed])
    assert out.startswith(mixed[:50]) and out.endswith(mixed[-50:])
    assert bounded(tmp_path / "small.txt", 10000, [mixed]) == mixed


def test_a_limit_smaller_than_one_line(tmp_path):
    line = b"A" * 50 + b"B" * 50 + b"\n"
    assert bounded(tmp_path / "a.txt", 8, [line]) == b"AAAA\n" + note("93 bytes", "0 lines", "8 bytes") + b"BBB\n"
    assert bounded(tmp_path / "b.txt", 1, [line * 3]) == note("302 bytes", "2 lines", "1 byte") + b"\n"


def test_the_note_in_megabytes(tmp_path):
    line = b"x" * 99 + b"\n"
    with BoundedLog(str(tmp_path / "big.txt"), 1 << 20, "stderr", sync_s=0) as log:
        for _ in range(1000):
            log.write(line * 1000)  # 100 MB in writes of 100 kB
        assert log.ring is not None and len(log.ring) == 1 << 19  # memory: the tail's half of the limit
    out = (tmp_path / "big.txt").read_bytes()
    assert len(out) <= (1 << 20) + 100
    head, rest = out.split(b"[... ", 1)
    kept_lines = (len(head) + len(rest.split(b"...]\n", 1)[1])) // 100
    assert rest.startswith(b"sweeper cut 94.4 MB (%s lines) of stderr: trial.log_limit is 1 MB ...]\n"
                           % f"{1_000_000 - kept_lines:,}".encode())
    assert head.endswith(b"x\n") and out.endswith(line) and len(head) % 100 == 0
    assert [format_size(n) for n in (1, 512, 1024, 10 << 20, int(91.2 * (1 << 20)), 3 << 30)] == [
        "1 byte", "512 bytes", "1 KB", "10 MB", "91.2 MB", "3 GB"]


def test_the_tail_reaches_the_file_while_the_stream_runs(tmp_path):
    path = tmp_path / "live.txt"
    path.write_bytes(b"earlier\n")  # what was there stays, ahead of the stream
    log = BoundedLog(str(path), 20, "stdout", sync_s=0.05)
    log.write(LINES)
    time.sleep(0.5)  # no close: a process killed now leaves this file
    assert path.read_bytes() == b"earlier\nl00\nl01\n" + note("384 bytes", "96 lines", "20 bytes") + b"l98\nl99\n"
    log.write(b"l100\n")
    log.close()
    assert path.read_bytes().endswith(note("388 bytes", "97 lines", "20 bytes") + b"l99\nl100\n")


def test_a_pipe_log_reads_any_writer_until_eof(tmp_path):
    seen: list[bytes] = []
    pipe = PipeLog(str(tmp_path / "p.txt"), 20, "stdout", on_data=seen.append)
    pipe.start()

    def writer(fd: int) -> None:
        for i in range(0, len(LINES), 7):
            os.write(fd, LINES[i:i + 7])
        os.close(fd)

    t = threading.Thread(target=writer, args=(os.dup(pipe.w),))
    t.start()
    pipe.finish()
    t.join()
    assert b"".join(seen) == LINES
    assert (tmp_path / "p.txt").read_bytes() == b"l00\nl01\n" + note("384 bytes", "96 lines", "20 bytes") + b"l98\nl99\n"


def test_a_writer_that_outlives_its_trial_is_cut_off(tmp_path):
    pipe = PipeLog(str(tmp_path / "p.txt"), None, "stdout")
    pipe.start()
    lingering = os.dup(pipe.w)  # a background process still holding the trial's stdout
    os.write(lingering, b"before\n")
    t0 = time.monotonic()
    pipe.finish(grace=1.0)
    assert time.monotonic() - t0 < 2.5
    assert (tmp_path / "p.txt").read_bytes() == b"before\n"
    with pytest.raises(BrokenPipeError):
        os.write(lingering, b"after\n")
    os.close(lingering)


CRASH = """
import ctypes, os, sys, time
from sweeper.runtime.logs import Redirect
d = sys.argv[1]
import faulthandler; faulthandler.enable()
with Redirect(d, 2000):
    for i in range(1000):
        print(f"out {i}", flush=True)
        os.write(2, b"err %d\\n" % i)  # C-level writes go through the pipe too
    time.sleep(1.5)  # the tails' sync
    def boom():
        ctypes.string_at(0)
    boom()
"""


def test_a_function_trial_that_segfaults_keeps_head_tail_and_dump(tmp_path):
    p = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path)], cwd=ROOT, capture_output=True, timeout=60)
    assert p.returncode < 0 and p.stdout == b""  # all of it went to the files
    out = (tmp_path / "stdout.txt").read_bytes()
    assert out.startswith(b"out 0\n") and b"[... sweeper cut" in out and out.endswith(b"out 999\n")
    assert len(out) <= 2000 + 100
    err = (tmp_path / "stderr.txt").read_bytes()
    assert err.startswith(b"err 0\n") and b"err 999\nFatal Python error: Segmentation fault" in err
    # the dump lists the log threads first: the error names the crashed thread's innermost frame
    error = tail(str(tmp_path / "stderr.txt"))
    assert error.startswith("Fatal Python error: Segmentation fault at File ") and "in string_at" in error


def test_redirect_restores_fds_and_faulthandler(tmp_path):
    code = """
import faulthandler, os, sys
from sweeper.runtime.logs import Redirect
faulthandler.enable()
with Redirect(sys.argv[1], 10):
    print("x" * 100)
    print("to the file", file=sys.stderr)
print("back on stdout", flush=True)
import ctypes; ctypes.string_at(0)
"""
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, timeout=60)
    assert p.returncode < 0 and p.stdout == b"back on stdout\n"
    # the fault handler writes to the worker's own stderr again, not into the trial's file
    assert b"Fatal Python error" in p.stderr and b"to the file" not in p.stderr
    assert (tmp_path / "stdout.txt").read_bytes() == b"xxxxx\n" + note("91 bytes", "0 lines", "10 bytes") + b"xxxx\n"
    assert (tmp_path / "stderr.txt").read_bytes() == b"to the file\n"[:5] + b"\n" + note(
        "2 bytes", "0 lines", "10 bytes", "stderr") + b"file\n"


def test_result_lines_are_found_across_any_chunking():
    rng = random.Random(5)
    lines = [b"noise " * rng.randint(0, 30) for _ in range(2000)]
    for i in range(0, 2000, 97):
        lines[i] = b'  SWEEPER_RESULT {"step": %d, "loss": 1}' % i
    lines[1000] = b"a line with SWEEPER_RESULT in its middle"
    stream = b"\n".join(lines) + b"\nSWEEPER_RESULT {\"loss\": 0.5}"  # the last without a newline
    want = [ln for ln in stream.split(b"\n") if ln.lstrip().startswith(b"SWEEPER_RESULT ")]
    assert len(want) == 22
    for chunks in ([stream], pieces(stream, 6), [stream[i:i + 1] for i in range(0, len(stream))]):
        r = ResultLines()
        got = [ln for c in chunks for ln in r.feed(c)] + r.end()
        assert got == want
    r = ResultLines()
    assert r.feed(b"x" * 100 + b"SWEEPER_RESULT {}") == [] and not r.part  # not kept: it cannot be one
    assert r.feed(b"\n  SWEEP") == [] and r.feed(b"ER_RESULT {}") == [] and r.feed(b"\nnext") == [b"  SWEEPER_RESULT {}"]


def test_the_crash_tail_of_a_dump_with_threads(tmp_path):
    log = tmp_path / "stderr.txt"
    log.write_text("loading\nFatal Python error: Segmentation fault\n\nThread 0x1 (most recent call first):\n"
                   '  File "logs.py", line 9 in run\n\nCurrent thread 0x2 (most recent call first):\n'
                   '  File "train.py", line 5 in step\n  File "train.py", line 9 in main\n')
    assert tail(str(log)) == 'Fatal Python error: Segmentation fault at File "train.py", line 5 in step'


def reference(data: bytes, limit: int) -> bytes:
    """What a bounded log of `data` must be, computed from the whole stream at once."""
    if len(data) <= limit:
        return data
    h, t = limit // 2, limit - limit // 2
    head, tail = data[:h], data[len(data) - t:]
    if head.rfind(b"\n") + 1 > h // 2:
        head = head[:head.rfind(b"\n") + 1]
    if data[len(data) - t - 1] != 0x0A and tail.find(b"\n", 0, len(tail) // 2) >= 0:
        tail = tail[tail.find(b"\n", 0, len(tail) // 2) + 1:]
    cut = data[len(head):len(data) - len(tail)]
    lines = cut.count(b"\n")
    sep = b"\n" if head and not head.endswith(b"\n") else b""
    return head + sep + note(format_size(len(cut)), f"{lines:,} line{'' if lines == 1 else 's'}",
                             format_size(limit)) + tail


def test_any_stream_any_limit_any_chunking_matches_the_reference(tmp_path):
    rng = random.Random(7)
    for case in range(300):
        data = bytes(rng.choice(b"ab\n\xff") for _ in range(rng.randint(0, 600)))
        limit = rng.randint(1, 300)
        chunks = [data[:len(data) // 3], data[len(data) // 3:]] if case % 3 == 0 else pieces(data, case)
        got = bounded(tmp_path / f"{case}.txt", limit, chunks)
        assert got == reference(data, limit), (case, limit, data)


def test_the_tail_of_a_traceback_is_its_exception_first_not_hydras_hint(tmp_path):
    from sweeper.runtime.logs import tail

    log = tmp_path / "stderr.txt"
    log.write_text("Error executing job with overrides: ['x=1']\n"
                   "Traceback (most recent call last):\n"
                   '  File "/app/train.py", line 12, in main\n'
                   "    model = build(cfg)\n"
                   '  File "/app/train.py", line 5, in build\n'
                   '    raise ValueError("depth must be > 0, got -1")\n'
                   "ValueError: depth must be > 0, got -1\n"
                   "\n"
                   "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n")
    assert tail(str(log)) == ('ValueError: depth must be > 0, got -1 (at File "/app/train.py", line 5, in build)')
    log.write_text("epoch 1\nepoch 2\nout of patience\n")  # no traceback: the last lines, as before
    assert tail(str(log)) == "epoch 1 | epoch 2 | out of patience"
