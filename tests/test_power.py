"""Power control: uhubctl command lines and relay bytes (checked without hardware), and
power cuts of a virtual board at random points of its flash writes: after each, the board
boots locked, its audit chain verifies and its state is the old one or the new one."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from hardware import power as PW
from hardware.client import CounterStore, DeviceClient
from hardware.link.base import LinkError
from hardware.link.pty import PtyTransport
from hardware.micropython import node_available
from hardware.virtual.launcher import VirtualBoard
from tests import conftest as C


class Calls:
    """A fake subprocess runner: records command lines, answers with `code`."""

    def __init__(self, code: int = 0, stderr: str = "") -> None:
        self.cmds: list[list[str]] = []
        self.code, self.stderr = code, stderr

    def __call__(self, cmd: Any) -> Any:
        self.cmds.append(list(cmd))
        return type("R", (), {"returncode": self.code, "stderr": self.stderr})()


def test_uhubctl_command_lines() -> None:
    run = Calls()
    hub = PW.Uhubctl("1-1.3", 2, repeat=3, run=run)
    PW.cycle(hub, off_s=0)
    assert run.cmds == [["uhubctl", "-l", "1-1.3", "-p", "2", "-a", "off", "-r", "3"],
                        ["uhubctl", "-l", "1-1.3", "-p", "2", "-a", "on"]]


def test_uhubctl_failure_is_a_power_error_in_one_line() -> None:
    hub = PW.Uhubctl("2-1", 4, run=Calls(1, "No compatible devices detected!\n"))
    with pytest.raises(PW.PowerError, match=r"-a off failed \(exit 1\): No compatible"):
        hub.off()

    def missing(cmd: Any) -> Any:
        raise FileNotFoundError(cmd[0])

    with pytest.raises(PW.PowerError, match="apt-get install uhubctl"):
        PW.Uhubctl("2-1", 4, run=missing).on()
    with pytest.raises(ValueError):
        PW.Uhubctl("", 1)


@pytest.mark.parametrize("relay,closed,hexbytes", [
    (1, True, "A00101A2"), (1, False, "A00100A1"), (2, True, "A00201A3"),
    (4, False, "A00400A4")])
def test_relay_bytes(relay: int, closed: bool, hexbytes: str) -> None:
    assert PW.relay_command(relay, closed) == bytes.fromhex(hexbytes)


class FakePort:
    sent: list[bytes] = []

    def __init__(self, port: str) -> None:
        self.port = port

    def write(self, data: bytes) -> None:
        FakePort.sent.append(bytes(data))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_serial_relay_switches_the_wired_contact() -> None:
    FakePort.sent = []
    PW.cycle(PW.SerialRelay("/dev/ttyRELAY", 2, serial_factory=FakePort), off_s=0)
    PW.cycle(PW.SerialRelay("/dev/ttyRELAY", 1, powered_when_closed=False,
                            serial_factory=FakePort), off_s=0)
    assert [b.hex().upper() for b in FakePort.sent] == ["A00200A2", "A00201A3",
                                                        "A00101A2", "A00100A1"]
    with pytest.raises(ValueError):
        PW.SerialRelay("/dev/ttyRELAY", 0)


def test_power_from_a_rig_file_table() -> None:
    run = Calls()
    PW.from_config({"kind": "uhubctl", "hub": "1-1", "port": 3}, run=run).off()
    assert run.cmds == [["uhubctl", "-l", "1-1", "-p", "3", "-a", "off"]]
    assert isinstance(PW.from_config({"kind": "relay", "port": "/dev/x"}), PW.SerialRelay)
    with pytest.raises(ValueError, match="use uhubctl or relay"):
        PW.from_config({"kind": "mains"})


# -- virtual board power cuts ------------------------------------------------------------------

def _client(vb: VirtualBoard, tmp: Path) -> DeviceClient:
    return DeviceClient(PtyTransport(vb.port), key=C.KEY, timeout=3.0,
                        counter_store=CounterStore(tmp / "c.json"))


def _work(c: DeviceClient, serial: int) -> None:
    """Commands that write the board's state and audit: a permit, an unlock, a relock."""
    now = int(time.time())
    c.load_permit(C.make_permit(serial, not_before=now - 3600, not_after=now + 3600))
    lat, lon = C.POINTS["in"]
    c.stimulate("fix", lat_e7=lat, lon_e7=lon, hacc_m=5, utc_s=now)
    c.stimulate("rfid", cred=C.HOLDER1_RFID, rtt_us=1000, strong=True)
    c.stimulate("finger", template=C.HOLDER1_FINGER, score=100)
    c.stimulate("grip", held=True)
    c.stimulate("grip", held=False)


@pytest.mark.skipif(not node_available(), reason="needs Node and the MicroPython WASM VM")
def test_power_cut_at_random_flash_writes_leaves_old_or_new_state(tmp_path: Path) -> None:
    rng = random.Random(13)
    vb = VirtualBoard(tmp_path / "b", identity=(C.DEVICE, C.KEY))
    vb.start()                                    # first power-on: flashed, provisioned
    vb.stop()
    cuts = 0
    serial = 0
    held_before = None
    for _round in range(6):
        n, phase = rng.randint(1, 14), rng.choice(("before", "mid", "after"))
        vb.cut_power_at_write(n, phase)
        vb.start()
        c = _client(vb, tmp_path)
        serial += 1
        try:
            c.open()
            _work(c, serial)
            time.sleep(0.3)                       # let the last writes happen
        except LinkError:
            pass                                  # the board died under us
        finally:
            c.close()
        died = vb.wait_exit(1.0) is not None or not vb.alive
        cuts += died
        vb.kill()                                 # the cut (again, if it already died)
        vb.start()
        with _client(vb, tmp_path) as c:
            st = c.status()
            assert st["locked"] is True, f"round {_round}: cut at write {n} {phase}"
            recs = c.audit()
            assert c.verify_audit(recs) == [], f"chain broken after cut at {n} {phase}"
            held = (st.get("permit") or {}).get("serial")
            assert held in (held_before, serial), f"permit {held}: neither old nor new"
            held_before = held
        vb.stop()
    assert cuts >= 3, "most rounds must really cut the board in the middle of its writes"
