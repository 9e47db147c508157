"""sweeper.viz on real in-memory Optuna studies: the HTML page (one inlined plotly.js, no
network scripts, a chart or a visible note for each plot), the PNG previews and the importances.

Studies are built with ask/tell so every state (complete, pruned, failed) is placed on purpose
and nothing is logged; each test takes well under a second once plotly is imported.
"""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest
from optuna.samplers import RandomSampler
from optuna.trial import TrialState

from sweeper.viz import param_importances, write_images, write_report

optuna.logging.set_verbosity(optuna.logging.WARNING)

SINGLE_PLOTS = {"history", "importances", "intermediate", "parallel", "slice", "timeline"}


def single_study(n: int = 24) -> optuna.Study:
    """One objective, 3 params, learning curves; trials 5, 11, 17, 23 pruned, 7 and 15 failed."""
    study = optuna.create_study(study_name="single", sampler=RandomSampler(seed=0))
    for i in range(n):
        t = study.ask()
        x = t.suggest_float("x", -3, 3)
        lr = t.suggest_float("lr", 1e-4, 1e-1, log=True)
        act = t.suggest_categorical("act", ["relu", "tanh"])
        loss = (x - 1) ** 2 + lr + (0.3 if act == "tanh" else 0.0)
        steps = 2 if i % 6 == 5 else 5
        for step in range(steps):
            t.report(loss + 1.0 / (step + 1), step)
        if i % 6 == 5:
            study.tell(t, state=TrialState.PRUNED)
        elif i % 8 == 7:
            study.tell(t, state=TrialState.FAIL)
        else:
            study.tell(t, loss + 1.0 / steps)
    return study


def two_objective_study() -> optuna.Study:
    study = optuna.create_study(study_name="two", directions=["minimize", "maximize"],
                                sampler=RandomSampler(seed=1))
    for _ in range(20):
        t = study.ask()
        x, y = t.suggest_float("x", 0, 1), t.suggest_int("depth", 1, 8)
        study.tell(t, [x**2 + 0.01 * y, 1 - (x - 0.5) ** 2 + 0.02 * y])
    return study


def one_complete_study() -> optuna.Study:
    study = optuna.create_study(study_name="one")
    t = study.ask()
    study.tell(t, t.suggest_float("x", 0, 1))
    return study


def no_complete_study() -> optuna.Study:
    study = optuna.create_study(study_name="none")
    for _ in range(2):
        t = study.ask()
        t.suggest_float("x", 0, 1)
        study.tell(t, state=TrialState.FAIL)
    return study


def charts(html: str) -> set[str]:
    return set(re.findall(r'<div id="fig-([^"]+)" class="plotly-graph-div"', html))


def skipped(html: str) -> set[str]:
    return set(re.findall(r'data-skipped="([^"]+)"', html))


def plotlyjs_copies(html: str) -> int:
    from plotly.offline import get_plotlyjs

    return html.count(get_plotlyjs()[:300])


