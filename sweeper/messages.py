"""The records that travel between the driver, a backend, a worker and the trackers.

Plain dataclasses that pickle (they cross process and Ray boundaries) and import nothing: every
layer may use them, none depends on another layer to read them. Three families:
- the work: `Task` (driver → backend → worker) and `TrialOutcome` (worker → backend → driver);
- the **trial channel**, the one name for the trial↔driver link: a worker sends `Ready`,
  `ViewOpened`, `Report`, `ChildStarted`, `Checked` and `Finished`, and gets `RunTask`,
  `CheckTarget`, `Decision` and `Stop`;
- what a backend tells the driver (`BackendEvent`: `Reported`, `Opened`, `Done`, `Died`) and where a
  slot runs (`SlotInfo`), and what a tracker is told when a trial ends (`TrialFinished`,
  `TrialRecord`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: how a trial ended, in the study's words
COMPLETE, PRUNED, FAIL = "COMPLETE", "PRUNED", "FAIL"


@dataclass
class Task:
    """One trial to run: everything a worker needs, nothing it must look up."""

    number: int
    params: dict[str, Any]  # every param, fixed ones included, in the sweep file's order
    env: dict[str, str]  # SWEEPER_* variables the trial sees
    metrics: tuple[str, ...]  # the objectives' metric names: a bare number returned means the first
    out_dir: str  # the trial's stdout.txt / stderr.txt
    workdir: str  # where trial code imports from and runs
    wait_decision: bool  # a pruner answers each report: the trial waits for it
    config_path: str | None = None  # the base training config composed with the params
    function: str | None = None  # module:callable, or
    argv: list[str] | None = None  # a command line
    origin_node: str | None = None  # Ray: the driver's node (a trial elsewhere ships its logs home)
    views: list[ViewHook] = field(default_factory=list)  # what the worker opens first for the trackers
    # trial.log_limit: bytes of stdout.txt / stderr.txt kept per stream (head + tail, runtime/logs.py); None: all
    log_limit: int | None = None
    # a Hydra job (runtime/hydra_job.py): its composed config and the app's task function; `function` names it
    hydra_job: dict[str, Any] | None = None


@dataclass
class ViewHook:
    """A tracker's step at the start of a trial, run by the worker where the trial runs: `target`
    ("module:function") is called as `target(number, **args)` and returns an `OpenedView` (runtime/
    views.py): the environment the trial gets (MLflow: `MLFLOW_RUN_ID` of the trial's own run, so the
    trial's `mlflow.start_run()` continues it) and a reference sent back to the tracker."""

    tracker: str  # the tracker's name: its reference comes back under it
    target: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrialOutcome:
    """How a trial ended, as its worker saw it."""

    state: str  # COMPLETE | PRUNED | FAIL
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    last_step: int | None = None
    config_yaml: str | None = None  # the composed training config (function trials)
    files: dict[str, bytes] | None = None  # a remote trial's stdout/stderr, shipped home


# --- the trial channel: worker → driver ---------------------------------------------------------
@dataclass
class Ready:
    pid: int
    host: str


@dataclass
class Report:
    number: int
    step: int
    metrics: dict[str, float]


@dataclass
class ChildStarted:
    """A command trial's process group: the backend kills it together with the worker."""

    number: int
    pid: int


@dataclass
class ViewOpened:
    """Sent before the trial's first report: what each tracker's `ViewHook` opened (its reference, or
    None when the hook failed and the tracker must open the view itself)."""

    number: int
    refs: dict[str, str | None]
    tags: dict[str, str] = field(default_factory=dict)  # what the worker learnt of its place (its GPUs)


@dataclass
class Checked:
    problem: str | None  # None: the trial function imports


@dataclass
class Finished:
    number: int
    outcome: TrialOutcome


# --- the trial channel: driver → worker ---------------------------------------------------------
@dataclass
class RunTask:
    task: Task


@dataclass
class CheckTarget:
    target: str


@dataclass
class Decision:
    prune: bool


@dataclass
class Stop:
    pass


# --- backend → driver ---------------------------------------------------------------------------
@dataclass
class Reported:
    slot: int
    number: int
    step: int
    metrics: dict[str, float]


@dataclass
class Done:
    slot: int
    number: int
    outcome: TrialOutcome


@dataclass
class Died:
    """The trial's process ended without a result (crash, signal, OOM kill, timeout)."""

    slot: int
    number: int
    error: str  # why, with the tail of the trial's stderr


@dataclass
class Opened:
    """The trial's worker opened its views (`ViewOpened`)."""

    slot: int
    number: int
    refs: dict[str, str | None]
    tags: dict[str, str] = field(default_factory=dict)


BackendEvent = Reported | Opened | Done | Died


@dataclass
class SlotInfo:
    """Where a trial runs: recorded on its tracked run."""

    host: str = ""
    pid: int = 0
    gpus: str = ""
    extra: dict[str, str] = field(default_factory=dict)


# --- driver → trackers --------------------------------------------------------------------------
@dataclass
class Best:
    """The best trial so far (single objective), after a trial finished."""

    number: int
    values: list[float]
    params: dict[str, Any]
    config_yaml: str | None  # set when this trial is the new best
    improved: bool
    n_finished: int  # trials finished so far: the step of the best-value history


@dataclass
class TrialFinished:
    """A trial's end, as trackers hear it (live, from the driver)."""

    number: int
    state: str  # COMPLETE | PRUNED | FAIL
    status: str  # FINISHED | FAILED | KILLED: the run's end as a tracker shows it
    params: dict[str, Any]
    metrics: dict[str, float]  # returned at the end, not already reported at that step
    step: int  # where the final metrics land
    tags: dict[str, str]
    out_dir: str | None
    end_ms: int
    best: Best | None = None
    values: list[float] | None = None  # the objectives' values of a complete trial, as the study has them


@dataclass
class TrialRecord:
    """A finished trial as the study holds it: what `sync` rebuilds a tracked run from."""

    number: int
    state: str
    params: dict[str, Any]
    values: list[float] | None
    intermediate: dict[int, float]
    interrupted: bool
    error: str | None
    retry_of: int | None
    start_ms: int | None
    end_ms: int | None
