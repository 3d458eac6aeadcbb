"""In-memory BLE for tests: both sides of a Nordic-UART link without a radio.

- `fake_bluetooth()` is a stand-in for MicroPython's `bluetooth` module (BLE, UUID) with
  the calls firmware/ports/esp32/ble.py uses, checked as the real stack would
  (advertising payload <= 31 bytes, writes and notifications <= MTU - 3, known handles).
- `Air` connects peripherals (fake `BLE` objects) to centrals made by `Air.client_class()`,
  a class with bleak's `BleakClient` contract: `(address, disconnected_callback=None,
  *, timeout=...)`, async `connect/disconnect/start_notify/stop_notify/write_gatt_char`,
  `is_connected`, `mtu_size`, notify callbacks `(sender, data: bytearray)` run on the
  client's event loop, bleak's own exception classes.
- `make_device()` and `BleBoard`: a firmware Device behind the ESP32 BLE service, so a
  test can do a full round trip: BleTransport -> fake bleak -> Air -> fake GATT server ->
  NusService -> Device and back.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

from bleak.exc import BleakDeviceNotFoundError, BleakError

from protocols import crypto

IRQ_CENTRAL_CONNECT = 1
IRQ_CENTRAL_DISCONNECT = 2
IRQ_GATTS_WRITE = 3
IRQ_MTU_EXCHANGED = 21
FLAG_READ, FLAG_WRITE_NR, FLAG_WRITE, FLAG_NOTIFY = 0x02, 0x04, 0x08, 0x10

DEV_MASTER = bytes(range(32))


# -- MicroPython side -------------------------------------------------------------------------


class UUID:
    """bluetooth.UUID: a 16-bit int or a 128-bit string."""

    def __init__(self, value: int | str) -> None:
        self.value = value.lower() if isinstance(value, str) else value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UUID) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"UUID({self.value!r})"


class _Attr:
    def __init__(self, uuid: UUID, flags: int, handle: int) -> None:
        self.uuid, self.flags, self.handle = uuid, flags, handle
        self.value = bytearray()
        self.size = 20
        self.append = False


class BLE:
    """bluetooth.BLE() with the GATT-server calls (gatts_*, gap_advertise, irq, config)."""

    def __init__(self) -> None:
        self._active = False
        self._irq: Any = None
        self.attrs: dict[int, _Attr] = {}
        self.advertising: tuple[bytes, bytes] | None = None
        self.adv_log: list[tuple[int | None, bytes, bytes]] = []
        self.cfg: dict[str, Any] = {"mtu": 23, "gap_name": "MPY"}
        self.conns: dict[int, int] = {}  # conn -> mtu
        self.air: Air | None = None
        self.notified: list[tuple[int, int, bytes]] = []
        self.busy = 0  # > 0: the next `busy` notify calls raise OSError (buffers full)

    def active(self, on: bool | None = None) -> bool:
        if on is not None:
            self._active = bool(on)
        return self._active

    def config(self, *args: str, **kw: Any) -> Any:
        if args:
            return self.cfg[args[0]]
        for k, v in kw.items():
            if k == "mtu" and not 23 <= v <= 517:
                raise ValueError("mtu out of range")
            self.cfg[k] = v
        return None

    def irq(self, handler: Any) -> None:
        self._irq = handler

    def _need_active(self) -> None:
        if not self._active:
            raise OSError(19, "ENODEV: BLE not active")

    def gatts_register_services(self, services: Any) -> tuple[tuple[int, ...], ...]:
        self._need_active()
        out = []
        h = 1
        for svc_uuid, chars in services:
            assert isinstance(svc_uuid, UUID)
            h += 1  # the service declaration
            handles = []
            for ch in chars:
                uuid, flags = ch[0], ch[1]
                h += 1  # characteristic declaration
                self.attrs[h] = _Attr(uuid, flags, h)
                handles.append(h)
                h += 1
                if flags & FLAG_NOTIFY:
                    h += 1  # CCCD
            out.append(tuple(handles))
        return tuple(out)

    def gatts_set_buffer(self, handle: int, size: int, append: bool = False) -> None:
        a = self.attrs[handle]
        a.size, a.append = size, append

    def gatts_read(self, handle: int) -> bytes:
        a = self.attrs[handle]
        v = bytes(a.value)
        if a.append:
            a.value = bytearray()
        return v

    def gatts_write(self, handle: int, data: bytes) -> None:
        self.attrs[handle].value = bytearray(data)

    def gatts_notify(self, conn: int, handle: int, data: bytes | None = None) -> None:
        self._need_active()
        if conn not in self.conns:
            raise OSError(128, "ENOTCONN")
        a = self.attrs[handle]
        if not a.flags & FLAG_NOTIFY:
            raise ValueError(f"handle {handle} has no notify property")
        payload = bytes(a.value if data is None else data)
        if len(payload) > self.conns[conn] - 3:
            raise ValueError(f"notify of {len(payload)} bytes > MTU {self.conns[conn]} - 3")
        if self.busy > 0:
            self.busy -= 1
            raise OSError(12, "ENOMEM")
        self.notified.append((conn, handle, payload))
        assert self.air is not None
        self.air.notify(self, conn, a.uuid, payload)

    def gap_advertise(self, interval_us: int | None, adv_data: bytes | None = None,
                      resp_data: bytes | None = None, connectable: bool = True) -> None:
        self._need_active()
        if interval_us is None:
            self.advertising = None
            self.adv_log.append((None, b"", b""))
            return
        adv, resp = bytes(adv_data or b""), bytes(resp_data or b"")
        for what, p in (("adv_data", adv), ("resp_data", resp)):
            if len(p) > 31:
                raise ValueError(f"{what} of {len(p)} bytes > 31")
            parse_ad(p)
        self.advertising = (adv, resp) if connectable else None
        self.adv_log.append((interval_us, adv, resp))

    # called by the Air
    def _event(self, event: int, data: tuple[Any, ...]) -> None:
        if self._irq is not None:
            self._irq(event, data)

    def _write_from_central(self, conn: int, uuid: UUID, data: bytes) -> None:
        for a in self.attrs.values():
            if a.uuid == uuid:
                if not a.flags & (FLAG_WRITE | FLAG_WRITE_NR):
                    raise BleakError(f"characteristic {uuid.value} is not writable")
                if a.append:
                    room = a.size - len(a.value)
                    a.value += data[:max(0, room)]
                else:
                    a.value = bytearray(data[:a.size])
                self._event(IRQ_GATTS_WRITE, (conn, a.handle))
                return
        raise BleakError(f"characteristic {uuid.value} was not found")

    def has_char(self, uuid: UUID) -> bool:
        return any(a.uuid == uuid for a in self.attrs.values())


def parse_ad(payload: bytes) -> dict[int, bytes]:
    """AD structures {type: value}; ValueError if the lengths do not add up."""
    out, i = {}, 0
    while i < len(payload):
        n = payload[i]
        if n == 0 or i + 1 + n > len(payload):
            raise ValueError(f"bad AD structure at byte {i}")
        out[payload[i + 1]] = bytes(payload[i + 2:i + 1 + n])
        i += 1 + n
    return out


def fake_bluetooth() -> types.ModuleType:
    """A module object standing in for MicroPython's `bluetooth`."""
    mod = types.ModuleType("bluetooth")
    mod.BLE = BLE  # type: ignore[attr-defined]
    mod.UUID = UUID  # type: ignore[attr-defined]
    mod.FLAG_READ, mod.FLAG_WRITE, mod.FLAG_NOTIFY = FLAG_READ, FLAG_WRITE, FLAG_NOTIFY  # type: ignore[attr-defined]
    mod.FLAG_WRITE_NO_RESPONSE = FLAG_WRITE_NR  # type: ignore[attr-defined]
    return mod


