"""`trial.config` is composed at launch: a training config that cannot compose, or a searched config
group option that is not there, is one line naming trial.config, before anything is created."""

from __future__ import annotations

import pytest

from sweeper.config import load
from sweeper.errors import SpecError

SWEEP = {"name": "s", "objective": {"metric": "loss"}, "params": {"x": "interval(0.0, 1.0)"},
         "trial": {"function": "objectives:trivial", "config": "train.yaml"}, "n_trials": 2}


@pytest.fixture
def project(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "mysql.yaml").write_text("port: 3306\n")
    (tmp_path / "train.yaml").write_text("defaults:\n  - db: mysql\n  - _self_\nx: 1\n")
    return tmp_path


def test_a_composing_config_and_its_group_options_pass(project):
    spec = load({**SWEEP, "params": {"x": "interval(0.0, 1.0)", "db": "choice(mysql)"}}, workdir=str(project))
    assert spec.trial.config == "train.yaml"


@pytest.mark.parametrize("train, params, says", [
    ("defaults:\n  - db: nosuch\n  - _self_\nx: 1\n", {}, "Could not find 'db/nosuch'"),
    ("x: [1\n", {}, "train.yaml: YAML syntax error at line 2"),
    ("defaults:\n  - db: mysql\n  - _self_\nx: 1\n", {"db": "choice(mysql, oracle)"}, "no option 'oracle'"),
])
def test_a_config_that_cannot_compose_is_refused_at_launch(project, train, params, says):
    (project / "train.yaml").write_text(train)
    with pytest.raises(SpecError) as e:
        load({**SWEEP, "params": {"x": "interval(0.0, 1.0)", **params}}, workdir=str(project))
    assert "trial.config" in str(e.value) and says in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in project.iterdir()) == ["db", "train.yaml"]
