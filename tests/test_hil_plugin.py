"""The `armlock` pytest plugin (hardware/hil/plugin.py), run inside pytester.

What a rig user relies on: the options are parsed and refused with a clear message when
wrong; the virtual board is started for a test and stopped after it, failed or not, with
nothing left running; a missing or busy port stops the run at once with one line saying
so; results.json, report.md and report.html are written; hardware and human tests are
skipped on virtual targets; a run that uses none of this is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import serial

from hardware.hil import report as R

pytest_plugins = ["pytester"]

TARGET = "virtual-cpython"


def board_children() -> list[int]:
    """Pids of virtual-board processes that are children of this process."""
    me, out = os.getpid(), []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and (b"hardware.virtual.twin" in cmd or b"board.mjs" in cmd):
            out.append(int(d.name))
    return out


def test_target_option_parsed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_t(armlock_target):
            print("TARGET", armlock_target.kind, armlock_target.where, armlock_target)
    """)
    res = pytester.runpytest("-s", "--armlock-target", "pty:/dev/pts/99",
                             "-p", "no:cacheprovider")
    # the pty does not exist: the run stops before any test, with the reason
    assert res.ret == 3
    res.stdout.fnmatch_lines(["*armlock: port missing: /dev/pts/99 does not exist*"])
    res = pytester.runpytest("-s", "--armlock-target", TARGET)
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["*TARGET virtual cpython virtual-cpython*"])


def test_bad_target_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_t():\n    pass\n")
    res = pytester.runpytest("--armlock-target", "usb3")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--armlock-target 'usb3': use virtual, virtual-cpython, "
                              "pty:PATH, serial:PORT, usb:SERIAL, ble:ADDRESS, "
                              "rfc2217://HOST:PORT or a port path*"])


def test_missing_serial_port_stops_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_t(device):\n    pass\n")
    res = pytester.runpytest("--armlock-target", "serial:/dev/ttyNOPE0")
    assert res.ret == 3
    res.stdout.fnmatch_lines(["*armlock: port missing: /dev/ttyNOPE0 does not exist*"])
    assert "1 passed" not in res.stdout.str()


def test_busy_port_stops_the_run(pytester: pytest.Pytester) -> None:
    master, slave = os.openpty()
    port = os.ttyname(slave)
    holder = serial.Serial(port, exclusive=True)  # another program holds the port
    try:
        pytester.makepyfile("def test_t(device):\n    pass\n")
        res = pytester.runpytest("--armlock-target", f"pty:{port}")
        assert res.ret == 4
        res.stdout.fnmatch_lines([f"*armlock: port busy: {port} is open in another program*"])
    finally:
        holder.close()
        os.close(master)
        os.close(slave)


