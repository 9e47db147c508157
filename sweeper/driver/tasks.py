"""Task building: a trial's number and params → the `Task` a backend runs.

Everything a worker needs is decided here, once, in the driver: the command line (params as
Hydra-style `key=value`, appended or in place of `${args}`), the environment the trial sees, its
output folder and its checkpoint folder (shared by all its attempts).
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any, Protocol

from ..config.spec import SweepSpec
from ..messages import Task, ViewHook
from ..runtime.trial_config import format_value

ARGS = "${args}"


class Jobs(Protocol):
    """A front door that composes each trial's job itself: the Hydra plugin, with Hydra's own
    composition of the app's config (hydra_plugins/sweeper_sweeper/_impl.py)."""

    def base_config(self) -> Any:
        """The config `search.configure` gets: the app's, before any trial's params."""

    def job(self, number: int, params: dict[str, Any]) -> dict[str, Any]:
        """Trial `number`'s job (`Task.hydra_job`); raises when its config cannot be composed."""


class TaskBuilder:
    def __init__(self, spec: SweepSpec, checkpoint_root: str, wait_decision: bool, jobs: Jobs | None = None) -> None:
        self.spec = spec
        self.jobs = jobs
        self.checkpoint_root = checkpoint_root
        self.wait_decision = wait_decision
        self.argv_template = self._argv_template()

    def _argv_template(self) -> list[str] | None:
        if not self.spec.trial.command:
            return None
        argv = shlex.split(self.spec.trial.command)
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable  # the sweep's interpreter, even when its venv is not activated
        return argv

    def argv(self, params: dict[str, Any]) -> list[str]:
        args = [f"{k}={format_value(v)}" for k, v in params.items()]
        assert self.argv_template is not None
        if ARGS not in self.argv_template:
            return [*self.argv_template, *args]
        out: list[str] = []
        for item in self.argv_template:
            out.extend(args if item == ARGS else [item])
        return out

    def out_dir(self, number: int) -> str:
        return os.path.join(self.spec.sweep_dir, "trials", str(number))

    def build(self, number: int, params: dict[str, Any], root: int, views: list[ViewHook] | None = None) -> Task:
        spec = self.spec
        env = {"SWEEPER_SWEEP": spec.name, "SWEEPER_TRIAL": str(number),
               "SWEEPER_CHECKPOINT_DIR": os.path.join(self.checkpoint_root, f"trial-{root}")}
        return Task(
            number=number, params=params, env=env, metrics=spec.metrics, out_dir=self.out_dir(number),
            workdir=spec.workdir, wait_decision=self.wait_decision,
            config_path=os.path.join(spec.base_dir, spec.trial.config) if spec.trial.config else None,
            function=spec.trial.function, argv=self.argv(params) if self.argv_template is not None else None,
            views=list(views or []), log_limit=spec.trial.log_limit,
            hydra_job=self.jobs.job(number, params) if self.jobs is not None else None,
        )
