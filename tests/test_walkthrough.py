"""The core walkthrough (`armlock demo --core`) and `armlock bench`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from armlock.cli import app
from armlock.tour import walkthrough
from protocols import audit


def test_walkthrough_opens_for_the_holder_and_stops_the_thief(tmp_path: Path) -> None:
    walk = walkthrough.run(tmp_path, t0=1_800_000_000)
    by_label = {s.label: s for s in walk.steps}
    synced = by_label["third fix: the core trusts GNSS time and sets the RTC"]
    assert ("set_rtc", 1_800_000_001) in synced.actions and synced.reasons == []
    # the RTC was 10 min slow: the holder opens it below only because SET_RTC was carried
    opened = walk.steps[walk.steps.index(by_label["sergeant presents fingerprint"]) + 1]
    assert (opened.label, opened.t_ms) == (walkthrough.WAKE_LABEL, 2_850)  # the WAKE it asked
    assert not opened.locked and ("actuate", False, "authorised") in opened.actions
    assert not by_label["walks to the gate"].locked  # the periodic fixes keep it fresh
    assert not by_label["steps 1 m past the fence (hysteresis)"].locked
    assert by_label["walks out onto the road"].reasons == ["outside_zone"]
    assert ("actuate", True, "outside_zone") in by_label["walks out onto the road"].actions
    assert "lockout" in by_label["relay attack on the token"].reasons
    assert all(s.locked for s in walk.steps[walk.steps.index(by_label["walks out onto the road"]):])
    assert audit.verify(walk.records, walkthrough.DEVICE, head=walk.head) == []
    for name in ("master.key", "permit.bin", "audit.log", "trace.json"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "master.key").stat().st_mode & 0o077 == 0


def test_demo_core_prints_decisions_and_a_verified_chain(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["demo", "--core", "--out", str(tmp_path)],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "UNLOCK" in res.output and "chain verifies" in res.output


def test_bench_lists_and_refuses_unknown_names() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "--list"])
    assert res.exit_code == 0 and "core" in res.output and "simulator" in res.output
    res = runner.invoke(app, ["bench", "no-such-bench"])
    assert res.exit_code == 2
