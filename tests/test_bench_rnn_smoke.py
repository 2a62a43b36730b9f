"""The recurrent benchmark's quick path runs and writes its JSON (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_rnn.py"


@pytest.mark.slow
@pytest.mark.parametrize("contenders", ["scratchnn", "scratchnn,torch"])
def test_quick_rnn_benchmark_runs_and_reports_every_case(tmp_path, contenders):
    if "torch" in contenders:
        pytest.importorskip("torch")
    out = tmp_path / "rnn.json"
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
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert completed.returncode == 0, completed.stderr
    for case in ("lstm_epoch:", "char_train:", "char_generate:"):
        assert case in completed.stdout
    results = json.loads(out.read_text())
    for case in ("lstm_epoch", "char_train", "char_generate"):
        assert set(results[case]) == set(contenders.split(","))
        assert results[case]["scratchnn"]["median"] > 0 and results[case]["scratchnn"]["per_s"] > 0
        if "torch" in contenders:
            assert results[case]["torch"]["ratio_to_torch"] == pytest.approx(1.0)
        else:
            assert results[case]["scratchnn"]["ratio_to_torch"] is None