def load_esp32_ble() -> types.ModuleType:
    """firmware/ports/esp32/ble.py imported against the fake `bluetooth` module."""
    sys.modules["bluetooth"] = fake_bluetooth()
    sys.modules.pop("firmware.ports.esp32.ble", None)
    return importlib.import_module("firmware.ports.esp32.ble")


# -- the air between them -----------------------------------------------------------------------


class _Char:
    """What bleak passes as `sender`: a characteristic with uuid and handle."""

    def __init__(self, uuid: str, handle: int) -> None:
        self.uuid, self.handle = uuid, handle


class Air:
    """Radio range: peripherals by address, and the links made to them."""

    def __init__(self, central_mtu: int = 247) -> None:
        self.central_mtu = central_mtu
        self.peripherals: dict[str, BLE] = {}
        self.links: dict[tuple[int, int], Any] = {}  # (id(ble), conn) -> client
        self.lock = threading.RLock()
        self._conn = 0

    def add(self, address: str, ble: BLE) -> None:
        ble.air = self
        self.peripherals[address.upper()] = ble

    def notify(self, ble: BLE, conn: int, uuid: UUID, data: bytes) -> None:
        client = self.links.get((id(ble), conn))
        if client is not None:
            client._deliver(str(uuid.value), bytes(data))

    def drop(self, address: str) -> None:
        """The link breaks (board reset, out of range): both sides are told."""
        ble = self.peripherals[address.upper()]
        with self.lock:
            for (bid, conn), client in list(self.links.items()):
                if bid == id(ble):
                    del self.links[(bid, conn)]
                    ble.conns.pop(conn, None)
                    ble._event(IRQ_CENTRAL_DISCONNECT, (conn, 0, memoryview(b"\x00" * 6)))
                    client._lost()

    def client_class(self) -> type:
        """A BleakClient-compatible class whose radio is this Air."""
        air = self

        class FakeBleakClient(_FakeBleakClient):
            _air = air

        return FakeBleakClient


