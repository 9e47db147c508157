"""The plugin's work: the multirun → one sweeper sweep, its trials Hydra jobs of the running app.

`sweep(arguments)` translates the `hydra.sweeper` node and the command line's overrides into a
native sweep (sweeper/config/hydra_plugin.py), loads it through the one loader and runs it with
`sweeper.api.run`: the same study, driver, workers and MLflow tracking as `sweep launch`. Rerunning
the same command continues the sweep (only its missing trials run). Each trial's config is composed
here by Hydra's own config loader, as Hydra's launchers do (`HydraJobs`), and run as a Hydra job
in a worker (sweeper/runtime/hydra_job.py). Hydra's launcher is not used: sweeper's workers are.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from hydra.errors import CompactHydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

_ABSENT = object()
_BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


class SweepError(CompactHydraException):
    """sweeper's error as Hydra shows it: its one line, no traceback (bad input, a failed sweep)."""


class HydraJobs:
    """Each trial's job: the app's config composed with the trial's params by Hydra's config loader
    (`load_sweep_config`, what Hydra's launchers call), shipped to a worker as plain data."""

    def __init__(self, hydra_context: HydraContext, config: DictConfig, task_function: TaskFunction,
                 job_overrides: list[str]) -> None:
        from hydra.version import VersionBase

        self.context, self.config, self.job_overrides = hydra_context, config, job_overrides
        self.sweep_dir = str(config.hydra.sweep.dir)  # resolved once: `${now:...}` names one folder
        module = getattr(task_function, "__module__", "__main__")
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        self.app = {"module": module, "qualname": task_function.__qualname__,
                    "file": os.path.abspath(main_file) if module == "__main__" and main_file else None}
        base = VersionBase.instance().getbase()
        self.version_base = str(base) if base is not None and hasattr(base, "major") else None
        self.choices = set(OmegaConf.to_container(config.hydra.runtime.choices) or {})  # type: ignore[arg-type]

    def base_config(self) -> DictConfig:
        return self.config

    def override(self, key: str, value: Any) -> str:
        """`key=value`, or `+key=value` for a key the app's config lacks (Hydra's append)."""
        from sweeper.runtime.trial_config import format_value

        known = key.startswith(("+", "~")) or key in self.choices or \
            OmegaConf.select(self.config, key, default=_ABSENT) is not _ABSENT
        return f"{'' if known else '+'}{key}={format_value(value)}"

    def job(self, number: int, params: dict[str, Any]) -> dict[str, Any]:
        overrides = [self.override(k, v) for k, v in params.items()] + self.job_overrides
        cfg = self.context.config_loader.load_sweep_config(self.config, overrides)
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.job.id = number
            cfg.hydra.job.num = number
            cfg.hydra.sweep.dir = self.sweep_dir
        # the app's part as plain data (its structured types may live in a `__main__` a worker cannot
        # unpickle); Hydra's own node typed, detached from the app's part
        hydra_node = OmegaConf.create(cfg.hydra)
        with open_dict(cfg):
            del cfg["hydra"]
        return {"config": OmegaConf.to_container(cfg, resolve=False, enum_to_str=True), "hydra": hydra_node,
                "version_base": self.version_base, **self.app}


class Progress:
    """What the multirun says, through Hydra's logging: each job as it starts and ends."""

    def __init__(self, target: str) -> None:
        self.metric = target

    def start(self, target: int, finished: int, failed: int, best: float | None, best_number: int | None) -> None:
        if finished:
            log.info(f"{finished} of {target} trials already finished: running the rest")

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        log.info(f"\t#{number} : {' '.join(f'{k}={v}' for k, v in params.items())}")

    def trial_finished(self, number: int, state: str, value: float | None, best: float | None,
                       best_number: int | None, error: str | None = None) -> None:
        what = f"{self.metric}={value:.6g}" if value is not None else state.lower()
        log.info(f"\t#{number} {what}" + (f": {error.splitlines()[0][:200]}" if error else ""))

    def __getattr__(self, name: str) -> Any:  # the rest of ProgressView: nothing to say
        return lambda *args, **kwargs: None


