"""`write_report`: the whole sweep on one HTML page that opens from disk, offline.

plotly.js is inlined once, with the first chart, and every later chart reuses it, so the file
needs no network and no companion files: it can be mailed, attached to the MLflow run as an
artifact, or opened from a cluster's shared disk. It costs about 5 MB, almost all plotly.js.
"""

from __future__ import annotations

import datetime as dt
import os
from html import escape
from pathlib import Path

import optuna

from .figures import Plot, build_plots, figure_config
from .objectives import resolve_objectives
from .summary import render, summarize

CSS = """
:root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --accent:#4c78a8; --bg:#f8fafc; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
main { max-width:1200px; margin:0 auto; padding:24px; }
h1 { margin:0 0 4px; font-size:26px; }
h2 { margin:0 0 8px; font-size:18px; }
.meta, .span, .note, footer { color:var(--muted); font-size:13px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 20px; margin:16px 0; }
.chip, .count { display:inline-block; padding:2px 10px; margin:2px 4px 2px 0; border-radius:12px; background:#eef2f7; }
.state-complete { background:#e0ecf8; } .state-pruned { background:#fde2e1; } .state-fail { background:#f9d0d0; }
.state-running { background:#e3f2df; } .state-waiting { background:#eee; }
.best-value { font-size:20px; color:var(--accent); }
table { border-collapse:collapse; margin-top:6px; font-size:14px; }
th, td { border-bottom:1px solid var(--line); padding:4px 12px 4px 0; text-align:left; }
th { color:var(--muted); font-weight:600; }
nav a { margin-right:12px; color:var(--accent); text-decoration:none; white-space:nowrap; }
.plot .skipped { color:#92400e; background:#fffbeb; border:1px solid #fde68a; border-radius:6px; padding:8px 12px; margin:0; }
"""


def write_report(study: optuna.Study, path: str | Path, *, title: str, metric_names: list[str],
                 directions: list[str] | None = None) -> Path:
    """Write the sweep's report to `path` (one self-contained HTML file) and return its path.

    `metric_names` label the objectives (one per objective, in order); `directions`, if given,
    must agree with the study's. Charts Optuna cannot draw for this study yet are replaced by a
    one-line note. The file is replaced atomically, so a browser never sees half a report.
    """
    objectives = resolve_objectives(study, metric_names, directions)
    plots = build_plots(study, objectives)
    html = render_page(study, title, summary_html=render(summarize(study, objectives)), plots=plots)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # not mkstemp: its 0600 would stick
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def render_page(study: optuna.Study, title: str, *, summary_html: str, plots: list[Plot]) -> str:
    """The full page: header, summary, a link per chart, then the charts or their notes."""
    import plotly

    nav = " ".join(f'<a href="#{p.key}">{escape(p.title)}</a>' for p in plots)
    body: list[str] = []
    inlined = False
    for p in plots:
        body.append(f'<section class="plot" id="{p.key}" data-plot="{p.key}"><h2>{escape(p.title)}</h2>')
        if p.figure is None:
            body.append(f'<p class="skipped" data-skipped="{p.key}">Skipped: {escape(p.note or "")}.</p>')
        else:
            body.append(p.figure.to_html(full_html=False, include_plotlyjs=not inlined,
                                         div_id=f"fig-{p.key}", config=figure_config()))
            inlined = True
        body.append("</section>")
    now = dt.datetime.now().astimezone()
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style>",
        "</head><body><main>",
        f"<header><h1>{escape(title)}</h1>",
        f'<p class="meta">study <code>{escape(study.study_name)}</code></p></header>',
        summary_html,
        f"<nav>{nav}</nav>" if plots else "",
        *body,
        f"<footer>Written {now:%Y-%m-%d %H:%M %Z} by sweeper with Optuna {optuna.__version__} "
        f"and plotly {plotly.__version__}.</footer>",
        "</main></body></html>",
    ])