def assert_offline(html: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_single_objective_report(tmp_path: Path) -> None:
    study = single_study()
    out = write_report(study, tmp_path / "sub" / "report.html", title="Digits <MLP>",
                       metric_names=["val_loss"], directions=["minimize"])
    html = out.read_text(encoding="utf-8")
    assert out == tmp_path / "sub" / "report.html"
    assert_offline(html)
    assert plotlyjs_copies(html) == 1
    assert charts(html) == SINGLE_PLOTS and not skipped(html)
    assert "<title>Digits &lt;MLP&gt;</title>" in html  # escaped
    # summary: objective and direction, counts by state, best value and params
    assert "val_loss <b>↓ minimize</b>" in html
    assert "24 trials" in html
    assert "complete <b>18</b>" in html and "pruned <b>4</b>" in html and "fail <b>2</b>" in html
    best = study.best_trial
    assert f"at trial {best.number}</p>" in html
    assert f'<b class="best-value">{best.value:.6g}</b>' in html
    for name, value in best.params.items():
        expected = f"{value:.6g}" if isinstance(value, float) else value
        assert f"<tr><td>{name}</td><td>{expected}</td></tr>" in html
    # learning curves: pruned trials are told apart, with a legend entry and count
    assert '"name":"pruned (4)"' in html.replace(": ", ":")
    assert "Trial5 (pruned)" in html


def test_two_objectives_report(tmp_path: Path) -> None:
    study = two_objective_study()
    html = write_report(study, tmp_path / "r.html", title="two", metric_names=["loss", "acc"]).read_text()
    assert_offline(html)
    assert plotlyjs_copies(html) == 1
    per_objective = {f"{kind}-{m}" for kind in ("history", "importances", "parallel", "slice") for m in ("loss", "acc")}
    assert charts(html) == per_objective | {"pareto", "timeline"}
    assert skipped(html) == {"intermediate"}
    assert "acc <b>↑ maximize</b>" in html
    pareto = study.best_trials
    assert f"{len(pareto)} Pareto-optimal trial(s)" in html
    table = html[html.index('class="best-params pareto"'):]
    table = table[: table.index("</table>")]
    assert sorted(int(n) for n in re.findall(r"<tr><td>(\d+)</td>", table)) == sorted(t.number for t in pareto)


def test_one_complete_trial_skips_importances(tmp_path: Path) -> None:
    html = write_report(one_complete_study(), tmp_path / "r.html", title="one",
                        metric_names=["score"]).read_text()
    assert_offline(html)
    assert plotlyjs_copies(html) == 1
    assert charts(html) == {"history", "parallel", "slice", "timeline"}
    assert skipped(html) == {"importances", "intermediate"}
    assert "importances need at least 2 completed trials (this study has 1)" in html
    assert "no trial reported intermediate values" in html


def test_no_complete_trial(tmp_path: Path) -> None:
    html = write_report(no_complete_study(), tmp_path / "r.html", title="none",
                        metric_names=["score"]).read_text()
    assert plotlyjs_copies(html) == 1  # the timeline still shows the failed trials
    assert charts(html) == {"timeline"}
    assert skipped(html) == SINGLE_PLOTS - {"timeline"}
    assert "No completed trial yet" in html and "fail <b>2</b>" in html


def test_empty_study_needs_no_plotlyjs(tmp_path: Path) -> None:
    html = write_report(optuna.create_study(), tmp_path / "r.html", title="empty",
                        metric_names=["score"]).read_text()
    assert plotlyjs_copies(html) == 0 and not charts(html)
    assert skipped(html) == SINGLE_PLOTS
    assert "0 trials: none yet" in html


def test_one_parameter_skips_importances(tmp_path: Path) -> None:
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    html = write_report(study, tmp_path / "r.html", title="x", metric_names=["v"]).read_text()
    assert "importances need at least 2 parameters (this study has 1)" in html
    assert param_importances(study, ["v"]) == {}


def test_arguments_are_checked(tmp_path: Path) -> None:
    study = single_study(3)
    with pytest.raises(ValueError, match="metric_names"):
        write_report(study, tmp_path / "r.html", title="x", metric_names=["a", "b"])
    with pytest.raises(ValueError, match="disagree"):
        write_report(study, tmp_path / "r.html", title="x", metric_names=["a"], directions=["maximize"])
    assert not (tmp_path / "r.html").exists()


def test_images(tmp_path: Path) -> None:
    import matplotlib
    from matplotlib import pyplot as plt

    style = dict(matplotlib.rcParams)
    before = plt.get_fignums()
    files = write_images(single_study(), tmp_path / "img", metric_names=["val_loss"])
    assert [f.name for f in files] == ["history.png", "importances.png", "intermediate_values.png"]
    for f in files:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 5000
    assert plt.get_fignums() == before  # every figure closed
    assert dict(matplotlib.rcParams) == style  # Optuna's plt.style.use("ggplot") did not leak

    two = write_images(two_objective_study(), tmp_path / "two", metric_names=["loss", "acc"])
    assert sorted(f.name for f in two) == ["history_acc.png", "history_loss.png",
                                           "importances_acc.png", "importances_loss.png"]
    assert write_images(one_complete_study(), tmp_path / "one", metric_names=["s"]) == [tmp_path / "one" / "history.png"]
    assert write_images(no_complete_study(), tmp_path / "none", metric_names=["s"]) == []
    assert plt.get_fignums() == before


def test_param_importances() -> None:
    study = single_study()
    imp = param_importances(study, ["val_loss"])
    assert set(imp) == {"x", "lr", "act"}
    assert all(isinstance(v, float) and v >= 0 for v in imp.values())
    assert sum(imp.values()) == pytest.approx(1.0)
    two = param_importances(two_objective_study(), ["loss", "acc"])  # the first objective
    assert set(two) == {"x", "depth"} and sum(two.values()) == pytest.approx(1.0)
    assert param_importances(one_complete_study(), ["s"]) == {}
    assert param_importances(no_complete_study(), ["s"]) == {}
