# BLE link of the ESP32 port: a Nordic UART Service (NUS) GATT server carrying wire frames.
#
# MicroPython's low-level `bluetooth.BLE()` API (no aioble needed). The central writes
# frame bytes to RX (write / write-without-response, each at most MTU-3 bytes); the board
# notifies TX with its output cut to the connection's MTU-3. Bytes form one stream per
# link, as on the UART: the frame decoder reassembles frames from any split.
#
# NUS UUIDs (Nordic Semiconductor): service 6E400001-B5A3-F393-E0A9-E50E24DCCA9E,
# RX 6E400002-..., TX 6E400003-... (shared/REFERENCES.md); the registration and the
# advertising payload are firmware/ports/esp32/ble_adv.py (boot only).
#
# Use:
#     svc = NusService(bluetooth.BLE(), name="armlock-1234")
#     link = BleDeviceLink(svc, device, now_ms, rtc_s)   # firmware/ports/esp32/ble_link.py
#     ... in the main loop: link.poll()                   # or: await link.run()
# (firmware/ports/esp32/loop.py drives svc.take()/send()/flush() itself, the same way,
# so the app never loads ble_link.py.)
# The IRQ handler only buffers (it runs in the BLE stack's context); all work on the
# device happens in poll(), from the main loop.

try:
    from micropython import const
except ImportError:  # CPython (tests)
    def const(x):
        return x

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)

_DEFAULT_MTU = const(23)      # ATT default until the central exchanges MTU
_TX_BACKLOG = const(4096)     # output kept while notifications are refused; older dropped
_ADV_INTERVAL_US = const(250000)


class NusService:
    """The GATT server: registers NUS, advertises, buffers RX, notifies TX in MTU chunks."""

    def __init__(self, ble, name="armlock", on_rx=None):
        self.ble = ble
        self.name = name
        self.on_rx = on_rx          # optional callback(bytes), called from the IRQ
        self.conns = {}             # conn_handle -> mtu
        self.rx = bytearray()
        self.tx = bytearray()
        self.dropped = 0
        self.h_tx = self.h_rx = 0   # the TX / RX value handles, the advertising payload:
        self.adv = self.resp = b""  # set by ble_adv.register (boot only)
        from firmware.ports.esp32.ble_adv import register
        register(self)              # (NUS, its buffers, the IRQ, advertising)

    def advertise(self, on=True):
        """Start (or stop) connectable advertising."""
        if on:
            self.ble.gap_advertise(_ADV_INTERVAL_US, adv_data=self.adv, resp_data=self.resp,
                                   connectable=True)
        else:
            self.ble.gap_advertise(None)

    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            self.conns[data[0]] = _DEFAULT_MTU
        elif event == _IRQ_CENTRAL_DISCONNECT:
            self.conns.pop(data[0], None)
            if not self.conns:
                self.tx = bytearray()
            self.advertise()
        elif event == _IRQ_GATTS_WRITE:
            if data[1] == self.h_rx:
                chunk = bytes(self.ble.gatts_read(self.h_rx))
                if self.on_rx is not None:
                    self.on_rx(chunk)
                else:
                    self.rx += chunk
        elif event == _IRQ_MTU_EXCHANGED:
            self.conns[data[0]] = data[1]

    def take(self):
        """Bytes written by the central since the last call."""
        out = bytes(self.rx)
        self.rx = bytearray()
        return out

    def send(self, data):
        """Queue bytes for TX and notify as much as the stack takes now."""
        if not self.conns or not data:
            return
        self.tx += data
        if len(self.tx) > _TX_BACKLOG:
            cut = len(self.tx) - _TX_BACKLOG
            self.dropped += cut
            self.tx = self.tx[cut:]
        self.flush()

    def flush(self):
        """Notify queued bytes in MTU-3 chunks; stops (keeping the rest) when the stack's
        buffers are full (OSError), to retry on the next call."""
        while self.tx and self.conns:
            n = len(self.tx)
            for conn in self.conns:
                m = self.conns[conn] - 3
                if m < n:
                    n = m
            chunk = bytes(self.tx[:n])
            try:
                for conn in self.conns:
                    self.ble.gatts_notify(conn, self.h_tx, chunk)
            except OSError:
                return False
            self.tx = self.tx[n:]
        return True
