"""The sweep report in a real headless Chromium: no JavaScript errors, no network request, and
every chart drawn (plotly adds an `svg.main-svg` inside each `.plotly-graph-div` it renders).

Playwright drives Debian's Chromium (`/usr/bin/chromium`, installed by `make browser`, which
`make test` runs first): Playwright's own browser download is not reachable from our machines.
The test is never skipped; without Chromium it fails and says how to install it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.samplers import RandomSampler
from optuna.trial import TrialState

from sweeper.viz import write_report

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("SWEEPER_CHROMIUM", "/usr/bin/chromium")
optuna.logging.set_verbosity(optuna.logging.WARNING)


def single_study() -> optuna.Study:
    """40 trials over 4 params with learning curves; every 5th pruned, every 9th failed."""
    study = optuna.create_study(study_name="browser-single", sampler=RandomSampler(seed=0))
    for i in range(40):
        t = study.ask()
        x = t.suggest_float("x", -3, 3)
        lr = t.suggest_float("lr", 1e-4, 1e-1, log=True)
        width = t.suggest_int("width", 16, 256, log=True)
        act = t.suggest_categorical("act", ["relu", "tanh", "gelu"])
        loss = (x - 1) ** 2 + lr + 10 / width + (0.3 if act == "tanh" else 0.0)
        for step in range(3 if i % 5 == 4 else 8):
            t.report(loss + 1.0 / (step + 1), step)
        if i % 5 == 4:
            study.tell(t, state=TrialState.PRUNED)
        elif i % 9 == 8:
            study.tell(t, state=TrialState.FAIL)
        else:
            study.tell(t, loss + 1.0 / 8)
    return study


def two_objective_study() -> optuna.Study:
    study = optuna.create_study(study_name="browser-two", directions=["minimize", "maximize"],
                                sampler=RandomSampler(seed=1))
    for _ in range(25):
        t = study.ask()
        x, depth = t.suggest_float("x", 0, 1), t.suggest_int("depth", 1, 8)
        study.tell(t, [x**2 + 0.01 * depth, 1 - (x - 0.5) ** 2 + 0.02 * depth])
    return study


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert os.access(CHROMIUM, os.X_OK), (
        f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium) as root")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.mark.parametrize("which", ["single", "two"])
def test_report_draws_every_chart_offline(chromium, tmp_path: Path, which: str) -> None:
    if which == "single":
        path = write_report(single_study(), tmp_path / "report.html", title="browser",
                            metric_names=["val_loss"])
    else:
        path = write_report(two_objective_study(), tmp_path / "report.html", title="browser",
                            metric_names=["loss", "acc"], directions=["minimize", "maximize"])
    written = re.findall(r'<div id="(fig-[^"]+)" class="plotly-graph-div"', path.read_text(encoding="utf-8"))
    assert len(written) == (6 if which == "single" else 10)

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def offline(route) -> None:  # the page must need nothing but its own file
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    try:
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function(
            """n => {
                const divs = document.querySelectorAll('.plotly-graph-div');
                return divs.length === n && [...divs].every(d => d.querySelector('svg.main-svg'));
            }""",
            arg=len(written), timeout=30_000)
        drawn = page.eval_on_selector_all(
            ".plotly-graph-div", "ds => ds.filter(d => d.querySelector('svg.main-svg')).map(d => d.id)")
        traces = page.eval_on_selector_all(".plotly-graph-div", "ds => ds.map(d => (d.data || []).length)")
        assert page.evaluate("typeof window.Plotly") == "object"
    finally:
        context.close()
    assert drawn == written
    assert all(n > 0 for n in traces), dict(zip(written, traces, strict=True))
    assert errors == []
    assert outside == []
