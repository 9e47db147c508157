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
