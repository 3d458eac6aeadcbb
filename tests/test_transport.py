"""Serial transport against a pty pair with a firmware Device on the other end."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import serial

from hardware.client import CounterStore, DeviceClient
from hardware.link import base as B
from hardware.link import factory as TF
from hardware.link import serial as S
from hardware.link.pty import PtyTransport
from tests.fakes.ble import PtyBoard, make_device


@pytest.fixture
def board(tmp_path: Path) -> Any:
    b = PtyBoard(make_device(tmp_path / "storage"), tmp_path / "ttyARMLOCK").start()
    yield b
    b.stop()


def client(port: str, tmp_path: Path, **kw: Any) -> DeviceClient:
    tr = S.SerialTransport(port, **kw)
    return DeviceClient(tr, counter_store=CounterStore(tmp_path / "c.json"), timeout=3.0)


class SpySerial(serial.Serial):
    """Records every DTR/RTS level set, and the levels in force when the port opens."""

    log: list[tuple[Any, ...]] = []

    @serial.Serial.dtr.setter  # type: ignore[attr-defined,untyped-decorator]
    def dtr(self, value: bool) -> None:
        SpySerial.log.append(("dtr", value, self.is_open))
        serial.Serial.dtr.fset(self, value)  # type: ignore[attr-defined]

    @serial.Serial.rts.setter  # type: ignore[attr-defined,untyped-decorator]
    def rts(self, value: bool) -> None:
        SpySerial.log.append(("rts", value, self.is_open))
        serial.Serial.rts.fset(self, value)  # type: ignore[attr-defined]

    def open(self) -> None:
        SpySerial.log.append(("open", (self._dtr_state, self._rts_state), False))
        super().open()


def test_info_status_over_pty(board: PtyBoard, tmp_path: Path) -> None:
    with client(str(board.link), tmp_path) as c:
        assert c.info()["device_id"] == "AL-VIRT-0001"
        st = c.status()
        assert st["locked"] is True and "no_permit" in st["reasons"]
        assert c.ping() > 0


def test_open_never_raises_dtr_or_rts(board: PtyBoard, tmp_path: Path) -> None:
    SpySerial.log = []
    with client(str(board.link), tmp_path, serial_class=SpySerial) as c:
        c.info()
    levels = [e for e in SpySerial.log if e[0] in ("dtr", "rts")]
    assert levels and all(v is False for _, v, _ in levels)
    assert all(not was_open for _, _, was_open in levels)  # set before the port opened
    assert ("open", (False, False), False) in SpySerial.log


def test_second_open_is_port_busy(board: PtyBoard, tmp_path: Path) -> None:
    with client(str(board.link), tmp_path) as c:
        c.info()
        with pytest.raises(B.PortBusy, match="port busy: .*ttyARMLOCK"):
            S.SerialTransport(str(board.link)).open()
        assert c.status()["locked"] is True  # the first holder is unaffected
    with client(str(board.link), tmp_path) as c:  # released on close
        c.info()


def test_missing_port(tmp_path: Path) -> None:
    with pytest.raises(B.PortMissing, match="port missing: /dev/ttyNOPE9 does not exist") as e:
        S.SerialTransport("/dev/ttyNOPE9").open()
    assert e.value.exit_code == 3


def test_failed_open_leaves_port_unlocked(board: PtyBoard, tmp_path: Path) -> None:
    first = S.SerialTransport(str(board.link)).open()
    with pytest.raises(B.PortBusy):
        S.SerialTransport(str(board.link)).open()
    first.close()
    with S.SerialTransport(str(board.link)):  # nothing left locked by the failures
        pass


def test_reconnect_after_board_reset(board: PtyBoard, tmp_path: Path) -> None:
    with client(str(board.link), tmp_path, reconnect_s=5.0) as c:
        before = c.info()
        gen = c.transport.generation
        board.reset(gap_s=0.3)
        time.sleep(0.05)
        assert not os.path.exists(board.link)  # the port is gone for a while
        assert c.info() == before  # ... and the client carries on when it is back
        assert c.transport.generation > gen
        assert board.boots == 2


def test_port_gone_without_reconnect_is_link_lost(board: PtyBoard, tmp_path: Path) -> None:
    with client(str(board.link), tmp_path) as c:
        c.info()
        board.stop()
        with pytest.raises(B.LinkLost, match="link lost"):
            c.info()


def test_missing_port_waits_for_it(tmp_path: Path) -> None:
    b = PtyBoard(make_device(tmp_path / "s"), tmp_path / "ttyLATE")
    import threading

    threading.Timer(0.3, b.start).start()
    try:
        with client(str(b.link), tmp_path, reconnect_s=5.0) as c:
            assert c.info()["mode"] == "dev"
    finally:
        time.sleep(0.35)
        b.stop()


def test_list_ports_marks_esp32_bridges(monkeypatch: pytest.MonkeyPatch) -> None:
    from serial.tools.list_ports_common import ListPortInfo

    def fake(dev: str, vid: int | None, pid: int | None) -> ListPortInfo:
        p = ListPortInfo(dev, skip_link_detection=True)
        p.vid, p.pid, p.description = vid, pid, "x"
        return p

    ports = [fake("/dev/ttyS0", None, None), fake("/dev/ttyUSB0", 0x10C4, 0xEA60),
             fake("/dev/ttyACM0", 0x303A, 0x1001), fake("/dev/ttyUSB1", 0x0403, 0x6001),
             fake("/dev/ttyUSB2", 0x1A86, 0x7523)]
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda: ports)
    got = {p.device: p.bridge for p in S.list_ports()}
    assert got == {"/dev/ttyACM0": "ESP32-S3/C3 USB-JTAG", "/dev/ttyUSB0": "CP210x",
                   "/dev/ttyUSB1": "FTDI", "/dev/ttyUSB2": "CH340", "/dev/ttyS0": None}
    assert [p.device for p in S.list_ports(esp32_only=True)] == [
        "/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB2"]


def test_open_transport_picks_by_spec() -> None:
    assert isinstance(TF.open_target("/dev/ttyUSB0"), S.SerialTransport)
    assert isinstance(TF.open_target("/dev/pts/7"), PtyTransport)
    from hardware.link.ble import BleTransport

    assert isinstance(TF.open_target("ble:AA:BB:CC:DD:EE:FF"), BleTransport)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_client_unlocks_virtual_board_over_its_pty(runtime: str, tmp_path: Path) -> None:
    from hardware.micropython import node_available
    from hardware.virtual.launcher import VirtualBoard
    from tests import conftest as C

    if runtime == "micropython" and not node_available():
        pytest.skip("needs Node and the MicroPython WASM package")
    now = int(time.time())
    ident = (C.DEVICE, C.KEY, C.AUTHORITY)
    with VirtualBoard(tmp_path / "vb", runtime=runtime, identity=ident) as vb, \
            DeviceClient(PtyTransport(vb.port), key=C.KEY,
                         counter_store=CounterStore(tmp_path / "c.json")) as c:
        assert c.info()["runtime"] == f"{runtime}-virtual"
        c.load_permit(C.make_permit(1, not_before=now - 3600, not_after=now + 3600))
        lat, lon = C.POINTS["in"]
        c.stimulate("fix", lat_e7=lat, lon_e7=lon, hacc_m=5, utc_s=int(time.time()))
        c.stimulate("rfid", cred=C.HOLDER1_RFID, rtt_us=1000, strong=True)
        c.stimulate("finger", template=C.HOLDER1_FINGER, score=100)
        opened = next(e for e in c.events(timeout=5.0)
                      if e["kind"] == "actuate" and e["locked"] is False)
        assert opened["reason"] == "authorised"
        assert c.verify_audit(c.audit()) == []


@pytest.mark.parametrize("spec,kind,where", [
    ("virtual", "virtual", "micropython"), ("virtual-cpython", "virtual", "cpython"),
    ("pty:/tmp/p", "pty", "/tmp/p"), ("serial:COM3", "serial", "COM3"),
    ("usb:A50285BI", "usb", "A50285BI"), ("ble:AA:BB:CC:DD:EE:FF", "ble", "AA:BB:CC:DD:EE:FF"),
    ("/dev/ttyUSB0", "serial", "/dev/ttyUSB0"), ("/dev/pts/4", "pty", "/dev/pts/4"),
    ("COM7", "serial", "COM7"),
])
def test_one_parser_for_every_target_form(spec: str, kind: str, where: str) -> None:
    t = TF.parse_target(spec)
    assert (t.kind, t.where) == (kind, where)
    assert TF.parse_target(str(t)) == t  # the printed form parses back to the same target


@pytest.mark.parametrize("spec", ["usb3", "serial:", "telnet:host", ""])
def test_bad_target_names_the_option_and_the_forms(spec: str) -> None:
    with pytest.raises(ValueError, match=f"--port {spec!r}: use virtual, .*ble:ADDRESS"):
        TF.parse_target(spec, "--port")


def test_virtual_target_has_no_transport_of_its_own() -> None:
    with pytest.raises(ValueError, match="started by hardware.virtual"):
        TF.open_target("virtual")


def test_usb_target_follows_its_serial_number_across_re_enumeration(
        board: PtyBoard, tmp_path: Path) -> None:
    """usb:SERIAL finds the port again when the board comes back under another name."""
    def ports() -> list[S.PortInfo]:
        if not board.slave_name or not os.path.exists(board.link):
            return []  # unplugged
        return [S.PortInfo("/dev/ttyS0", "x", None, None, None, None),
                S.PortInfo(board.slave_name, "CP2102", 0x10C4, 0xEA60, "0001A2", "CP210x",
                           "1-1.4:1.0")]

    for ident in ("0001A2", "1-1.4"):
        tr = S.SerialTransport.by_usb(ident, reconnect_s=5.0, ports=ports)
        with DeviceClient(tr, counter_store=CounterStore(tmp_path / "c.json"),
                          timeout=3.0) as c:
            before = c.info()
            board.reset(gap_s=0.3)
            time.sleep(0.05)
            assert c.info() == before
            assert tr.generation == 2
    with pytest.raises(B.PortMissing, match="no serial port has USB serial number .*NOPE"):
        S.SerialTransport.by_usb("NOPE", ports=ports).open()


def test_a_different_board_on_the_same_port_after_a_replug_is_link_lost(
        board: PtyBoard, tmp_path: Path) -> None:
    """A port name that comes back on another board (reused /dev/pts or /dev/ttyUSB
    number) is not the board the client talks to: LinkLost, not its answers."""
    with client(str(board.link), tmp_path, reconnect_s=5.0) as c:
        assert c.info()["device_id"] == "AL-VIRT-0001"
        board.device = make_device(tmp_path / "other", device_id="AL-OTHER-0002")
        board.reset(gap_s=0.3)
        time.sleep(0.05)
        with pytest.raises(B.LinkLost, match="came back as device AL-OTHER-0002, not "
                                            "AL-VIRT-0001"):
            c.status()
