"""The sweep's report (`sweep report`): a sweep's study as one offline HTML page, PNG previews and importances.

The CLI command should load the study and make these three calls (spec: the sweep's SweepSpec,
whose `metrics` and `directions` name the objectives)::

    from sweeper.viz import param_importances, write_images, write_report

    study = sweeper.api.open_study(name, storage)
    html = write_report(study, out / "report.html", title=f"Sweep {name}",
                        metric_names=list(spec.metrics), directions=spec.directions)
    pngs = write_images(study, out / "images", metric_names=list(spec.metrics),
                        directions=spec.directions)
    importances = param_importances(study, list(spec.metrics))  # {param: share}, {} if unknown

then attach `html` and `pngs` to the sweep's parent MLflow run (e.g. the tracking layer's
`log_report`) and log each importance as a metric such as `importance.<param>`.

Import this package inside the command, not at the CLI's start: drawing imports plotly,
matplotlib and (through `optuna.importance`) scikit-learn, ~2.5 s in a fresh process. For 200
trials with learning curves, report + images take ~2.3 s once imported, ~5 s in a fresh
process; the HTML file is ~5 MB, almost all of it the inlined plotly.js.

Named `viz`, not `report`: `sweeper.report` is the trial-side function `report(step, **metrics)`,
which a subpackage of that name would shadow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from .images import write_images
from .importance import param_importances
from .objectives import Objective, resolve_objectives
from .page import write_report


@dataclass
class Built:
    html: Path
    images: list[Path]
    importances: dict[str, float]  # {param: share} of the first objective, {} when unknown
    tables: list[Path] = field(default_factory=list)  # front.csv with several objectives

    @property
    def files(self) -> list[str]:
        return [str(self.html), *map(str, self.images), *map(str, self.tables)]


def build(study: optuna.Study, folder: str | Path, *, title: str, metric_names: list[str],
          directions: list[str] | None = None, front: list[Any] | None = None) -> Built:
    """The report a sweep leaves behind: `report.html`, PNG previews and the importances, in `folder`;
    with several objectives, `front` (the Pareto front's trials) as `front.csv` too."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    html = write_report(study, folder / "report.html", title=title, metric_names=metric_names, directions=directions)
    images = write_images(study, folder, metric_names=metric_names, directions=directions)
    tables = [write_front(front, folder / "front.csv", metric_names)] if front is not None else []
    return Built(html, images, param_importances(study, metric_names), tables)


def write_front(trials: list[Any], path: Path, metric_names: list[str]) -> Path:
    """The Pareto front as a table: one row per trial, its objectives, then its params."""
    import csv

    params = list(dict.fromkeys(k for t in trials for k in t.params))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["trial", *metric_names, *params])
        for t in trials:
            w.writerow([t.number, *t.values, *(t.params.get(k, "") for k in params)])
    return path


__all__ = ["Built", "Objective", "build", "param_importances", "resolve_objectives", "write_images", "write_report"]
