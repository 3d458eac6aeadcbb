"""The HIL verification suite (hardware/hil/suite) passes against the virtual board on
both runtimes: the MicroPython WASM VM under Node, and CPython.

Each run is a separate pytest process, as `armlock hil` users run it; the results file
it writes must show every test passed (none skipped on a virtual board) and carry the
latency samples of every unlock and relock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hardware.hil import SUITE

REPO = Path(__file__).resolve().parent.parent
TARGETS = [pytest.param("virtual", marks=pytest.mark.skipif(
    shutil.which("node") is None, reason="Node.js not installed")), "virtual-cpython"]


@pytest.mark.parametrize("target", TARGETS)
def test_suite_passes_on_the_virtual_board(target: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE), "-o", "addopts=", "-p", "no:cacheprovider",
         "-q", "--armlock-target", target, "--armlock-out", str(out),
         "--junitxml", str(out / "junit.xml"), "--basetemp", str(tmp_path / "base")],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert set(data["summary"]) == {"passed"}, data["summary"]
    assert data["summary"]["passed"] == len(data["tests"]) >= 45
    ops = {r["op"]: r for r in data["latency"]}
    for op in ("unlock", "relock:grip", "relock:zone_exit", "relock:tamper_magnet",
               "relock:recall", "relock:timeout", "relock:stale_fix", "relock:expiry"):
        assert op in ops, f"no latency samples for {op}"
    assert ops["unlock"]["rtt_ms"]["p50"] >= 250   # credentials are answered after 250 ms
    assert ops["relock:timeout"]["rtt_n"] == 0     # the board's own timer: no round trip
    assert 'failures="0"' in (out / "junit.xml").read_text()


RIG = """name = "two locks"
[[boards]]
name = "lock-a"
virtual = "{rt}"
[[boards]]
name = "lock-b"
virtual = "{rt}"
"""


def run_rig(tmp_path: Path, rt: str, k: str | None) -> dict:
    rig = tmp_path / "rig.toml"
    rig.write_text(RIG.format(rt=rt))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "pytest", str(SUITE), "-o", "addopts=", "-p",
            "no:cacheprovider", "-q", "--armlock-rig", str(rig), "--armlock-out", str(out),
            "--junitxml", str(out / "junit.xml"), "--basetemp", str(tmp_path / "base")]
    res = subprocess.run(args + (["-k", k] if k else []), cwd=REPO, capture_output=True,
                         text=True, timeout=1200, env=dict(os.environ,
                                                           PYTHONDONTWRITEBYTECODE="1"))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert set(data["summary"]) == {"passed"}, data["summary"]
    assert data["identity"]["rig_file"] == str(rig)
    return data


def test_suite_runs_from_a_rig_file_on_two_virtual_boards_at_once(tmp_path: Path) -> None:
    data = run_rig(tmp_path, "cpython", "armoury or test_valid_permit_unlocks or grip_release")
    ids = [t["nodeid"] for t in data["tests"]]
    for name in ("test_valid_permit_unlocks", "test_grip_release_relocks"):
        assert {f"{name}[lock-a]", f"{name}[lock-b]"} <= {i.split("::")[-1] for i in ids}
    assert sum("test_armoury" in i for i in ids) == 2   # the two-lock tests run once


@pytest.mark.slow
@pytest.mark.parametrize("rt", ["micropython", "cpython"])
def test_whole_suite_from_a_rig_file_of_two_boards(tmp_path: Path, rt: str) -> None:
    data = run_rig(tmp_path, rt, None)
    assert data["summary"]["passed"] >= 2 * 45
