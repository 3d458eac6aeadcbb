# The ESP32 app: one loop around firmware/app/device.py's Device (App.run; no asyncio,
# whose modules would take about 4 KB of heap for four periodic tasks).
#
# Tasks (each records when it last completed a pass; see App.watchdog_step):
#   serial    wire frames on the USB serial console <-> Device.feed (link 0)
#   drivers   board peripherals (RFID, fingerprint, GNSS, tamper, actuator sense,
#             battery) -> Device.local_event
#   ticker    Device.tick at its WAKE deadline and every _TICK_MS
#   watchdog  machine.WDT.feed() only while every task has run within HEALTH_MS
#             and none has failed; a stalled or dead task means no feed, so a reset.
#             Production builds only (WDT_MS from the board file): in dev mode mpremote
#             stops the app to reach the REPL, and an ESP32 WDT cannot be stopped.
#
# USB serial: sys.stdin.buffer / sys.stdout.buffer polled with select.poll. On the
# ESP32 MicroPython's console is UART0 behind the USB bridge (native USB CDC on the S3),
# and sys.stdin/stdout are that console on both chips, so the app reads the same
# stream the REPL would without re-initialising UART0 (machine.UART(0) would fight the
# REPL driver, and is not the console at all on an S3). In production mode boot.py has
# disabled Ctrl-C (micropython.kbd_intr(-1)) and main.py never returns, so no REPL is
# ever reachable; the app owns the stream. In dev mode Ctrl-C is disabled too while the
# app runs (frames may contain 0x03) and the app itself watches for mpremote's
# interrupt, "\r\x03" at the start of a chunk (after a 0x00 frame delimiter, or after
# the line was idle IDLE_MS), which no frame can start with (SPEC_WIRE: a chunk starting
# 0x0D would be a 12-byte run beginning with type 0x03 = PING, which is 5 bytes).
#
# Time: mono_ms accumulates time.ticks_diff(ticks_ms()) (ticks_ms wraps after ~12.4
# days; the loop reads it every few ms). rtc_s is time.time() in UTC seconds since 1970
# (the epoch of the port is detected with gmtime(0)); SET_RTC writes machine.RTC().

import sys

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_TICK_MS = const(1000)          # Device.tick at least this often
HEALTH_MS = const(5000)        # every task must have completed a pass this recently
_SERIAL_MS = const(10)          # serial poll period
_DRIVERS_MS = const(20)         # driver poll period (each driver has its own rate, board.py)
_WDT_FEED_MS = const(1000)      # watchdog task period
_READ_MAX = const(256)          # bytes taken from the console per serial pass
_EPOCH_2000 = const(946684800)  # 2000-01-01 in Unix seconds (MicroPython's embedded epoch)
_TRIM_GAP = const(100)         # steps (~1-2 s) between trims of rare modules (App.trim)


class Clock:
    """Monotonic ms since start (never wraps) and the RTC in UTC seconds."""

    def __init__(self, time_mod, rtc=None):
        self.t = time_mod
        self.rtc_dev = rtc
        self.last = time_mod.ticks_ms()
        self.ms = 0
        gm = getattr(time_mod, "gmtime", None)
        self.epoch = _EPOCH_2000 if gm is not None and gm(0)[0] == 2000 else 0

    def mono(self):
        now = self.t.ticks_ms()
        d = self.t.ticks_diff(now, self.last)
        if d > 0:
            self.ms += d
            self.last = now
        return self.ms

    def rtc(self):
        return int(self.t.time()) + self.epoch

    def set_rtc(self, utc_s):
        """SET_RTC: write the board RTC (machine.RTC().datetime)."""
        if self.rtc_dev is None:
            return
        tm = self.t.gmtime(utc_s - self.epoch)
        self.rtc_dev.datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))


