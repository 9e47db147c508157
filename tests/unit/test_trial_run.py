"""What a trial's worker adds to the trial's own MLflow run: the GPUs it was given (from nvidia-smi,
faked here; checked on a real H200 too, see the closing notes) and no run left open between trials."""

from __future__ import annotations

import os
import stat
import sys
import types
from pathlib import Path

import pytest

from sweeper.tracking.mlflow.trial_run import TrialRun, gpu_tags

FAKE_SMI = """#!/bin/sh
if [ "$1" = "--query-gpu=index,uuid,name,driver_version" ]; then
  echo "0, GPU-aaaa, NVIDIA H200, 580.159.04"
  echo "1, GPU-bbbb, NVIDIA H200, 580.159.04"
  exit 0
fi
echo "| NVIDIA-SMI 580.159.04    Driver Version: 580.159.04    CUDA Version: 13.0     |"
"""


@pytest.fixture
def smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "nvidia-smi"
    exe.write_text(FAKE_SMI)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("visible, count", [("0", "1"), ("0,1", "2"), ("GPU-bbbb", "1")])
def test_a_trial_with_gpus_records_their_model_driver_and_cuda(smi: None, monkeypatch: pytest.MonkeyPatch,
                                                               visible: str, count: str) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_tags() == {"gpu.name": ", ".join(["NVIDIA H200"] * int(count)), "gpu.driver": "580.159.04",
                          "gpu.count": count, "gpu.cuda": "13.0"}


@pytest.mark.parametrize("visible", ["", "-1", "7"])
def test_a_trial_without_gpus_records_none(smi: None, monkeypatch: pytest.MonkeyPatch, visible: str) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_tags() == {}


def test_without_nvidia_smi_nothing_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert gpu_tags() == {}


def test_closing_ends_every_run_the_trial_left_active(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = ["trial-run", "nested"]
    fake = types.SimpleNamespace(active_run=lambda: stack[-1] if stack else None, end_run=lambda: stack.pop())
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    run = TrialRun("r1", "sqlite:///m.db", "3")
    assert run.env == {"MLFLOW_RUN_ID": "r1", "MLFLOW_TRACKING_URI": "sqlite:///m.db", "MLFLOW_EXPERIMENT_ID": "3"}
    run.close()
    assert stack == []
