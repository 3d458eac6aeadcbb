"""Serial transport against a pty pair with a firmware Device on the other end."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import serial

from hardware import transport as T
from hardware.client import CounterStore, DeviceClient
from tests.fakes.ble import PtyBoard, make_device


@pytest.fixture
def board(tmp_path: Path) -> Any:
    b = PtyBoard(make_device(tmp_path / "storage"), tmp_path / "ttyARMLOCK").start()
    yield b
    b.stop()


def client(port: str, tmp_path: Path, **kw: Any) -> DeviceClient:
    tr = T.SerialTransport(port, **kw)
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
        with pytest.raises(T.PortBusy, match="port busy: .*ttyARMLOCK"):
            T.SerialTransport(str(board.link)).open()
        assert c.status()["locked"] is True  # the first holder is unaffected
    with client(str(board.link), tmp_path) as c:  # released on close
        c.info()


def test_missing_port(tmp_path: Path) -> None:
    with pytest.raises(T.PortMissing, match="port missing: /dev/ttyNOPE9 does not exist") as e:
        T.SerialTransport("/dev/ttyNOPE9").open()
    assert e.value.exit_code == 3


def test_failed_open_leaves_port_unlocked(board: PtyBoard, tmp_path: Path) -> None:
    first = T.SerialTransport(str(board.link)).open()
    with pytest.raises(T.PortBusy):
        T.SerialTransport(str(board.link)).open()
    first.close()
    with T.SerialTransport(str(board.link)):  # nothing left locked by the failures
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
        with pytest.raises(T.LinkLost, match="link lost"):
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
    got = {p.device: p.bridge for p in T.list_ports()}
    assert got == {"/dev/ttyACM0": "ESP32-S3/C3 USB-JTAG", "/dev/ttyUSB0": "CP210x",
                   "/dev/ttyUSB1": "FTDI", "/dev/ttyUSB2": "CH340", "/dev/ttyS0": None}
    assert [p.device for p in T.list_ports(esp32_only=True)] == [
        "/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB2"]


def test_open_transport_picks_by_spec() -> None:
    assert isinstance(T.open_transport("/dev/ttyUSB0"), T.SerialTransport)
    assert isinstance(T.open_transport("/dev/pts/7"), T.PtyTransport)
    from hardware.ble import BleTransport

    assert isinstance(T.open_transport("ble:AA:BB:CC:DD:EE:FF"), BleTransport)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_client_unlocks_virtual_board_over_its_pty(runtime: str, tmp_path: Path) -> None:
    from hardware.micropython import node_available
    from hardware.virtual_board import VirtualBoard
    from tests import conftest as C

    if runtime == "micropython" and not node_available():
        pytest.skip("needs Node and the MicroPython WASM package")
    now = int(time.time())
    with VirtualBoard(tmp_path / "vb", runtime=runtime, identity=(C.DEVICE, C.KEY)) as vb, \
            DeviceClient(T.PtyTransport(vb.port), key=C.KEY,
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