class SweeperSweeperImpl:
    def __init__(self, node: dict[str, Any]) -> None:
        self.node = node
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def _node(self) -> dict[str, Any]:
        return {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
                for k, v in self.node.items()}

    def _launcher_note(self, native: dict[str, Any]) -> None:
        assert self.config is not None
        target = str(OmegaConf.select(self.config, "hydra.launcher._target_", default="") or "")
        if target and target != _BASIC_LAUNCHER:
            if "ray" in target.lower() and "backend" not in native:
                native["backend"] = {"type": "ray"}
                log.warning(f"hydra/launcher {target} is not used: trials run on sweeper's Ray backend "
                            "(hydra.sweeper.backend), n_jobs at a time")
            else:
                log.warning(f"hydra/launcher {target} is not used: sweeper's own workers run the jobs "
                            "(hydra.sweeper.n_jobs, hydra.sweeper.backend)")

    def sweep(self, arguments: list[str]) -> None:
        from sweeper.errors import Interrupted, SpecError
        from sweeper.errors import SweepError as Failed

        try:
            self._sweep(arguments)
        except SpecError as e:
            from sweeper.config.hydra_plugin import node_error
            from sweeper.config.load import IN_MEMORY

            raise SweepError(f"error: {node_error(e) if e.source == IN_MEMORY else e}") from None
        except Interrupted:
            raise SweepError("interrupted: continue the sweep by running the same command again") from None
        except Failed as e:
            raise SweepError(f"error: {e}") from None

    def _sweep(self, arguments: list[str]) -> None:
        from hydra.core.config_store import ConfigStore
        from hydra.core.global_hydra import GlobalHydra
        from hydra.core.utils import JobRuntime

        from sweeper import api
        from sweeper.config.hydra_plugin import translate

        assert self.config is not None
        app = {"name": str(self.config.hydra.job.name), "function": None, "script": None}
        jobs = HydraJobs(self.hydra_context, self.config, self.task_function, [])
        target = jobs.app["file"] or jobs.app["module"]
        stem = os.path.splitext(os.path.basename(jobs.app["file"]))[0] if jobs.app["file"] else jobs.app["module"]
        app["function"] = f"{stem}:{jobs.app['qualname']}"
        app["script"] = os.path.relpath(target, os.getcwd()) if jobs.app["file"] else target
        translated = translate(self._node(), list(arguments), app)
        jobs.job_overrides = translated.job_overrides
        self._launcher_note(translated.native)
        # the loader composes with Hydra's compose API, global state: the app's comes back after it,
        # and the config groups it registers (search, early_stop, backend) leave the app's ConfigStore
        saved, job_name = GlobalHydra.instance().hydra, JobRuntime.instance().get("name")
        store = ConfigStore.instance().repo
        before = set(store)
        try:
            spec = api.load(translated.native, workdir=os.getcwd())
        finally:
            GlobalHydra.instance().hydra = saved
            JobRuntime.instance().set("name", job_name)
            for added in set(store) - before:
                del store[added]
        if translated.native.get("storage") is None:
            log.info(f"storage: null: the sweep is kept in {spec.storage} (a rerun continues it)")
        log.info(f"Sweep {spec.name!r}: {spec.n_trials} trials, {spec.workers} workers, search {spec.search.method}, "
                 f"directions {spec.directions}")
        api.run(spec, resume=True, progress=Progress(spec.metrics[0]), echo=log.info, jobs=jobs)  # type: ignore[arg-type]
        self._write_results(spec, jobs.sweep_dir)

    @staticmethod
    def _write_results(spec: Any, sweep_dir: str) -> None:
        """`optimization_results.yaml`, as hydra-optuna-sweeper writes it: best_params and best_value,
        or the Pareto front's `solutions` for several objectives."""
        from sweeper import api
        from sweeper.state import store

        study = api.open_study(spec.name, spec.storage)
        if len(spec.objectives) > 1:
            front = store.front(study)
            results: dict[str, Any] = {"name": "sweeper",
                                       "solutions": [{"params": t.params, "values": list(t.values)} for t in front]}
            log.info(f"Number of Pareto solutions: {len(front)}")
        else:
            best = store.best_trial(study)
            if best is None:
                return
            results = {"name": "sweeper", "best_params": best.params, "best_value": best.value}
            log.info(f"Best parameters: {best.params}")
            log.info(f"Best value: {best.value}")
        os.makedirs(sweep_dir, exist_ok=True)
        OmegaConf.save(OmegaConf.create(results), os.path.join(sweep_dir, "optimization_results.yaml"))
