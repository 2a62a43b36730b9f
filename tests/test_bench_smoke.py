"""The benchmark script's quick path runs and writes its JSON, so it cannot rot unnoticed.

No timings are asserted: speed is judged by ``benchmarks/bench.py`` itself, never by tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


def run_bench(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "results.json"
    command = [sys.executable, str(BENCH), "--quick", "--rounds", "1", "--json", str(out), *args]
    # One BLAS thread: a smoke run on a busy machine stays quick; timings are not checked here.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr
    assert "case 1" in completed.stdout or "case 2" in completed.stdout
    assert "scratchnn's kernel backend: " in completed.stdout  # the output names it
    return json.loads(out.read_text())


@pytest.mark.slow
def test_quick_benchmark_runs_every_case_for_scratchnn(tmp_path):
    results = run_bench(tmp_path, "--contenders", "scratchnn")
    assert set(results) >= {"machine", "epoch", "xor", "predict", "scaling"}
    assert results["epoch"]["contenders"]["scratchnn"]["median"] > 0
    assert results["epoch"]["gemm_bound"]["seconds"] > 0
    assert set(results["xor"]["contenders"]) == {"scratchnn", "numpy_loop"}
    assert results["predict"]["contenders"]["scratchnn"]["rows_per_s"] > 0
    assert [row["n"] for row in results["scaling"]["sizes"]] == [600, 2000]


@pytest.mark.slow
def test_quick_benchmark_runs_the_peers_when_installed(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    results = run_bench(tmp_path, "--contenders", "scratchnn,torch,sklearn", "--cases", "1,2,3")
    assert set(results["epoch"]["contenders"]) == {"scratchnn", "torch", "sklearn"}
    assert results["xor"]["contenders"]["torch"]["ratio_to_torch"] == pytest.approx(1.0)
