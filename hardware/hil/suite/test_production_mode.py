"""Production mode: no stimulus, no REBOOT, no REPL (Ctrl-C gives no prompt); the lock
still works through authority tokens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import serial

from hardware.client import CounterStore
from hardware.hil.authority import Authority
from hardware.hil.client import HilClient, connected
from hardware.link.base import DeviceError
from hardware.link.factory import TargetSpec
from protocols import messages as M


def refuses_rig_commands(client: HilClient, authority: Authority) -> None:
    before = client.status()
    for kind, fields in (("battery", {"mv": 3000}), ("tamper", {"source": "magnet"}),
                         ("rfid", {"cred": "04A1B2C3D4E5F6", "rtt_us": 1, "strong": True})):
        with pytest.raises(DeviceError) as err:
            client.stimulate(kind, **fields)
        assert err.value.code == M.E_MODE
    with pytest.raises(DeviceError) as err:
        client.reboot()
    assert err.value.code == M.E_MODE
    after = client.status()
    assert after["battery_mv"] == before["battery_mv"] and not after["tamper"]["latched"]
    assert after["last_counter"] == before["last_counter"]  # refused before the seal
    client.load_permit(authority.permit())       # authority tokens still work
    assert client.status()["permit"] is not None


def ctrl_c(port: str, wait: float = 1.5) -> bytes:
    """Send Ctrl-C (as a person would: a lone byte), then Enter; return what comes back."""
    with serial.Serial(port, timeout=0.05) as s:
        s.write(b"\x03")
        time.sleep(0.2)
        s.write(b"\r")
        end, got = time.monotonic() + wait, bytearray()
        while time.monotonic() < end and b">>>" not in got:
            got += s.read(4096)
    return bytes(got)


def test_production_board_refuses_stimulus_and_reboot(armlock_target: TargetSpec,
                                                      authority: Authority, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    counters = CounterStore(tmp_path / "counters.json")
    if armlock_target.kind in ("virtual", "pty"):
        board = request.getfixturevalue("armlock_spawn")("production")
        with connected(board, authority.device_key, counters) as client:
            assert client.info()["mode"] == "field"
            refuses_rig_commands(client, authority)
        return
    dev: Any = request.getfixturevalue("device")
    if dev.info()["mode"] != "field":
        pytest.skip("the board under test is not in production (field) mode")
    refuses_rig_commands(dev, authority)


def test_production_board_gives_no_repl(armlock_target: TargetSpec, authority: Authority,
                                        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if armlock_target.kind not in ("virtual", "pty"):
        pytest.skip("REPL check runs on virtual boards only")
    spawn = request.getfixturevalue("armlock_spawn")
    board = spawn("production")
    assert b">>>" not in ctrl_c(board.port)
    with connected(board, authority.device_key, CounterStore(tmp_path / "c.json")) as client:
        assert client.info()["mode"] == "field"      # the app kept running
    if board.spec.where == "micropython":           # the check can fail: a dev board does
        assert b">>>" in ctrl_c(spawn("dev").port)