def test_board_started_and_stopped_even_when_a_test_fails(pytester: pytest.Pytester,
                                                          tmp_path: Path) -> None:
    seen = tmp_path / "seen.jsonl"
    pytester.makepyfile(f"""
        import json
        def record(rig):
            vb = rig.board.vb
            with open({str(seen)!r}, "a") as f:
                f.write(json.dumps({{"pid": vb._proc.pid, "port": vb.port,
                                    "alive": vb.alive}}) + "\\n")

        def test_ok(device, rig):
            record(rig)
            assert device.info()["device_id"] == "{'AL-HIL-0001'}"
            assert device.status()["locked"] is True

        def test_fails(device, rig):
            record(rig)
            assert False, "deliberate"
    """)
    res = pytester.runpytest_inprocess("--armlock-target", TARGET, "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, failed=1)
    rows = [json.loads(line) for line in seen.read_text().splitlines()]
    assert len(rows) == 2 and all(r["alive"] for r in rows)
    assert rows[0]["pid"] != rows[1]["pid"]        # a fresh board per test
    for r in rows:
        assert not Path(f"/proc/{r['pid']}").exists(), "board process left running"
    assert board_children() == []                  # the spare board is gone too
    held = set()                                   # the ports are released: no fd left
    for fd in os.listdir("/proc/self/fd"):
        try:
            held.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    assert not held & {r["port"] for r in rows}


def test_results_and_report_written(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile("""
        import pytest

        def test_unlock(rig, authority):
            rig.load(authority.permit())
            rig.unlock()
            rig.grip(True)
            rig.grip(False)
            rig.expect_relock("grip")

        @pytest.mark.hardware
        def test_needs_real_board(device):
            pass

        @pytest.mark.human
        def test_needs_a_finger():
            pass
    """)
    out = tmp_path / "out"
    res = pytester.runpytest_inprocess("--armlock-target", TARGET, "--armlock-out", str(out),
                                       "-p", "no:cacheprovider", "-rs")
    res.assert_outcomes(passed=1, skipped=2)
    res.stdout.fnmatch_lines(["*armlock latency (virtual-cpython)*", "unlock *1 *",
                              f"*armlock: report {out / 'report.html'}*"])
    res.stdout.fnmatch_lines(["*hardware: not on a virtual board (virtual-cpython)*"])
    data = json.loads((out / "results.json").read_text())
    assert data["target"] == TARGET and data["summary"] == {"passed": 1, "skipped": 2}
    assert data["board"]["device_id"] == "AL-HIL-0001"
    t = next(t for t in data["tests"] if t["nodeid"].endswith("test_unlock"))
    ops = [s["op"] for s in t["latency"]]
    assert ops[:2] == ["unlock", "relock:grip"] and len(ops) == 4
    # the card's answer, then the finger's (the one that came with the unlock; the card's
    # too when both fell due in the same board step)
    assert ops[3] == "answer:unlock" and ops[2] in ("answer:accept", "answer:unlock")
    unlock = t["latency"][0]
    assert unlock["rtt_ms"] >= 250  # the board answers credentials 250 ms after they arrive
    assert isinstance(unlock["device_us"], int)
    assert {r["op"] for r in data["latency"]} >= {"answer:unlock", "relock:grip", "unlock"}
    md = (out / "report.md").read_text()
    assert "| unlock | 1 |" in md and "| relock:grip | 1 |" in md
    assert md.index("## Failures") < md.index("## Limits") < md.index("## Identity") \
        < md.index("## Latency") < md.index("## Tests")
    page = (out / "report.html").read_text()
    assert "<th>host p99 ms</th>" in page
    assert page.count("data:image/png;base64,") == 0   # 1-2 samples: no distribution drawn


def test_plugin_is_inert_without_its_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    res = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)
    assert "armlock latency" not in res.stdout.str()
    assert board_children() == []
    made = sorted(p.name for p in pytester.path.iterdir())
    assert made == ["test_plugin_is_inert_without_its_fixtures.py"]


def test_percentiles_and_table() -> None:
    assert R.percentile([1, 2, 3, 4], 50) == 2.5
    assert R.percentile([5], 99) == 5
    assert R.percentile(list(range(101)), 95) == 95
    tests = [{"nodeid": "a", "latency": [{"op": "unlock", "rtt_ms": 260.0, "device_us": 100},
                                         {"op": "relock:timeout", "rtt_ms": None,
                                          "device_us": 50}]},
             {"nodeid": "b", "latency": [{"op": "unlock", "rtt_ms": 280.0, "device_us": 300}]}]
    stats = {r["op"]: r for r in R.latency_stats(tests)}
    assert stats["unlock"]["n"] == 2 and stats["unlock"]["rtt_ms"]["p50"] == 270.0
    assert stats["relock:timeout"]["rtt_ms"]["p50"] is None
    lines = R.text_table(R.latency_stats(tests))
    assert lines[0].split()[:2] == ["operation", "n"]
    assert lines[2].split()[:3] == ["relock:timeout", "1", "-"]


def test_armlock_hil_command_runs_the_suite(tmp_path: Path) -> None:
    out = tmp_path / "hil"
    cli = "from armlock.cli import main; main()"
    res = subprocess.run([sys.executable, "-c", cli, "hil", "--target", TARGET, "--out", str(out),
                          "-k", "test_valid_permit_unlocks or test_grip_release"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert f"report: {(out / 'report.html').resolve()}" in res.stdout.replace("\n", "")
    junit = (out / "junit.xml").read_text()
    assert 'tests="2"' in junit and 'failures="0"' in junit
    assert json.loads((out / "results.json").read_text())["summary"] == {"passed": 2}


def test_armlock_hil_runs_the_suite_from_a_rig_file(tmp_path: Path) -> None:
    rig, out = tmp_path / "rig.toml", tmp_path / "hil"
    rig.write_text('name = "bench"\nretries = 1\n[[boards]]\nname = "lock-a"\n'
                   'virtual = "cpython"\n')
    cli = "from armlock.cli import main; main()"
    res = subprocess.run([sys.executable, "-c", cli, "hil", "--rig", str(rig), "--retries", "3",
                          "--out", str(out), "-k", "test_valid_permit_unlocks"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert data["summary"] == {"passed": 1}
    assert [b["name"] for b in data["identity"]["rig_boards"]] == ["lock-a"]
    assert data["identity"]["rig_file"] == str(rig)
    assert data["identity"]["retries"] == 3   # --retries wins over the rig file's 1
    assert "| retries after infrastructure errors | 3 |" in (out / "report.md").read_text()


def test_attached_board_is_brought_to_a_known_state_for_each_test(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    """pty:PATH (a board already running, as the tour uses): state left by one test
    (tamper latch, lockout, loaded permit, a clock moved forward) does not leak."""
    from hardware.virtual.launcher import VirtualBoard

    pytester.makepyfile("""
        from hardware.hil.places import STRANGER

        def test_a_leaves_a_mess(rig, authority):
            rig.load(authority.permit())
            rig.advance(600)
            rig.load(authority.permit())
            for _ in range(3):
                rig.rfid(STRANGER[1])
            rig.tamper("magnet")
            st = rig.status()
            assert st["tamper"]["latched"] and "lockout" in st["reasons"]

        def test_b_starts_clean(rig, authority):
            st = rig.status()
            assert not st["tamper"]["latched"] and st["lockout"]["failures"] == 0
            assert st["permit"] is None and "time_untrusted" not in st["reasons"]
            assert [r[2] for r in rig.audit()] == []
            rig.load(authority.permit())
            rig.unlock()
    """)
    with VirtualBoard(tmp_path / "board", runtime="cpython") as vb:
        res = pytester.runpytest_inprocess("--armlock-target", f"pty:{vb.port}",
                                           "-p", "no:cacheprovider")
        res.assert_outcomes(passed=2)
        assert vb.alive


@pytest.mark.parametrize("lat, lon, hacc", [(523150000, 130120000, 5),
                                            (-338567000, 1512153000, 12),
                                            (515007000, -1246000, 30),
                                            (523154321, 130123457, 7)])
def test_gnss_port_sentences_give_the_board_the_same_fix(lat: int, lon: int,
                                                          hacc: int) -> None:
    """--armlock-gnss-port rigs: the NMEA the rig writes is read by the board's driver as
    exactly the fix asked for (to the 1e-7 degree the sentences can carry)."""
    from firmware.drivers.nmea import NMEA
    from hardware.hil.nmea import nmea_fix

    utc = 1_767_225_600 + 3723
    events = NMEA().feed("".join(nmea_fix(lat, lon, hacc, utc)).encode(), 1000)
    assert len(events) == 1
    kind, got_lat, got_lon, got_hacc, got_utc = events[0]
    assert kind == "fix" and got_hacc == hacc and got_utc == utc
    assert abs(got_lat - lat) <= 2 and abs(got_lon - lon) <= 2
