"""On the PYTHONPATH of a W&B trial only (put there by `sweeper.integrations.wandb_launch`): when the
program imports `wandb`, the real package loads as usual and `wandb_bridge.install` then wraps it.
Nothing is imported here beyond the import machinery, so a program that never imports wandb pays
nothing. The `sitecustomize` this one shadows (a distribution's, a venv's) still runs, after it."""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


class _AfterWandb(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - the import protocol's own
        if name != "wandb":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_bridge(module):  # noqa: ANN001, ANN202
            exec_module(module)
            try:
                from sweeper.integrations.wandb_bridge import install
            except ImportError as e:  # a program run by another Python than the sweep's
                print(f"sweeper: wandb.log is not bridged to the sweep ({e}); run it with ${{interpreter}}",
                      file=sys.stderr)
                return
            install(module)

        spec.loader.exec_module = exec_and_bridge
        return spec


def _next_sitecustomize() -> None:
    spec = importlib.machinery.PathFinder.find_spec(
        "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _HERE])
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


sys.meta_path.insert(0, _AfterWandb())
_next_sitecustomize()
