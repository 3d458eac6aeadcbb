"""BLE transport: the board's Nordic UART Service over bleak, behind a synchronous API.

bleak is asyncio; this module runs its event loop in a background thread and hands
coroutines to it, so `DeviceClient` stays synchronous. Frames are written to RX in
chunks of the negotiated MTU - 3 (write without response); TX notifications are queued
as a byte stream that the client's frame decoder reassembles.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from hardware.link.base import LinkLost, PortMissing, Transport

# Nordic UART Service (shared/REFERENCES.md); the same UUIDs as firmware/ports/esp32/ble.py.
NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # host writes
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # board notifies
ATT_OVERHEAD = 3


class BleTransport(Transport):
    """A board over BLE at `address` (MAC, or a platform UUID on macOS)."""

    def __init__(self, address: str, client_class: Any = None, connect_timeout: float = 10.0,
                 op_timeout: float = 5.0) -> None:
        super().__init__()
        self.address = address
        self.name = f"ble:{address}"
        self.client_class = client_class
        self.connect_timeout = connect_timeout
        self.op_timeout = op_timeout
        self.client: Any = None
        self.mtu = 23
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._rx = bytearray()
        self._cv = threading.Condition()
        self._lost = False

    @property
    def is_open(self) -> bool:
        return self.client is not None and not self._lost

    @property
    def chunk(self) -> int:
        """Bytes per RX write: the ATT payload of one packet."""
        return max(20, self.mtu - ATT_OVERHEAD)

    # -- the loop thread -------------------------------------------------------------------
    def _start_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="armlock-ble",
                                        daemon=True)
        self._thread.start()

    def _stop_loop(self) -> None:
        loop, th = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if th is not None:
                th.join(timeout=5)
            loop.close()

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except BaseException:
            fut.cancel()
            raise

    # -- open / close ----------------------------------------------------------------------
    def _open(self) -> None:
        cls = self.client_class
        if cls is None:
            from bleak import BleakClient as cls
        self._lost = False
        self._rx.clear()
        self._start_loop()
        try:
            self._run(self._connect(cls), self.connect_timeout + 1)
        except Exception as exc:
            self.client = None
            self._stop_loop()
            raise PortMissing(f"cannot connect to {self.name}: {_why(exc)} "
                              "(board powered and advertising? in range?)") from None

    async def _connect(self, cls: Any) -> None:
        client = cls(self.address, disconnected_callback=self._on_disconnect,
                     timeout=self.connect_timeout)
        await client.connect()
        self.client = client
        acquire = getattr(getattr(client, "_backend", None), "_acquire_mtu", None)
        if acquire is not None:  # BlueZ reports 23 until the MTU is acquired
            try:
                await acquire()
            except Exception:  # noqa: BLE001 - keep the default MTU
                pass
        self.mtu = int(getattr(client, "mtu_size", 23) or 23)
        await client.start_notify(NUS_TX, self._on_notify)

    def _close(self) -> None:
        client = self.client
        if client is not None and self._loop is not None:
            try:
                self._run(client.disconnect(), self.op_timeout)
            except Exception:  # noqa: BLE001 - closing: nothing to report
                pass
        self.client = None
        self._stop_loop()

    # -- callbacks (run in the loop thread) -------------------------------------------------
    def _on_notify(self, _sender: Any, data: bytearray) -> None:
        with self._cv:
            self._rx += data
            self._cv.notify_all()

    def _on_disconnect(self, _client: Any) -> None:
        with self._cv:
            self._lost = True
            self._cv.notify_all()

    # -- bytes -----------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.client is None or self._lost:
            raise LinkLost(f"link lost: {self.name} disconnected")
        try:
            self._run(self._write_chunks(bytes(data)), self.op_timeout)
        except Exception as exc:
            self._lost = True
            if not getattr(self.client, "is_connected", False):
                raise LinkLost(f"link lost: {self.name} disconnected") from None
            raise LinkLost(f"link lost: {self.name}: write failed ({_why(exc)})") from None

    async def _write_chunks(self, data: bytes) -> None:
        n = self.chunk
        for i in range(0, len(data), n):
            await self.client.write_gatt_char(NUS_RX, data[i:i + n], response=False)

    def read(self, timeout: float) -> bytes:
        with self._cv:
            if not self._rx and not self._lost:
                self._cv.wait(timeout)
            if self._rx:
                out = bytes(self._rx)
                self._rx.clear()
                return out
            if self._lost:
                raise LinkLost(f"link lost: {self.name} disconnected")
            return b""


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def scan(timeout: float = 5.0) -> list[tuple[str, str]]:
    """(address, name) of nearby boards advertising the NUS service (needs an adapter)."""
    from bleak import BleakScanner

    async def go() -> list[tuple[str, str]]:
        found = await BleakScanner.discover(timeout=timeout, service_uuids=[NUS_SERVICE])
        return [(d.address, d.name or "") for d in found]

    return asyncio.run(go())
