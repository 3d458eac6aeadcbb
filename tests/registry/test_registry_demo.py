"""The registry demo against virtual boards (what `armlock registry demo` runs)."""

from __future__ import annotations

import json

from armlock.registry import demo


def test_demo_runs_a_shift_through_virtual_boards(tmp_path):
    lines: list[str] = []
    summary = demo.run(tmp_path, n=2, say=lines.append)
    assert summary["permits"] == 2 and summary["intact"]
    assert any(a.startswith("tamper:") and "AL-0001" in a for a in summary["alerts"])
    assert any(a.startswith("loss:") and "SN-0002" in a for a in summary["alerts"])
    assert any("recall serial 2 delivered" in x for x in lines), lines
    t = json.loads((tmp_path / "trace-SN-0001.json").read_text())
    assert {"permit_loaded", "tamper"} <= {e["code"] for e in t["lock_events"]}
