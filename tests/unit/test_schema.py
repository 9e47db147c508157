"""The schema is declared once: the README's key table, the group defaults and validation follow from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeper.config import load, schema
from sweeper.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]
BASE = {"name": "s", "objective": {"metric": "loss"}, "params": {"x": "interval(0.0, 1.0)"},
        "trial": {"function": "m:f"}, "n_trials": 3}


def test_readme_key_table_is_the_schema():
    readme = (ROOT / "README.md").read_text()
    assert schema.markdown_table() in readme, (
        "README's key table differs from the schema: paste "
        "`python -c 'from sweeper.config.schema import markdown_table; print(markdown_table())'`")


def test_every_group_option_composes_with_its_schema_defaults(tmp_path):
    for group, options in schema.GROUP_OPTIONS.items():
        if group == "backend":
            continue  # ray would be imported only at run time; its keys are checked below
        for option in options:
            spec = load(BASE, [f"{group}={option}"], workdir=str(tmp_path))
            assert spec.early_stop.type == option
            assert spec.early_stop.options == schema.group_defaults(group, option)
    spec = load(BASE, ["backend=ray"], workdir=str(tmp_path))
    assert spec.backend.type == "ray" and spec.backend.address is None and spec.backend.options == {}


@pytest.mark.parametrize("key", [k for k in schema.KEYS if k.kind in ("int", "number")])
def test_every_number_key_refuses_a_string_naming_itself(tmp_path, key):
    with pytest.raises(SpecError) as e:
        load(BASE, [f"{key.path}=abc"], workdir=str(tmp_path))
    assert f"<config>: {key.path}: must be {key.allowed()}" in str(e.value)


def test_in_memory_config_is_not_written_anywhere(tmp_path):
    spec = load(BASE, workdir=str(tmp_path))
    assert spec.source == "<config>" and spec.base_dir == str(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_search_method_is_one_registration(tmp_path, monkeypatch):
    import sweeper.search as search

    monkeypatch.setitem(search.METHODS, "qmc", lambda: __import__("optuna").samplers.QMCSampler)
    spec = load(BASE, ["search=qmc", "search.scramble=true", "seed=1"], workdir=str(tmp_path))
    assert spec.search.method == "qmc" and spec.search.options == {"scramble": True}
    assert type(search.make_sampler(spec)).__name__ == "QMCSampler"
    with pytest.raises(SpecError, match=r"search.nonsense: unknown option for method 'qmc'"):
        load(BASE, ["search=qmc", "search.nonsense=1"], workdir=str(tmp_path))


@pytest.mark.parametrize("override, stored", [
    ("backend=ray", {"backend": {"type": "ray", "address": None}}),
    ("backend=local", {"backend": {"type": "local"}}),
    ("early_stop=hyperband", {"early_stop": {"type": "hyperband", "min_iter": 1, "max_iter": None, "eta": 3}}),
    ("early_stop=asha", {"early_stop": {"type": "asha", "min_iter": 1, "eta": 3, "bootstrap_count": 0}}),
    ("early_stop=median", {"early_stop": {"type": "median", "warmup_steps": 0, "startup_trials": 5}}),
])
def test_group_options_compose_as_the_yaml_files_they_replaced(tmp_path, override, stored):
    """A sweep's identity (its definition hash) covers these nodes: studies stored when they were
    conf/*.yaml files must still match, or `sweep launch --resume` would refuse them."""
    spec = load(BASE, [override], workdir=str(tmp_path))
    (group, node), = stored.items()
    assert spec.definition[group] == node


def test_null_means_the_default_and_numbers_are_floats(tmp_path):
    spec = load({**BASE, "resources": {"cpus": None, "gpus": None}, "trial": {"function": "m:f", "timeout": 5}},
                workdir=str(tmp_path))
    assert spec.resources.cpus == 1.0 and spec.resources.gpus == 0.0
    assert isinstance(spec.trial.timeout, float)
    spec = load(BASE, ["early_stop=asha", "early_stop.eta=2"], workdir=str(tmp_path))
    assert spec.early_stop.options["eta"] == 2 and isinstance(spec.early_stop.options["eta"], int)
    with pytest.raises(SpecError, match="early_stop.foo: unknown key for type 'asha'"):
        load({**BASE, "early_stop": {"type": "asha", "foo": None}}, workdir=str(tmp_path))


def test_the_local_backend_says_when_resources_are_short(tmp_path, monkeypatch):
    from sweeper.backends import gpus

    monkeypatch.setenv("SWEEPER_GPUS", "0,1")
    spec = load({**BASE, "workers": 8}, workdir=str(tmp_path))
    assert gpus.shortfall(spec, 8, cpus=16) == []
    assert gpus.shortfall(spec, 8, cpus=2) == [
        "8 trials at a time ask for 8 CPUs (resources.cpus=1 each), but this machine has 2: they share the "
        "CPUs and each runs slower"]
    spec = load({**BASE, "workers": 8, "resources": {"gpus": 1}}, workdir=str(tmp_path))
    slots = gpus.plan(spec, spec.workers)
    assert len(slots) == 2 and gpus.shortfall(spec, len(slots), cpus=16) == [
        "workers=8, but 2 trials run at a time: GPUs are short (resources.gpus=1 per trial, 2 GPUs here)"]
