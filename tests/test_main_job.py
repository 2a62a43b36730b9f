"""The README's main job: digits, 20% held out, test accuracy of at least 0.97."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_digits_main_job_reaches_097_test_accuracy():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits.py")],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("test accuracy: ")
    assert float(last.split()[2]) >= 0.97
    assert "360 held-out digits" in last