class _FakeBleakClient:
    _air: Air

    def __init__(self, address_or_ble_device: Any, disconnected_callback: Any = None,
                 services: Any = None, *, timeout: float = 10.0, **kwargs: Any) -> None:
        self.address = str(getattr(address_or_ble_device, "address", address_or_ble_device))
        self._disconnected_callback = disconnected_callback
        self._timeout = timeout
        self._connected = False
        self._mtu = 23
        self._ble: BLE | None = None
        self._conn = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._notify: dict[str, Any] = {}
        self.writes: list[bytes] = []

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def mtu_size(self) -> int:
        return self._mtu

    async def connect(self, **kwargs: Any) -> None:
        air = self._air
        ble = air.peripherals.get(self.address.upper())
        if ble is None or ble.advertising is None:
            raise BleakDeviceNotFoundError(self.address,
                                           f"Device with address {self.address} was not found.")
        self._loop = asyncio.get_running_loop()
        with air.lock:
            air._conn += 1
            self._conn, self._ble = air._conn, ble
            ble.advertising = None  # a peripheral stops advertising when connected
            ble.conns[self._conn] = 23
            air.links[(id(ble), self._conn)] = self
            ble._event(IRQ_CENTRAL_CONNECT, (self._conn, 0, memoryview(b"\x11" * 6)))
            self._mtu = min(air.central_mtu, int(ble.cfg.get("mtu", 23)))
            ble.conns[self._conn] = self._mtu
            ble._event(IRQ_MTU_EXCHANGED, (self._conn, self._mtu))
        self._connected = True

    async def disconnect(self) -> None:
        if not self._connected or self._ble is None:
            return
        with self._air.lock:
            self._air.links.pop((id(self._ble), self._conn), None)
            self._ble.conns.pop(self._conn, None)
            self._ble._event(IRQ_CENTRAL_DISCONNECT, (self._conn, 0, memoryview(b"\x11" * 6)))
        self._connected = False

    def _need(self, uuid: Any) -> str:
        if not self._connected or self._ble is None:
            raise BleakError("Not connected")
        u = str(getattr(uuid, "uuid", uuid)).lower()
        if not self._ble.has_char(UUID(u)):
            raise BleakError(f"Characteristic {u} was not found!")
        return u

    async def start_notify(self, char_specifier: Any, callback: Any, **kwargs: Any) -> None:
        self._notify[self._need(char_specifier)] = callback

    async def stop_notify(self, char_specifier: Any) -> None:
        self._notify.pop(self._need(char_specifier), None)

    async def write_gatt_char(self, char_specifier: Any, data: Any,
                              response: bool | None = None) -> None:
        u = self._need(char_specifier)
        data = bytes(data)
        if len(data) > self._mtu - 3:
            raise BleakError(f"write of {len(data)} bytes > MTU {self._mtu} - 3")
        self.writes.append(data)
        assert self._ble is not None
        with self._air.lock:
            self._ble._write_from_central(self._conn, UUID(u), data)

    # called by the Air, from any thread
    def _deliver(self, uuid: str, data: bytes) -> None:
        cb = self._notify.get(uuid)
        if cb is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(cb, _Char(uuid, 0), bytearray(data))

    def _lost(self) -> None:
        self._connected = False
        if self._disconnected_callback is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._disconnected_callback, self)


