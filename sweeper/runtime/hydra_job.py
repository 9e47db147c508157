"""A Hydra job in a worker: the trial's config, composed by Hydra in the sweep's process, run with
Hydra's own `run_job`, as Hydra's launchers run it.

So the job gets what a Hydra job gets: its output folder under `hydra.sweep.dir`, `HydraConfig`,
the `${hydra:...}` and `${now:...}` resolvers, the job's logging configuration, the `.hydra/` files
and the app's callbacks; the task function's return value is the trial's result. The app's module
is imported by the worker from its file (its `if __name__ == "__main__"` does not run), which also
registers its structured configs. The one adapter of Hydra's private `Callbacks`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any

#: what a job payload (`Task.hydra_job`) holds; built by the plugin (hydra_plugins/sweeper_sweeper/_impl.py)
KEYS = ("config", "hydra", "module", "file", "qualname", "version_base")


def task_function(module: str, file: str | None, qualname: str) -> Any:
    """The app's task function, undecorated (what `@hydra.main` wraps). An app run as a script is
    imported from its file under its file's name."""
    if module == "__main__" and file:
        name = os.path.splitext(os.path.basename(file))[0]
        mod = sys.modules.get(name)
        if mod is None or os.path.abspath(getattr(mod, "__file__", "") or "") != os.path.abspath(file):
            folder = os.path.dirname(os.path.abspath(file))
            if folder not in sys.path:
                sys.path.insert(0, folder)
            spec = importlib.util.spec_from_file_location(name, file)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
    else:
        mod = importlib.import_module(module)
    obj: Any = mod
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return inspect.unwrap(obj)


def call(job: dict[str, Any]) -> tuple[Any, str]:
    """Run one job: (the task function's return value, the job's config as YAML). The task's own
    exception is raised again, as it was raised (TrialPruned included)."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.utils import JobStatus, run_job, setup_globals
    from hydra.types import HydraContext
    from hydra.version import VersionBase
    from omegaconf import OmegaConf, open_dict
    from packaging.version import Version

    fn = task_function(job["module"], job.get("file"), job["qualname"])
    if job.get("version_base"):  # whether the job changes directory (Hydra < 1.2 apps do)
        VersionBase.instance().setbase(Version(job["version_base"]))
    setup_globals()
    config = OmegaConf.create(job["config"])
    with open_dict(config):  # Hydra's own node travels typed (HydraConfig wants a HydraConf)
        config.hydra = job["hydra"]
    context = HydraContext(config_loader=None, callbacks=Callbacks(config))  # type: ignore[arg-type]
    ret = run_job(hydra_context=context, task_function=fn, config=config, job_dir_key="hydra.sweep.dir",
                  job_subdir_key="hydra.sweep.subdir")
    if ret.status == JobStatus.FAILED:
        raise ret._return_value
    return ret.return_value, OmegaConf.to_yaml(ret.cfg)
