"""BLE: the host's BleTransport and the ESP32 NUS service, end to end through in-memory fakes.

BleTransport -> fake BleakClient -> Air -> fake MicroPython GATT server -> NusService ->
firmware Device, and back; at MTU 23 (frames cut into 20-byte writes) and 247.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hardware.client import CounterStore, DeviceClient
from hardware.link import ble as H
from hardware.link.base import LinkLost, PortMissing
from protocols import messages as M
from tests import conftest as C
from tests.fakes import ble as F

ADDR = "C0:FF:EE:00:00:01"


def setup(tmp_path: Path, mtu: int) -> tuple[DeviceClient, F.BleBoard, F.Air]:
    air = F.Air(central_mtu=mtu)
    board = F.BleBoard(air, ADDR, F.make_device(tmp_path / "s", "dev", C.DEVICE, C.MASTER),
                       mtu=517, utc0=C.T0)
    tr = H.BleTransport(ADDR, client_class=air.client_class())
    c = DeviceClient(tr, key=C.KEY, counter_store=CounterStore(tmp_path / "c.json"))
    return c.open(), board, air


@pytest.fixture(params=[23, 247])
def link(request: Any, tmp_path: Path) -> Any:
    c, board, air = setup(tmp_path, request.param)
    yield c, board, request.param
    c.close()


def test_round_trip_with_fragmentation(link: Any) -> None:
    c, board, mtu = link
    assert c.transport.mtu == mtu
    assert c.info()["device_id"] == C.DEVICE
    token = C.make_permit(1)
    assert len(token) > 3 * (mtu - 3) or mtu > 100
    c.load_permit(token)
    st = c.status()  # a ~270-byte reply: several notifications at MTU 23
    assert st["permit"]["serial"] == 1
    writes = c.transport.client.writes
    assert max(len(w) for w in writes) <= mtu - 3
    if mtu == 23:
        assert sum(1 for w in writes if len(w) == 20) > 10  # the permit went in pieces
    assert max(len(n[2]) for n in board.ble.notified) <= mtu - 3


def test_unlock_event_over_ble(link: Any) -> None:
    c, board, _ = link
    c.load_permit(C.make_permit(1))
    lat, lon = C.POINTS["in"]
    c.stimulate("fix", lat_e7=lat, lon_e7=lon, hacc_m=5, utc_s=C.T0)
    c.stimulate("rfid", cred=C.HOLDER1_RFID, rtt_us=1000, strong=True)
    c.stimulate("finger", template=C.HOLDER1_FINGER, score=100)
    board.advance(1000)  # the board's main loop runs; the answer comes due
    ev = [e for e in c.events(timeout=0.5) if e["kind"] == "actuate"]
    assert ev and ev[-1]["locked"] is False
    recs = c.audit()
    assert c.verify_audit(recs) == []


def test_disconnect_gives_clear_error(tmp_path: Path) -> None:
    c, board, air = setup(tmp_path, 247)
    c.info()
    air.drop(ADDR)
    with pytest.raises(LinkLost, match=f"link lost: ble:{ADDR} disconnected"):
        c.status()
    assert not board.svc.conns  # no central connected
    assert board.ble.advertising is not None  # the board advertises again
    c.close()


def test_unknown_address_is_port_missing(tmp_path: Path) -> None:
    air = F.Air()
    tr = H.BleTransport("AA:AA:AA:AA:AA:AA", client_class=air.client_class())
    with pytest.raises(PortMissing, match="cannot connect to ble:AA:AA:AA:AA:AA:AA"):
        tr.open()
    assert tr._thread is None  # the loop thread is not left behind


def test_notifications_refused_are_sent_later(tmp_path: Path) -> None:
    c, board, _ = setup(tmp_path, 23)
    c.info()
    board.ble.busy = 1  # the stack's buffers are full once
    c.transport.write(M.encode_msg(M.STATUS, 500))
    assert board.svc.tx  # the reply is kept, not lost
    board.advance(20)  # the main loop flushes what was kept
    assert c._wait(500, 1.0)[0] == M.STATUS_REPLY
    c.close()


def test_service_registration_and_advertising() -> None:
    esp = F.load_esp32_ble()
    air = F.Air()
    ble = F.BLE()
    air.add(ADDR, ble)
    svc = esp.NusService(ble, name="armlock-12345678")
    tx, rx = ble.attrs[svc.h_tx], ble.attrs[svc.h_rx]
    assert tx.uuid == F.UUID(H.NUS_TX) and tx.flags & F.FLAG_NOTIFY
    assert rx.uuid == F.UUID(H.NUS_RX) and rx.flags & F.FLAG_WRITE_NR and rx.append
    adv, resp = ble.advertising
    ad = F.parse_ad(adv)
    assert ad[0x01] == b"\x06"
    assert ad[0x07] == bytes(reversed(bytes.fromhex(H.NUS_SERVICE.replace("-", ""))))
    name = F.parse_ad(resp).get(0x09) or ad.get(0x09)
    assert name == b"armlock-12345678"
    assert len(adv) <= 31 and len(resp) <= 31


def test_long_name_is_cut_to_fit() -> None:
    from firmware.ports.esp32.ble_adv import adv_payload
    adv, resp = adv_payload("x" * 40, H.NUS_SERVICE)
    assert len(adv) <= 31 and len(resp) <= 31
    assert F.parse_ad(resp)[0x08] == b"x" * 29  # shortened-name type


MP_PROGRAM = r'''
import sys


class UUID:
    def __init__(self, v):
        self.v = v


class FakeBLE:
    def __init__(self):
        self.attrs = {}
        self.sent = []
        self.adv = None

    def active(self, on=None):
        return True

    def config(self, **kw):
        pass

    def irq(self, h):
        self.h = h

    def gatts_register_services(self, svcs):
        self.attrs[10] = bytearray()
        self.attrs[12] = bytearray()
        return ((10, 12),)

    def gatts_set_buffer(self, h, n, append=False):
        pass

    def gatts_read(self, h):
        v = bytes(self.attrs[h])
        self.attrs[h] = bytearray()
        return v

    def gatts_notify(self, conn, h, data):
        assert len(data) <= 20, len(data)
        self.sent.append(bytes(data))

    def gap_advertise(self, interval, adv_data=None, resp_data=None, connectable=True):
        self.adv = (adv_data, resp_data)


class Mod:
    BLE = FakeBLE
    UUID = UUID


sys.modules["bluetooth"] = Mod
from firmware.ports.esp32 import ble as nus
from firmware.ports.esp32.ble_link import BleDeviceLink
from firmware.app.device import Device
from firmware.app.store import MemStore
from protocols import crypto, frame, messages as M

key = crypto.device_key(bytes(range(32)), "AL-MP-1")
dev = Device("AL-MP-1", key, "dev", MemStore(), runtime="micropython-test")
b = FakeBLE()
svc = nus.NusService(b, name="armlock-mp")
link = BleDeviceLink(svc, dev, lambda: 0, lambda: 1767225600)
dev.boot(0, 1767225600, "power_on")
b.h(1, (0, 0, b"\x00" * 6))
b.h(21, (0, 23))
req = M.encode_msg(M.INFO, 9, {})
for i in range(0, len(req), 20):
    b.attrs[12] += req[i:i + 20]
    b.h(3, (0, 12))
link.poll()
dec = frame.Decoder()
got = []
for chunk in b.sent:
    for fr in dec.feed(chunk):
        if type(fr) is tuple and fr[1] == 9:
            got.append(M.decode_msg(fr)[2]["device_id"])
print(len(b.sent), got[0], len(b.adv[0]) <= 31)
'''


@pytest.mark.skipif(not __import__("hardware.micropython").micropython.node_available(),
                    reason="needs Node and the MicroPython WASM package")
def test_esp32_service_runs_under_micropython() -> None:
    from hardware.micropython import MicroPythonError, run

    try:  # a compatibility check, not a heap budget: the WASM VM collects only at the end
        out = run(MP_PROGRAM, heap_kb=512).split()
    except MicroPythonError as exc:
        pytest.fail(f"{exc}\n{exc.traceback}")
    assert int(out[0]) > 1 and out[1] == "AL-MP-1" and out[2] == "True"