# -- a device behind the ESP32 BLE service ---------------------------------------------------


def make_device(storage: str | Path, mode: str = "dev", device_id: str = "AL-VIRT-0001",
                master: bytes = DEV_MASTER, authority: tuple[bytes, ...] | None = None) -> Any:
    """A firmware.app Device (feed/tick/boot) with its FileStore in `storage`, trusting
    `authority` (default: the tests' authority, tests/conftest.py AUTH)."""
    from firmware.app.device import Device
    from firmware.app.store import FileStore

    if authority is None:
        from tests.conftest import AUTHORITY as authority
    key = crypto.device_key(master, device_id)
    return Device(device_id, key, mode, FileStore(str(storage)),
                  ticks_us=lambda: time.perf_counter_ns() // 1000, runtime="cpython-test",
                  authority=authority)


class BleBoard:
    """An ESP32 on the fake air: BLE service + link + device, on a virtual clock."""

    def __init__(self, air: Air, address: str, device: Any, mtu: int = 247,
                 name: str = "armlock-test", utc0: int = 1_767_225_600) -> None:
        self.esp = load_esp32_ble()
        self.ble = BLE()
        self.ble.config(mtu=mtu)
        air.add(address, self.ble)
        self.air = air
        self.mono = 0
        self.utc0 = utc0
        self.device = device
        self.svc = self.esp.NusService(self.ble, name=name, on_rx=self._rx)
        from firmware.ports.esp32.ble_link import BleDeviceLink
        self.link = BleDeviceLink(self.svc, device, lambda: self.mono,
                                 lambda: self.utc0 + self.mono // 1000)
        self.svc.send(device.boot(0, utc0, "power_on"))

    def _rx(self, chunk: bytes) -> None:
        # the IRQ buffers; the board's main loop polls right away (no wait in tests)
        self.svc.rx += chunk
        self.link.poll()

    def advance(self, ms: int, step: int = 10) -> None:
        """Let board time pass, polling like the main loop does."""
        with self.air.lock:
            end = self.mono + ms
            while self.mono < end:
                self.mono = min(end, self.mono + step)
                self.link.poll()


# -- a device on a pty (serial-transport tests and bench/bench_link.py) ----------------------


class PtyBoard:
    """A thread that plays the board on the master side of an os.openpty() pair.

    `.port` is a stable path (a symlink to the slave, like /dev/serial/by-id/...);
    `reset()` closes the pty (the port vanishes, as when an ESP32 resets and its USB
    re-enumerates) and, after `gap_s`, makes a new one behind the same path and boots
    the same device again.
    """

    def __init__(self, device: Any, link_path: str | Path, utc0: int = 1_767_225_600) -> None:
        self.device = device
        self.link = Path(link_path)
        self.utc0 = utc0
        self.t0 = time.monotonic()
        self.master = -1
        self.slave_name = ""
        self.boots = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> tuple[int, int]:
        ms = int((time.monotonic() - self.t0) * 1000)
        return ms, self.utc0 + ms // 1000

    def start(self) -> PtyBoard:
        import os
        import tty

        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.slave_name = os.ttyname(slave)
        os.close(slave)  # the node stays while the master is open
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(self.slave_name)
        os.replace(tmp, self.link)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pty-board", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        import os
        import select

        m = self.master
        ms, utc = self.now()
        self._write(m, self.device.boot(ms, utc, "power_on" if not self.boots else "hard"))
        self.boots += 1
        while not self._stop.is_set():
            r, _, _ = select.select([m], [], [], 0.01)
            ms, utc = self.now()
            if r:
                try:
                    data = os.read(m, 4096)
                except OSError:  # EIO while no slave is open
                    time.sleep(0.005)
                    continue
                self._write(m, self.device.feed(data, ms, utc))
            else:
                self._write(m, self.device.tick(ms, utc))

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        import os

        view = memoryview(data or b"")
        while view:
            view = view[os.write(fd, view):]

    def stop(self) -> None:
        import os

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def reset(self, gap_s: float = 0.2) -> None:
        """Close the pty now; a new one (same link path) comes up after gap_s, in the
        background."""
        self.stop()
        self.link.unlink()
        threading.Timer(gap_s, self.start).start()
