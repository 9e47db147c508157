"""The progress views, driven as the driver drives them, with a fake clock and in-memory output."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from rich.text import Text

from sweeper.ui.progress import LiveProgress, Progress, make

SECRET_URL = "postgresql://bob:hunter2@db/x"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def panel(clock: Clock, target_console: Console | None = None, **kw) -> LiveProgress:
    console = target_console or Console(file=io.StringIO(), force_terminal=True, width=120)
    p = make("quick", "val_loss", goal="minimize", console=console, clock=clock, **kw)
    assert isinstance(p, LiveProgress)
    p.live.auto_refresh = False  # no refresh thread racing the assertions
    return p


def text_of(p: LiveProgress, width: int = 120) -> str:
    rec = Console(file=io.StringIO(), width=width, record=True, force_terminal=True)
    rec.print(p.render())
    return rec.export_text()


def line_with(text: str, word: str) -> str:
    found = [ln for ln in text.splitlines() if word in ln]
    assert found, f"no line with {word!r} in\n{text}"
    return found[0]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def live(clock: Clock):
    p = panel(clock)
    yield p
    p.stop()


# --- the live panel --------------------------------------------------------------------------------
def test_before_start_the_panel_says_starting_not_zero_of_zero(live: LiveProgress) -> None:
    text = text_of(live)
    assert "starting…" in text
    assert "0/0" not in text and "complete" not in text
    assert "quick" in text and "minimize val_loss" in text


def test_the_panel_shows_bar_counts_rate_eta_best_running_and_failures(live: LiveProgress, clock: Clock) -> None:
    live.start(10, 0, 0, None, None)
    assert "waiting for the first trial to start…" in text_of(live)
    live.trial_started(0, {"lr": 0.00123456789, "hidden": 64, "db": SECRET_URL})
    live.trial_started(1, {"lr": 0.1, "hidden": 16})
    live.trial_started(2, {"lr": 0.2, "hidden": 32})
    clock.now += 60
    live.trial_reported(1, 3, 0.52)
    live.trial_finished(0, "COMPLETE", 0.25, 0.25, 0)
    live.trial_finished(2, "FAIL", None, 0.25, 0, error="Traceback (most recent call last):\n  ...\nValueError: boom")
    live.trial_started(3, {"lr": 0.3, "hidden": 128})
    clock.now += 60
    live.tick(2)
    text = text_of(live)

    bar = line_with(text, "trials/min")
    assert "━" in bar  # the bar itself
    assert re.search(r"\b2/10\s+20%", bar), bar
    assert "elapsed 0:02:00" in bar and "1.0 trials/min" in bar
    assert "ETA 0:08:00" in bar  # 8 left at 1 a minute
    counts = line_with(text, "complete")
    assert re.search(r"complete\s+1\s+pruned\s+0\s+failed\s+1\s+running\s+2", counts), counts

    best = line_with(text, "best val_loss")
    assert "0.25" in best and "trial 0" in best
    assert "lr=0.00123457" in best and "hidden=64" in best  # one precision: .6g
    assert "hunter2" not in text and "bob:***@db" in best  # params are masked

    header = line_with(text, "params")
    assert "running" in header and "step" in header and "val_loss" in header
    row1 = line_with(text, "lr=0.1,")
    assert re.search(r"\b1\s+lr=0\.1, hidden=16\s+120 s\s+3\s+0\.52\b", row1), row1
    row3 = line_with(text, "lr=0.3,")
    assert re.search(r"\b3\s+lr=0\.3, hidden=128\s+60 s\s+-\s+-", row3), row3
    assert "lr=0.2," not in text  # the failed trial no longer runs
    assert "waiting for the first trial" not in text

    fail = line_with(text, "failed trial 2")
    assert "Traceback (most recent call last): ... ValueError: boom" in fail
    assert "VALUE" not in text


def test_the_last_three_failures_only(live: LiveProgress) -> None:
    live.start(10, 0, 0, None, None)
    for n in range(5):
        live.trial_started(n, {"x": n})
        live.trial_finished(n, "FAIL", None, None, None, error=f"RuntimeError: number {n}")
    text = text_of(live)
    assert [int(m) for m in re.findall(r"trial (\d) RuntimeError", text)] == [2, 3, 4]
    assert re.search(r"failed\s+5", line_with(text, "complete"))


def test_count_columns_do_not_move_as_numbers_grow(live: LiveProgress, clock: Clock) -> None:
    live.start(1000, 0, 0, None, None)
    layouts = set()
    bars = set()
    for n in range(1000):
        live.trial_started(n, {"x": n})
        clock.now += 1
        state = "COMPLETE" if n % 3 else ("PRUNED" if n % 2 else "FAIL")
        value = 1000.0 / (n + 1) if state == "COMPLETE" else None
        live.trial_finished(n, state, value, 1.0, 1, error="E: x" if state == "FAIL" else None)
        if n in (0, 1, 8, 9, 10, 99, 100, 998, 999):
            text = text_of(live)
            counts = line_with(text, "complete")
            layouts.add(tuple(counts.index(w) for w in ("pruned", "failed", "running")) + (len(counts.rstrip()),))
            bar = line_with(text, "trials/min")
            bars.add((bar.index("/1000"), bar.index("%"), bar.index("elapsed")))
    assert len(layouts) == 1, layouts
    assert len(bars) == 1, bars


def test_best_value_is_padded_so_the_trial_number_stays_put(live: LiveProgress) -> None:
    live.start(10, 0, 0, None, None)
    where = set()
    for n, v in enumerate([0.5, 0.123456789, 1e-7]):
        live.trial_started(n, {"x": n})
        live.trial_finished(n, "COMPLETE", v, v, n)
        where.add(line_with(text_of(live), "best val_loss").index(" trial "))
    assert len(where) == 1


def test_the_closing_state_shows_until_stop_and_the_final_panel_stays(clock: Clock) -> None:
    out = io.StringIO()
    p = panel(clock, Console(file=out, force_terminal=True, width=120))
    p.start(2, 0, 0, None, None)
    for n in range(2):
        p.trial_started(n, {"x": n})
        clock.now += 30
        p.trial_finished(n, "COMPLETE", float(n), 0.0, 0)
    p.closing("writing MLflow…")
    text = text_of(p)
    assert "writing MLflow…" in text
    assert re.search(r"2/2\s+100%", text) and "ETA 0:00:00" in text
    assert "2.0 trials/min" in text
    clock.now += 100
    p.stop()
    clock.now += 1000
    final = text_of(p)
    assert "writing MLflow" not in final
    assert "elapsed 0:02:40" in final  # frozen at stop
    assert "2.0 trials/min" in final  # the rate of the trials, not of the wait for MLflow
    # what the terminal got: the last frame drawn is the final state (transient=False)
    screen = Text.from_ansi(out.getvalue()).plain
    assert "[quick] writing MLflow" not in screen  # the panel shows it, no line above
    last = screen[screen.rindex("quick"):]
    assert "2/2" in last and "100%" in last and "writing MLflow" not in last
    p.stop()  # twice is harmless


def test_resumed_sweep_and_unknown_target(clock: Clock) -> None:
    p = panel(clock)
    try:
        p.start(0, 4, 1, 0.5, 2)
        text = text_of(p)
        assert "4 finished" in text and "ETA -:--:--" in text and "0/0" not in text
        assert re.search(r"complete\s+3\s+pruned\s+0\s+failed\s+1", text)
        assert re.search(r"best val_loss 0\.5\s+trial 2", text)
        p.counts(2, 1, 1)  # the driver's own totals win
        assert re.search(r"complete\s+2\s+pruned\s+1\s+failed\s+1", text_of(p))
    finally:
        p.stop()
    screen = Text.from_ansi(p.console.file.getvalue()).plain
    assert "resuming quick: 4 trials already finished" in screen


def test_failures_are_printed_above_the_panel_masked(clock: Clock) -> None:
    out = io.StringIO()
    p = panel(clock, Console(file=out, force_terminal=True, width=120))
    p.start(3, 0, 0, None, None)
    p.trial_started(0, {"x": 0})
    p.trial_finished(0, "FAIL", None, None, None, error=f"cannot reach {SECRET_URL}")
    p.stop()
    screen = Text.from_ansi(out.getvalue()).plain
    assert "trial 0 FAIL cannot reach postgresql://bob:***@db/x" in screen
    assert "hunter2" not in screen


def test_many_running_trials_are_summed_up(live: LiveProgress) -> None:
    live.start(20, 0, 0, None, None)
    for n in range(12):
        live.trial_started(n, {"x": n})
    text = text_of(live)
    assert "… and 4 more" in text
    assert re.search(r"running\s+12", line_with(text, "complete"))


def test_long_params_are_shortened_in_the_running_table(live: LiveProgress) -> None:
    live.start(2, 0, 0, None, None)
    live.trial_started(0, {f"param_{i}": i * 0.1 for i in range(40)})
    text = text_of(live, width=80)
    row = line_with(text, "param_0=")
    assert "…" in row and len(row) <= 80


# --- plain lines ---------------------------------------------------------------------------------
def plain(clock: Clock | None = None) -> tuple[Progress, io.StringIO]:
    out = io.StringIO()
    p = make("quick", "val_loss", stream=out, clock=clock or Clock())
    assert type(p) is Progress
    return p, out


LINE = re.compile(r"\[quick\] trial (\d+) (\w+)(?: (.*?))? \| done (\d+)/(\d+), running (\d+), failed (\d+), "
                  r"best val_loss=(\S+)(?: \(trial (\d+)\))?")


def parsed(out: io.StringIO) -> list[re.Match[str]]:
    lines = [ln for ln in out.getvalue().splitlines() if "] trial " in ln]
    matches = [LINE.fullmatch(ln) for ln in lines]
    assert all(matches), lines
    return matches  # type: ignore[return-value]


def test_plain_lines_one_per_finished_trial() -> None:
    p, out = plain()
    p.start(4, 0, 0, None, None)
    p.trial_started(0, {"x": 1})
    p.trial_started(1, {"x": 2})
    p.trial_finished(0, "COMPLETE", 0.123456789, 0.123456789, 0)
    p.trial_reported(1, 7, 0.9)
    p.trial_finished(1, "PRUNED", None, 0.123456789, 0)
    p.stop()
    m = parsed(out)
    assert m[0].group(0) == ("[quick] trial 0 COMPLETE val_loss=0.123457 | done 1/4, running 1, failed 0, "
                             "best val_loss=0.123457 (trial 0)")
    assert m[1].group(0) == ("[quick] trial 1 PRUNED at step 7 val_loss=0.9 | done 2/4, running 0, failed 0, "
                             "best val_loss=0.123457 (trial 0)")
    assert "\x1b" not in out.getvalue()


def test_plain_running_count_is_right_out_of_order_and_with_odd_reports() -> None:
    p, out = plain()
    p.trial_started(0, {"x": 0})  # started before start()
    p.start(6, 0, 0, None, None)
    for n in (1, 2, 3):
        p.trial_started(n, {"x": n})
    p.trial_finished(2, "COMPLETE", 1.0, 1.0, 2)  # out of order
    p.trial_finished(0, "COMPLETE", 0.5, 0.5, 0)
    p.trial_finished(0, "COMPLETE", 0.5, 0.5, 0)  # reported twice: counted once, no second line
    p.trial_finished(9, "FAIL", None, 0.5, 0, error="lost")  # never started here
    p.tick(2)
    p.trial_finished(3, "FAIL", None, 0.5, 0, error="ValueError: boom\nmore")
    p.trial_finished(1, "COMPLETE", 0.7, 0.5, 0)
    rows = [(int(m.group(1)), m.group(2), int(m.group(4)), int(m.group(6)), int(m.group(7))) for m in parsed(out)]
    assert rows == [(2, "COMPLETE", 1, 3, 0), (0, "COMPLETE", 2, 2, 0), (9, "FAIL", 3, 2, 1),
                    (3, "FAIL", 4, 1, 2), (1, "COMPLETE", 5, 0, 2)]
    assert "trial 3 FAIL ValueError: boom ... more |" in out.getvalue()


def test_plain_tick_zero_clears_trials_whose_end_was_never_reported() -> None:
    p, out = plain()
    p.start(3, 0, 0, None, None)
    p.trial_started(0, {})
    p.trial_started(1, {})
    p.tick(0)
    p.trial_started(2, {})
    p.trial_finished(2, "COMPLETE", 1.0, 1.0, 2)
    assert parsed(out)[0].group(6) == "0"


def test_plain_interrupted_trials_are_not_failures() -> None:
    p, out = plain()
    p.start(3, 0, 0, None, None)
    p.trial_started(0, {})
    p.trial_finished(0, "FAIL", None, None, None, error="interrupted")
    m = parsed(out)[0]
    assert (m.group(2), m.group(3), m.group(4), m.group(7), m.group(8)) == ("FAIL", "interrupted", "0", "0", "-")
    assert m.group(9) is None


def test_plain_resume_closing_and_masking() -> None:
    p, out = plain()
    p.start(10, 3, 1, 0.2, 1)
    p.trial_started(5, {"db": SECRET_URL})
    p.trial_finished(5, "FAIL", None, 0.2, 1, error=f"cannot open {SECRET_URL}: " + "x" * 300)
    p.closing("writing MLflow...")
    p.stop()
    text = out.getvalue()
    assert text.splitlines()[0] == "resuming quick: 3/10 trials already finished"
    assert "hunter2" not in text and "bob:***@db" in text
    m = parsed(out)[0]
    assert (m.group(4), m.group(7)) == ("4", "2")
    assert len(m.group(3)) == 200 and m.group(3).endswith("...")
    assert text.splitlines()[-1] == "[quick] writing MLflow..."


def test_plain_without_a_target_shows_the_count_alone() -> None:
    p, out = plain()
    p.start(0, 0, 0, None, None)
    p.trial_started(0, {})
    p.trial_finished(0, "COMPLETE", 2.0, 2.0, 0)
    assert "| done 1, running 0, failed 0, best val_loss=2 (trial 0)" in out.getvalue()


def test_make_picks_plain_lines_when_stdout_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    p = make("quick", "val_loss")
    assert type(p) is Progress and p.stream is out


def test_budgets_spent_show_under_the_counts_and_in_plain_lines(live: LiveProgress) -> None:
    live.start(200, 0, 0, None, None)
    assert "budget" not in text_of(live)  # a sweep without budgets shows no such line
    live.budget({"steps": "41/60", "time": "2m10s/8h00m"})
    assert "budget  steps 41/60, time 2m10s/8h00m" in line_with(text_of(live), "budget")
    p, out = plain()
    p.start(4, 0, 0, None, None)
    p.budget({"steps": "10/60"})
    p.trial_started(0, {"x": 1})
    p.trial_finished(0, "COMPLETE", 0.5, 0.5, 0)
    assert out.getvalue().rstrip().endswith("best val_loss=0.5 (trial 0), steps 10/60")


def test_the_panel_shows_busy_and_available_slots_and_says_when_fewer_than_the_workers(live: LiveProgress) -> None:
    live.start(20, 0, 0, None, None)
    live.slots(4, 4)
    for n in range(3):
        live.trial_started(n, {"x": n})
    counts = line_with(text_of(live), "running")
    assert re.search(r"running +3/4 slots", counts) and "workers" not in counts
    live.slots(2, 8)  # Ray places 2 where 8 workers were asked: the panel says so
    counts = line_with(text_of(live), "running")
    assert "/2 slots (workers=8)" in counts
