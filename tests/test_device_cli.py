"""`armlock device`: commands, output and exit codes (loopback device, pty, virtual board)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from armlock.cli import app
from armlock.cli import device as D
from hardware.link import loopback as T
from hardware.link.serial import SerialTransport
from tests import conftest as C
from tests.fakes.ble import PtyBoard, make_device

runner = CliRunner()


@pytest.fixture
def loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> T.LoopbackTransport:
    """Every `armlock device` command in the test talks to one in-process device."""
    dev = make_device(tmp_path / "storage", "dev", C.DEVICE, C.MASTER)
    tr = T.LoopbackTransport(dev, utc0=C.T0, boot_cause="power_on")
    monkeypatch.setattr(D, "make_transport", lambda o: (tr, None))
    monkeypatch.setenv("ARMLOCK_COUNTERS", str(tmp_path / "counters.json"))
    return tr


@pytest.fixture
def master(tmp_path: Path) -> Path:
    p = tmp_path / "master.key"
    p.write_text(C.MASTER.hex() + "\n")
    os.chmod(p, 0o600)
    return p


def run(*args: str) -> Any:
    return runner.invoke(app, ["device", *args])


def test_info_table_and_json(loop: T.LoopbackTransport) -> None:
    r = run("--port", "x", "info")
    assert r.exit_code == 0, r.output
    assert C.DEVICE in r.output and "fw_version" in r.output
    r = run("--port", "x", "--json", "info")
    assert json.loads(r.stdout)["device_id"] == C.DEVICE


def test_permit_stimulus_status_and_audit(loop: T.LoopbackTransport, master: Path,
                                          tmp_path: Path) -> None:
    tok = tmp_path / "p.tok"
    tok.write_bytes(C.make_permit(1))
    r = run("--port", "x", "load-permit", str(tok))
    assert r.exit_code == 0 and "accepted" in r.output, r.output
    r = run("--port", "x", "--key", str(master), "stimulate", "battery", "3300")
    assert r.exit_code == 0, r.output
    st = json.loads(run("--port", "x", "--json", "status").stdout)
    assert st["permit"]["serial"] == 1 and "battery_critical" in st["reasons"]
    assert st["last_counter"] == 1
    out = tmp_path / "audit.jsonl"
    r = run("--port", "x", "audit", "--verify", "--out", str(out))
    assert r.exit_code == 0 and "chain verified" in r.output, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["seq"] for x in rows] == list(range(1, len(rows) + 1))
    assert "permit_loaded" in [x["code"] for x in rows]


def test_fix_in_degrees(loop: T.LoopbackTransport, master: Path) -> None:
    r = run("--port", "x", "--key", str(master), "stimulate", "fix", "52.315", "13.012",
            "--utc", str(C.T0))
    assert r.exit_code == 0, r.output
    st = json.loads(run("--port", "x", "--json", "status").stdout)
    assert st["last_fix"]["lat_e7"] == 523150000 and st["last_fix"]["lon_e7"] == 130120000


def test_fix_with_negative_degrees(loop: T.LoopbackTransport, master: Path) -> None:
    r = run("--port", "x", "--key", str(master), "stimulate", "fix", "-33.9249", "-70.5")
    assert r.exit_code == 0, r.output  # negative degrees are values, not options
    st = json.loads(run("--port", "x", "--json", "status").stdout)
    assert st["last_fix"]["lat_e7"] == -339249000 and st["last_fix"]["lon_e7"] == -705000000


def test_events_stream(loop: T.LoopbackTransport) -> None:
    r = run("--port", "x", "--json", "events", "--count", "2")
    assert r.exit_code == 0, r.output
    evs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [e["kind"] for e in evs] == ["boot", "actuate"]


def test_refused_permit_exit_6(loop: T.LoopbackTransport, tmp_path: Path) -> None:
    tok = tmp_path / "bad.tok"
    tok.write_bytes(C.make_permit(1, key=C.ROGUE))
    r = run("--port", "x", "load-permit", str(tok))
    assert r.exit_code == 6
    assert "answered error 6 (refused)" in r.output


def test_silent_device_exit_5(loop: T.LoopbackTransport) -> None:
    loop.dead = True
    r = run("--port", "x", "--timeout", "0.5", "status")
    assert r.exit_code == 5 and "no answer from loopback within 0.5 s" in r.output


def test_sealed_without_key_exit_2(loop: T.LoopbackTransport) -> None:
    r = run("--port", "x", "stimulate", "grip", "held")
    assert r.exit_code == 2 and "--key" in r.output


def test_bad_argument_changes_nothing(loop: T.LoopbackTransport, master: Path) -> None:
    r = run("--port", "x", "--key", str(master), "stimulate", "tamper", "laser")
    assert r.exit_code == 2 and "tamper source 'laser'" in r.output
    assert json.loads(run("--port", "x", "--json", "status").stdout)["last_counter"] == 0


def test_missing_port_exit_3() -> None:
    r = run("--port", "/dev/ttyNOPE7", "info")
    assert r.exit_code == 3 and "port missing: /dev/ttyNOPE7" in r.output


def test_busy_port_exit_4(tmp_path: Path) -> None:
    board = PtyBoard(make_device(tmp_path / "s"), tmp_path / "ttyB").start()
    try:
        with SerialTransport(str(board.link)):
            r = run("--port", str(board.link), "info")
        assert r.exit_code == 4 and "port busy" in r.output
        r = run("--port", str(board.link), "--json", "info")  # free again
        assert r.exit_code == 0 and json.loads(r.stdout)["mode"] == "dev"
    finally:
        board.stop()


def test_ports_lists_esp32_bridges(monkeypatch: pytest.MonkeyPatch) -> None:
    from serial.tools import list_ports
    from serial.tools.list_ports_common import ListPortInfo

    p = ListPortInfo("/dev/ttyUSB0", skip_link_detection=True)
    p.vid, p.pid, p.description = 0x10C4, 0xEA60, "CP2102 USB to UART"
    monkeypatch.setattr(list_ports, "comports", lambda: [p])
    r = run("--json", "ports")
    assert json.loads(r.stdout)[0]["bridge"] == "CP210x"


def test_virtual_board_keeps_state_between_commands(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARMLOCK_COUNTERS", str(tmp_path / "counters.json"))
    common = ["--port", "virtual", "--runtime", "cpython", "--state-dir", str(tmp_path / "vb")]
    r = run(*common, "stimulate", "tamper", "magnet")
    assert r.exit_code == 0, r.output
    st = json.loads(run(*common, "--json", "status").stdout)  # a new board process
    assert st["tamper"] == {"latched": True, "source": "magnet"}
    assert "tamper_latched" in st["reasons"]
    r = run(*common, "audit", "--verify")
    assert r.exit_code == 0 and "chain verified" in r.output
