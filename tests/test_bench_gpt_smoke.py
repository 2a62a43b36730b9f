"""The GPT benchmark's quick paths run and write their JSON (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpt.py"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _run(*arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(BENCH), "--quick", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, env=ENV)
    assert completed.returncode == 0, completed.stderr
    return completed


@pytest.mark.slow
@pytest.mark.parametrize("contenders", ["scratchnn", "scratchnn,torch"])
def test_quick_gpt_benchmark_runs_and_reports_both_cases(tmp_path, contenders):
    if "torch" in contenders:
        pytest.importorskip("torch")
    out = tmp_path / "gpt.json"
    completed = _run("--contenders", contenders, "--json", str(out))
    assert "gpt_train:" in completed.stdout and "gpt_generate:" in completed.stdout
    results = json.loads(out.read_text())
    for case in ("gpt_train", "gpt_generate"):
        assert set(results[case]) == set(contenders.split(","))
        assert results[case]["scratchnn"]["per_s"] > 0
        if "torch" in contenders:
            assert results[case]["torch"]["ratio_to_torch"] == pytest.approx(1.0)


@pytest.mark.slow
def test_quick_loss_comparison_trains_both_to_the_same_loss(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "loss.json"
    completed = _run("--compare-loss", "--json", str(out))
    results = json.loads(out.read_text())
    assert "validation loss scratchnn" in completed.stdout
    assert abs(results["difference"]) < 1e-3  # 3 steps from the same weights: float32 rounding
    assert results["sample"].startswith("ROMEO:\n") and results["torch_sample"].startswith("ROMEO")