class UsbSerial:
    """The console stream (sys.stdin.buffer / sys.stdout.buffer) with a poll.

    read() stops right after a 0x03 byte: if that was mpremote's interrupt, what follows
    it ("\r\x01", enter the raw REPL) stays in the console's input buffer for the REPL
    that takes over when the app stops. (0x03 inside a frame just splits one read.)"""

    def __init__(self, inp=None, out=None, poller=None):
        if inp is None:
            import select
            import sys
            inp, out = sys.stdin.buffer, sys.stdout.buffer
            poller = select.poll()
            poller.register(sys.stdin, select.POLLIN)
        self.inp = inp
        self.write = out.write       # write(bytes): the stream's own
        self.poller = poller

    def read(self):
        buf = bytearray()
        while len(buf) < _READ_MAX and self.poller.poll(0):
            b = self.inp.read(1)
            if not b:
                break
            buf += b
            if b[0] == 0x03:
                break
        return bytes(buf)


class App:
    """One run of the device loop. io: read() -> bytes, write(bytes); wdt: has feed()."""

    def __init__(self, device, hw, io, clock, mode, wdt=None, ble=None, reset=None):
        self.device = device
        self.hw = hw
        self.io = io
        self.clock = clock
        self.mode = mode
        self.wdt = wdt
        self.ble = ble
        self.reset = reset
        self.escape = None
        if mode == "dev":             # (production builds never load the escape's code)
            from firmware.ports.esp32.repl import ReplEscape
            self.escape = ReplEscape()
        self.seen = {}
        self.failed = None          # (task name, exception) of the first task that died
        self.feeds = 0
        self.last_tick = 0
        self.cause = ""             # reset cause name of this boot
        self.modules = len(sys.modules)  # loaded modules after boot (see trim)
        self.steps = 0                   # serial and driver steps; the one of the last
        self.trimmed = -_TRIM_GAP        # trim and the modules it dropped
        self.dropped = []

    # -- output ---------------------------------------------------------------------------
    def broadcast(self, out):
        """EVENT frames (ticks, drivers): to the console and to a BLE central."""
        self.reply(-1, out)

    def reply(self, link, out):
        """What Device.feed answered on `link` (0 console, 1 BLE; -1: both) goes back
        there; then the reset a REBOOT asked for."""
        if out:
            if link != 1:
                self.io.write(out)
            if link != 0 and self.ble is not None:
                self.ble.send(out)
        if getattr(self.device, "reboot_requested", False) and self.reset is not None:
            self.reset()

    # -- one pass of each task ------------------------------------------------------------
    def serial_step(self):
        if self.ble is not None:
            got = self.ble.take()
            if got:
                self.reply(1, self.device.feed(got, self.clock.mono(), self.clock.rtc(), 1))
                self.trim()
            elif self.ble.tx:
                self.ble.flush()
        data = self.io.read()
        if not data:
            return
        now = self.clock.mono()
        if self.escape is not None and self.escape.scan(data, now):
            raise KeyboardInterrupt("REPL requested on the console")
        self.reply(0, self.device.feed(data, now, self.clock.rtc(), 0))
        self.trim()

    def trim(self):
        """After a step that imported modules (a command, a card read): free the rare and
        transient ones again (firmware/ports/esp32/trim.py; it does nothing on CPython).
        If a module the last trim dropped is back within _TRIM_GAP steps, this growth is
        kept until a later one: something imports it on a hot path, and dropping it at
        once would mean an import every few steps."""
        self.steps += 1
        if len(sys.modules) <= self.modules:
            return
        back = self.steps - self.trimmed < _TRIM_GAP and [
            n for n in self.dropped if n in sys.modules]
        if not back:
            from firmware.ports.esp32 import trim
            self.dropped = [n for n in trim.after_step() if n != "firmware.ports.esp32.trim"]
            self.trimmed = self.steps
        self.modules = len(sys.modules)

    def drivers_step(self):
        for ev in self.hw.poll(self.clock.mono()):
            self.broadcast(self.device.local_event(ev, self.clock.mono(), self.clock.rtc()))
        self.trim()

    def ticker_step(self):
        now = self.clock.mono()
        wake = getattr(self.device, "wake_at", None)
        if (wake is not None and now >= wake) or now - self.last_tick >= _TICK_MS:
            self.last_tick = now
            self.broadcast(self.device.tick(now, self.clock.rtc()))

    def watchdog_step(self):
        """Feed the watchdog if every task completed a pass within HEALTH_MS and none
        has died."""
        if self.wdt is None or self.failed is not None:
            return
        now = self.clock.mono()
        for name in ("serial", "drivers", "ticker"):
            t = self.seen.get(name)
            if t is None or now - t > HEALTH_MS:
                return
        self.wdt.feed()
        self.feeds += 1

    def ran(self, name):
        self.seen[name] = self.clock.mono()

    # -- the loop -----------------------------------------------------------------------
    def _task(self, name, step):
        """One pass of a task that may die: False once it raised (recorded, so no more
        watchdog feeds; the serial task then raises it)."""
        try:
            step()
        except Exception as exc:  # a dead task: recorded, so no more watchdog feeds
            if self.failed is None:
                self.failed = (name, exc)
            return False
        self.ran(name)
        return True

    def run(self, sleep_ms=None):
        """Run every task in one loop, each when it is due (serial every _SERIAL_MS,
        drivers every _DRIVERS_MS, ticker at WAKE or every 100 ms, watchdog every
        _WDT_FEED_MS), sleeping until the next; returns never, raises KeyboardInterrupt
        (dev REPL escape) or the exception of a task that died. sleep_ms: the port's
        time.sleep_ms (default: the clock's time module's)."""
        sleep = sleep_ms if sleep_ms is not None else self.clock.t.sleep_ms
        mono = self.clock.mono
        due = [0, 0, 0, 0]          # serial, drivers, ticker, watchdog; -1: dead
        while True:
            now = mono()
            if now >= due[0]:
                self.serial_step()
                self.ran("serial")
                if self.failed is not None:
                    raise self.failed[1]
                due[0] = mono() + _SERIAL_MS
            if 0 <= due[1] <= now:
                due[1] = mono() + _DRIVERS_MS if self._task("drivers", self.drivers_step) else -1
            if 0 <= due[2] <= now:     # the ticker, then a sleep until WAKE, at most 100 ms
                if self._task("ticker", self.ticker_step):
                    wake = getattr(self.device, "wake_at", None)
                    t = mono()
                    due[2] = t + (100 if wake is None else max(0, min(100, wake - t)))
                else:
                    due[2] = -1
            if now >= due[3]:
                self.watchdog_step()
                due[3] = mono() + _WDT_FEED_MS
            wait = min([d for d in due if d >= 0]) - mono()
            if wait > 0:
                sleep(wait)


