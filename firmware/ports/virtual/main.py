# The armlock app of the virtual board (MicroPython WASM and CPython), sans-IO.
#
# The board host (hardware/node/board.mjs, or its CPython twin in hardware/virtual_board.py)
# drives three calls and does all I/O:
#     start(board, now_ms, rtc_s) -> bytes     once per boot
#     step(data, now_ms, rtc_s) -> bytes       UART bytes in (maybe b""), UART bytes out
#     wake_ms() -> int or None                 call step() again no later than this
# `board` offers: mode ("dev" | "production"), runtime, storage (dir path), reset_cause,
# set_rtc(utc_s), sync(), log(text), reset() (optional: REBOOT).
#
# Bytes are wire frames (protocols/frame.py, messages.py, SPEC_WIRE.md). Each command is
# decoded, checked (mode, seal, counter) and turned into core events; the core's actions
# become hardware changes (hal.py), storage writes and EVENT frames. Every rule of the lock
# stays in firmware/core: this file only translates.

import json

from firmware.core import events as E
from firmware.core.controller import LockController
from firmware.ports.virtual import hal
from protocols import audit as _audit
from protocols import crypto
from protocols import frame as F
from protocols import messages as M

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    from time import perf_counter_ns as _ns

    def ticks_us():
        return _ns() // 1000

    def ticks_diff(a, b):
        return a - b

FW_VERSION = "0.1.0"
# Identity of a board nobody provisioned (dev use only; say so in INFO via device_id).
DEV_DEVICE_ID = "AL-VIRT-0001"
DEV_MASTER = bytes(range(32))
WIRE_MODE = {"dev": "dev", "production": "field", "rig": "rig"}
TICK_EVERY_MS = 1000
STATE = "state.bin"
COUNTER = "counter.bin"
IDENTITY = "identity.json"


def _seq_of(rec):
    return _audit.decode(rec)[0]


def load_identity(store):
    """(device_id, device_key) from storage identity.json, else the dev identity."""
    raw = store.read(IDENTITY)
    if raw is None:
        return DEV_DEVICE_ID, crypto.device_key(DEV_MASTER, DEV_DEVICE_ID)
    d = json.loads(raw)
    key = bytes.fromhex(d["key"])
    if len(key) != 32:
        raise ValueError("identity.json: key must be 32 bytes of hex")
    return d["device_id"], key


