# The armlock app on the virtual board (MicroPython WASM and CPython), sans-IO.
#
# The board host (hardware/node/board.mjs, or its CPython twin in hardware/virtual/twin.py)
# does all I/O and drives three calls:
#     start(board, now_ms, rtc_s) -> bytes     once per boot
#     step(data, now_ms, rtc_s) -> bytes       UART bytes in (maybe b""), UART bytes out
#     wake_ms() -> int or None                 call step() again no later than this
# `board` is the host module: mode ("dev" | "production"), runtime, storage (dir path),
# reset_cause, set_rtc(utc_s), reset(), and optionally ticks_us() and log(text).
#
# Everything else is the shared device application (firmware/app/device.py: wire protocol,
# core, storage), exactly as on the ESP32 port; this file only wires it to the board's
# simulated hardware (hal.py) and identity.

from firmware.app import identity
from firmware.app.device import Device
from firmware.app.store import FileStore
from firmware.ports.virtual import hal

try:
    from time import ticks_us as _ticks_us
except ImportError:  # CPython
    from time import perf_counter_ns as _ns

    def _ticks_us():
        return (_ns() // 1000) & 0x3FFFFFFF

FW_VERSION = "0.1.0"
DEV_DEVICE_ID = identity.DEV_DEVICE_ID   # kept here for hosts that import it from here
DEV_MASTER = identity.DEV_MASTER


class App:
    """One boot of the virtual board."""

    def __init__(self, board, now_ms, rtc_s):
        self.board = board
        store = FileStore(board.storage)
        try:
            stored = store.load_identity()
        except ValueError:  # a damaged identity file: as if never provisioned
            stored = None
        ident = identity.resolve(board.mode, stored)  # the one policy, as on an ESP32
        self.hw = hal.Peripherals()
        ticks = getattr(board, "ticks_us", None) or _ticks_us  # finer than the VM's own
        dev = Device(ident[0], ident[1], board.mode, store, ticks_us=ticks,
                     fw_version=FW_VERSION, runtime="%s-virtual" % board.runtime,
                     authority=ident[2])
        # (Device declares its hooks as None; pyright cannot see they are callables.)
        dev.actuator_hook = self.hw.actuator.drive  # pyright: ignore[reportAttributeAccessIssue]
        dev.rtc_hook = board.set_rtc  # pyright: ignore[reportAttributeAccessIssue]
        dev.indicate_hook = self.hw.indicate  # pyright: ignore[reportAttributeAccessIssue]
        dev.answer_hook = self.hw.answer  # pyright: ignore[reportAttributeAccessIssue]
        self.dev = dev
        self.boot_out = dev.boot(now_ms, rtc_s, board.reset_cause)

    def step(self, data, now_ms, rtc_s):
        out = self.dev.feed(data, now_ms, rtc_s) if data else b""
        out += self.dev.tick(now_ms, rtc_s)
        if self.dev.reboot_requested:
            self.dev.reboot_requested = False
            self.board.reset()  # after this step's bytes (the OK) are sent
        return out


_app = None


def start(board, now_ms, rtc_s):
    """Boot the app; returns the bytes to send (boot EVENT and the core's first actions)."""
    global _app
    _app = App(board, now_ms, rtc_s)
    return _app.boot_out


def step(data, now_ms, rtc_s):
    """Feed UART bytes (or b"" on a tick); returns the bytes to send."""
    return _app.step(data, now_ms, rtc_s)


def wake_ms():
    """Monotonic ms by which step() must be called again, or None."""
    return _app.dev.wake_at