def start(build, machine, time_mod, esp32=None, io=None, cfg=None, store_root="/data",
          device_cls=None, store_cls=None, ble=True, aes=None):
    """Set everything up and boot the Device (firmware/ports/esp32/startup.py); returns
    the App (not yet running). Then the boot-only modules and the rare ones the boot
    used (restoring the state, checking the stored permit) are freed (trim.py)."""
    from firmware.ports.esp32 import startup, trim
    app = startup.start((App, Clock, UsbSerial), build, machine, time_mod, esp32, io, cfg,
                        store_root, device_cls, store_cls, ble, aes)
    startup = None
    trim.drop(trim.BOOT)
    trim.after_step()                # the rare modules (strictly) and trim itself
    app.modules = len(sys.modules)
    return app


def main(**over):
    """Entry point from main.py on the board. Tests pass stand-ins in `over` (machine,
    micropython, time, esp32, build, io, cfg, store_root)."""
    build = over.pop("build", None)
    if build is None:
        try:
            import armlock_build as build  # pyright: ignore[reportMissingImports]
        except ImportError:  # flashed by hand, without `armlock build`: strict defaults
            from firmware.ports.esp32.startup import Unbuilt as build
    machine = over.pop("machine", None)
    if machine is None:
        import machine
    micropython = over.pop("micropython", None)
    if micropython is None:
        import micropython
    time = over.pop("time", None)
    if time is None:
        import time
    if "esp32" in over:
        esp32 = over.pop("esp32")
    else:
        try:
            import esp32
        except ImportError:
            esp32 = None
    micropython.kbd_intr(-1)  # the app owns the console; dev mode: see repl.py
    app = None
    try:
        app = start(build, machine, time, esp32, **over)
        app.run(time.sleep_ms)
    finally:
        if app is not None:
            app.hw.lock(True)
        if build.MODE == "dev":
            micropython.kbd_intr(3)
