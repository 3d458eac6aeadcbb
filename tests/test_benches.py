"""The device benches still run end to end at a tiny size (they broke once, silently,
when permits became signed: a bench nobody runs in CI rots). Figures are not checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hardware.micropython import node_available

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not node_available(), reason="Node/MicroPython WASM missing")
@pytest.mark.parametrize("script, args, expect", [
    ("bench_device.py", ["--n", "5", "--mp-n", "3"], "credential -> actuate"),
    ("bench_decision_esp32.py", ["--n", "10"], "ESP32 @ 240 MHz"),
])
def test_bench_runs(script: str, args: list[str], expect: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert expect in proc.stdout