class App:
    """One boot of the board: the lock controller plus the wire protocol around it."""

    def __init__(self, board, now_ms, rtc_s):
        self.board = board
        self.us = getattr(board, "ticks_us", None) or ticks_us  # finer than the VM's own
        self.mode = WIRE_MODE.get(board.mode, "field")
        self.runtime = "%s-virtual" % board.runtime
        self.store = hal.Storage(board.storage)
        self.hw = hal.Peripherals()
        self.audit = hal.AuditLog(self.store, _seq_of)
        self.device_id, self.key = load_identity(self.store)
        self.ctl = LockController(self.device_id, self.key)
        self.dec = F.Decoder()
        self.out = bytearray()
        self.ev_seq = 0
        self.wake = None
        self.answers = []          # (at_ms, ok) credential answers not yet signalled
        self.results = []          # RESULT actions of the command being handled
        self.last_tick = now_ms
        c = self.store.read(COUNTER)
        self.counter = int.from_bytes(c, "big") if c and len(c) == 4 else 0
        self.event("boot", {"reset_cause": board.reset_cause, "device_ms": now_ms})
        tail = None
        if self.audit.last is not None:
            rec = _audit.decode(self.audit.last)
            tail = (rec[0], rec[4])
        blob = self.store.read(STATE)
        self.run((E.BOOT, blob, board.reset_cause, tail), now_ms, rtc_s)
        self.counter = max(self.counter, getattr(self.ctl.st, "cmd_floor", 0))

    # -- output ---------------------------------------------------------------------
    def send(self, typ, seq, fields):
        self.out += M.encode_msg(typ, seq, fields)

    def event(self, kind, fields):
        fields["kind"] = kind
        self.send(M.EVENT, self.ev_seq, fields)
        self.ev_seq = (self.ev_seq + 1) & 0xFFFF

    def take(self):
        out = bytes(self.out)
        self.out = bytearray()
        return out

    # -- the core -------------------------------------------------------------------
    def run(self, ev, now_ms, rtc_s):
        t0 = self.us()
        for a in self.ctl.handle(ev, now_ms, rtc_s):
            self.act(a, now_ms, t0)

    def act(self, a, now_ms, t0):
        k = a[0]
        if k == E.ACTUATE:
            self.hw.actuator.drive(a[1])
            lat = ticks_diff(self.us(), t0)
            self.event("actuate", {"locked": a[1], "reason": self.why(a[1]),
                                   "device_ms": now_ms, "latency_us": max(0, lat)})
        elif k == E.PERSIST:
            self.store.write(STATE, a[1])
        elif k == E.AUDIT:
            self.audit.append(a[1])
            self.event("audit", {"seq": _seq_of(a[1])})
        elif k == E.WAKE:
            self.wake = a[1]
        elif k == E.ANSWER:
            self.answers.append((a[1], a[2]))
        elif k == E.INDICATE:
            self.event("indicate", {"what": a[1], "device_ms": now_ms})
        elif k == E.SET_RTC:
            self.board.set_rtc(a[1])
        elif k == getattr(E, "RESULT", "result"):
            self.results.append((a[1], a[2]))

    def why(self, locked):
        if not locked:
            return "authorised"
        try:
            r = self.ctl.reasons()
        except Exception:  # a reason string must never break actuation
            r = []
        return ",".join(r) if r else "relock"

    # -- time -------------------------------------------------------------------------
    def tick(self, now_ms, rtc_s):
        due = self.wake is not None and now_ms >= self.wake
        if due or now_ms - self.last_tick >= TICK_EVERY_MS:
            self.wake = None
            self.last_tick = now_ms
            self.run((E.TICK,), now_ms, rtc_s)
        if self.answers:
            keep = []
            for at, ok in self.answers:
                if now_ms >= at:
                    self.event("answer", {"ok": ok, "device_ms": now_ms})
                else:
                    keep.append((at, ok))
            self.answers = keep

    def wake_ms(self):
        w = self.wake
        for at, _ok in self.answers:
            if w is None or at < w:
                w = at
        return w

    # -- bytes in ---------------------------------------------------------------------
    def step(self, data, now_ms, rtc_s):
        if data:
            for fr in self.dec.feed(data):
                if type(fr) is tuple:
                    self.command(fr, now_ms, rtc_s)
                else:
                    self.send(M.ERROR, 0, M.error_fields(fr))
        self.tick(now_ms, rtc_s)
        return self.take()

    def command(self, fr, now_ms, rtc_s):
        typ, seq = fr[0], fr[1]
        try:
            if typ == M.STIMULUS and self.mode not in ("rig", "dev"):
                raise M.MessageError("STIMULUS is refused in %s mode" % self.mode, M.E_MODE)
            if typ == M.REBOOT and self.mode != "dev":
                raise M.MessageError("REBOOT is refused in %s mode" % self.mode, M.E_MODE)
            typ, seq, f = M.decode_msg(fr, self.key, self.counter, True)
            if "counter" in f:  # persisted before acting (SPEC_WIRE section 5)
                self.counter = f["counter"]
                self.store.write(COUNTER, self.counter.to_bytes(4, "big"))
            self.results = []
            self.handle(typ, seq, f, now_ms, rtc_s)
        except Exception as exc:  # every failure is an ERROR reply
            self.send(M.ERROR, seq, M.error_fields(exc))

    def handle(self, typ, seq, f, now_ms, rtc_s):
        if typ == M.INFO:
            self.send(M.INFO_REPLY, seq, {
                "device_id": self.device_id, "fw_version": FW_VERSION, "mode": self.mode,
                "runtime": self.runtime, "proto": M.PROTO_VERSION})
        elif typ == M.STATUS:
            self.send(M.STATUS_REPLY, seq, self.status(now_ms, rtc_s))
        elif typ == M.PING:
            self.send(M.OK, seq, {})
        elif typ in (M.LOAD_PERMIT, M.RECALL, M.TAMPER_RESET):
            self.run((E.PERMIT, f["token"]), now_ms, rtc_s)
            self.reply_result(seq)
        elif typ == M.AUDIT_READ:
            recs = self.audit.read(f["from_seq"], f["count"])
            first = _seq_of(recs[0]) if recs else f["from_seq"]
            sent = recs[:M.records_that_fit(first, recs)]
            last = self.audit.index[-1][0] if self.audit.index else 0
            more = bool(sent) and _seq_of(sent[-1]) < last
            self.send(M.AUDIT_RECORDS, seq, {"first_seq": first, "records": sent,
                                             "more": more})
        elif typ == M.AUDIT_ACK:
            self.run((E.AUDIT_ACK, f["upto_seq"]), now_ms, rtc_s)
            self.reply_result(seq)
        elif typ == M.STIMULUS:
            self.stimulus(seq, f, now_ms, rtc_s)
        elif typ == M.REBOOT:
            self.send(M.OK, seq, {})
            reset = getattr(self.board, "reset", None)
            if reset is None:
                raise M.MessageError("REBOOT: this board cannot reset", M.E_INTERNAL)
            reset()

    def reply_result(self, seq):
        for ok, msg in self.results:
            if not ok:
                self.send(M.ERROR, seq, {"code": M.E_REFUSED, "message": msg})
                return
        self.send(M.OK, seq, {})

    def stimulus(self, seq, f, now_ms, rtc_s):
        if f["kind"] == "time":
            self.board.set_rtc(f["utc_s"])
            self.send(M.OK, seq, {})
            return
        for ev in self.hw.apply(f, M.stimulus_event(f), now_ms):
            self.run(ev, now_ms, rtc_s)
        self.reply_result(seq)

    def status(self, now_ms, rtc_s):
        s = self.ctl.status()
        p = self.ctl.permit
        permit = None
        if p is not None:
            permit = {"serial": p.serial, "not_before": p.not_before, "not_after": p.not_after,
                      "holders": [str(h[0]) for h in p.holders],
                      "zones": [_zone_name(i, z) for i, z in enumerate(p.zones)],
                      "fail_profile": "fail-enabled" if p.fail_enabled else "fail-secure"}
        lo = s.get("lockout") or {}
        fix = self.hw.last_fix
        mv = s.get("battery_mv")
        return {
            "locked": bool(s["locked"]),
            "reasons": list(s["reasons"]),
            "permit": permit,
            "lockout": {"failures": lo.get("failures", 0), "until": lo.get("until", 0)},
            "tamper": {"latched": bool(s.get("tamper")), "source": s.get("tamper") or None},
            "battery_mv": self.hw.battery_mv if mv is None else mv,
            "last_fix": None if fix is None else {
                "lat_e7": fix[0], "lon_e7": fix[1], "hacc_m": fix[2], "utc_s": fix[3]},
            "last_counter": self.counter,
        }


def _zone_name(i, z):
    # permit zones are (forbidden, rings); the wire summary names them by index and kind
    return "%d:%s" % (i, "forbidden" if z[0] else "allowed")


_app = None


def start(board, now_ms, rtc_s):
    """Boot the app; returns the bytes to send (the boot EVENT and the core's first actions)."""
    global _app
    _app = App(board, now_ms, rtc_s)
    return _app.take()


def step(data, now_ms, rtc_s):
    """Feed UART bytes (or b"" on a tick); returns the bytes to send."""
    return _app.step(data, now_ms, rtc_s)


def wake_ms():
    """Monotonic ms by which step() must be called again, or None."""
    return _app.wake_ms()
