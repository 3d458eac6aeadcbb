# The device application (MicroPython and CPython), shared by every port: it carries
# bytes between the wire protocol (protocols/SPEC.md) and the lock core
# (firmware/core), carries out every core action, and keeps storage (firmware/app/store.py).
# Sans-IO: the port passes in bytes and clock readings and sends what comes back.
#
#     dev = Device(device_id, key, mode, store, ticks_us=time.ticks_us)
#                                  # key None: unprovisioned (firmware/app/identity.py)
#     out = dev.boot(mono_ms, rtc_s, cause)          # once per power-up, before anything
#     out = dev.feed(data, mono_ms, rtc_s[, link])   # bytes from a host link
#     out = dev.tick(mono_ms, rtc_s)                 # periodically and at dev.wake_at
#     out = dev.local_event(ev, mono_ms, rtc_s)      # core events from real drivers
#
# Handling order of one frame (protocols/SPEC.md, wire sections 1, 4, 5):
#   1. a chunk that is not a frame (FrameError) gets ERROR bad_frame with seq 0 (at most one
#      per chunk read, so line noise cannot flood the link); `frame_errors` counts it;
#   2. a type that is not a host->device command -> ERROR unknown_type;
#   3. STIMULUS outside rig/dev, REBOOT outside dev -> ERROR not_allowed_in_mode (no HMAC,
#      no counter used);
#   4. sealed types: tag (auth_failed), then counter (replayed), then fields (bad_message);
#      other types: fields (bad_message);
#   5. sealed: the new counter floor is persisted (state record field cmd_floor) BEFORE
#      acting; a failed write -> ERROR internal and no action;
#   6. act; the reply has the request's seq. A core RESULT(False) -> ERROR refused.
# Nothing else changes on an error; the lock is never driven open by this file, only by a
# core ACTUATE.
#
# This file is a Host (firmware/core/host.py): it carries the core's actions and never
# reads or writes the core's state. The sealed-command counter is the core's too
# (LockController.accept_counter: PERSIST before acting, or a refusal while the state
# record is damaged and must be kept for the authority reset). At boot the core gets the
# stored record, the audit log's tail and a reader of the log, and reconciles them itself
# (firmware/core/recovery.py).
#
# Hooks the port may set (all optional): actuator_hook(locked) drives the lock (called
# before anything else at boot); rtc_hook(utc_s) sets the board RTC (for the core's
# SET_RTC and STIMULUS time; without it the correction is kept in `rtc_offset` and added
# to every rtc_s passed in, until the next boot); indicate_hook(what) for the core's
# INDICATE; answer_hook(ok) when a credential answer falls due. REBOOT sets
# `reboot_requested`: the port replies, then resets. STATUS_REPLY.battery_mv is 0 until a
# battery reading arrived.

import struct

from firmware.app import identity
from firmware.core import events as E
from firmware.core.controller import LockController
from firmware.core.host import Host
from protocols import frame as F
from protocols import messages as M

WIRE_MODE = {"production": "field", "field": "field", "rig": "rig", "dev": "dev"}
TICK_MS = 1000            # tick() runs the core at least this often (and at WAKE deadlines)
TICKS_MASK = 0x3FFFFFFF   # ticks_us period of MicroPython ports (2**30 us)
MAX_TEXT = 160            # longest ERROR message / log text sent (they may quote input)
MAX_READ = 24             # audit records read per AUDIT_READ (more never fit 1019 bytes)


class Device(Host):
    """One lock application: wire protocol in and out, the core, storage."""

    def __init__(self, device_id, key, mode, store, ticks_us=None, fw_version="0.1.0",
                 runtime="?", config=None, authority=(), verify=None):
        if mode not in WIRE_MODE:
            raise ValueError("mode must be production, rig or dev, got %r" % (mode,))
        self.device_id = device_id
        self.key = key
        self.mode = WIRE_MODE[mode]
        self.store = store
        self.ticks_us = ticks_us
        self.fw_version = fw_version
        self.runtime = runtime
        Host.__init__(self, LockController(device_id, key, config, authority, verify))
        self._wrap = None if key is None else identity.wrap_key(key, device_id)
        self.reboot_requested = False
        self.actuator_hook = None
        self.rtc_hook = None
        self.indicate_hook = None
        self.answer_hook = None
        self.audit_events = True
        self.frame_errors = 0
        self.faults = 0
        self._decoders = {}
        self._core_wake = None
        self._answers = []        # (at_ms, ok) not yet signalled
        self._results = []
        self._out = bytearray()
        self._ev_seq = 0
        self._t0 = 0
        self._last_tick = 0
        self._lost_seen = 0
        self._nmea = None
        self._mono = 0            # mono_ms of the event being carried
        self._fix_utc = None      # (lat, lon, utc_s) of the last fix event

    # -- helpers -------------------------------------------------------------------------
    def _now_us(self):
        return self.ticks_us() if self.ticks_us is not None else 0

    def _send(self, typ, seq, fields):
        self._out += M.encode_msg(typ, seq, fields)

    def _event(self, fields):
        self._out += M.encode_msg(M.EVENT, self._ev_seq, fields)
        self._ev_seq = (self._ev_seq + 1) & 0xFFFF

    def _take(self):
        out = bytes(self._out)
        self._out = bytearray()
        return out

    @property
    def counter(self):
        """The last accepted sealed-command counter (persisted as cmd_floor)."""
        return self.ctl.counter

    # -- boot ------------------------------------------------------------------------------
    def boot(self, mono_ms, rtc_s, cause):
        """Lock, restore the stored state, run the core's boot; returns the bytes to send."""
        self._t0 = self._now_us()
        self._drive(True)
        self._last_tick = mono_ms
        self._event({"kind": "boot", "reset_cause": cause, "device_ms": mono_ms})
        tail = self.store.audit_tail()
        blob = self.store.load_state()
        # the core reconciles the record with the stored audit log (firmware/core/recovery.py)
        ev = (E.BOOT, blob, cause) if tail is None else \
            (E.BOOT, blob, cause, tail, self.store.read_audit)
        self._guarded(ev, mono_ms, rtc_s)  # a storage fault is reported; the lock stays locked
        return self._take()

    # -- inputs ------------------------------------------------------------------------------
    def feed(self, data, mono_ms, rtc_s, link=0):
        """Bytes from host link `link` (each link has its own frame decoder); returns the
        reply bytes (replies, then any EVENT frames the commands caused)."""
        self._t0 = self._now_us()
        dec = self._decoders.get(link)
        if dec is None:
            dec = self._decoders[link] = F.Decoder()
        told = False
        for fr in dec.feed(data):
            if type(fr) is tuple:
                self._command(fr, mono_ms, rtc_s)
                self._t0 = self._now_us()
            else:
                self.frame_errors += 1
                if not told:  # one ERROR (seq 0: its seq cannot be trusted) per chunk read
                    told = True
                    self._send(M.ERROR, 0, M.error_fields(fr))
        return self._take()

    def tick(self, mono_ms, rtc_s):
        """Run the core's TICK when due (WAKE deadline, or TICK_MS since the last one) and
        signal credential answers that are due; returns the bytes to send."""
        self._t0 = self._now_us()
        due = self._core_wake is not None and mono_ms >= self._core_wake
        if due or mono_ms - self._last_tick >= TICK_MS:
            self._last_tick = mono_ms
            if due:
                self._core_wake = None
            self._guarded((E.TICK,), mono_ms, rtc_s)
        if self._answers:
            keep = []
            for a in self._answers:
                if mono_ms >= a[0]:
                    if self.answer_hook is not None:
                        self.answer_hook(a[1])
                    self._event({"kind": "answer", "ok": a[1], "device_ms": mono_ms})
                else:
                    keep.append(a)
            self._answers = keep
        self._set_wake()
        return self._take()

    def local_event(self, ev, mono_ms, rtc_s):
        """A core event from a real peripheral driver; returns the bytes to send."""
        self._t0 = self._now_us()
        self._guarded(ev, mono_ms, rtc_s)
        return self._take()

    def _guarded(self, ev, mono_ms, rtc_s):
        try:
            self._run(ev, mono_ms, rtc_s)
        except Exception as exc:  # storage failure: report, stay in the loop
            self.faults += 1
            self._event({"kind": "log", "text": ("fault: %s" % exc)[:MAX_TEXT]})

    # -- the core and its actions ----------------------------------------------------------
    def _run(self, ev, mono_ms, rtc_s):
        if type(ev) is tuple and len(ev) > 4 and ev[0] == E.FIX:
            self._fix_utc = (ev[1], ev[2], ev[4])
        self._mono = mono_ms
        self.handle(ev, mono_ms, rtc_s)
        self._set_wake()
        self._note_lost()

    # -- Host: what this device does with each core action ---------------------------------
    def actuate(self, locked, reason, mono_ms):
        self._drive(locked)
        lat = (self._now_us() - self._t0) & TICKS_MASK
        self._event({"kind": "actuate", "locked": locked, "device_ms": mono_ms,
                     "latency_us": lat, "reason": reason})

    def audit(self, record):
        self.store.append_audit(record)
        if self.audit_events:
            self._event({"kind": "audit", "seq": struct.unpack_from(">I", record, 0)[0]})

    def persist(self, blob):
        self.store.save_state(blob)

    def wake(self, at_ms):
        self._core_wake = at_ms
        self._set_wake()

    def answer(self, at_ms, ok):
        self._answers.append((at_ms, ok))

    def indicate(self, what):
        if self.indicate_hook is not None:
            self.indicate_hook(what)
        self._event({"kind": "indicate", "what": what, "device_ms": self._mono})

    def set_rtc(self, utc_s, rtc_s):
        # With an rtc_hook the port owns the RTC (its next rtc_s readings include the
        # change); without one, the correction is kept here as an offset.
        if self.rtc_hook is not None:
            self.rtc_hook(utc_s)
        else:
            Host.set_rtc(self, utc_s, rtc_s)

    def result(self, ok, message):
        self._results.append((ok, message))

    def _drive(self, locked):
        self.locked = locked
        if self.actuator_hook is not None:
            self.actuator_hook(locked)

    def _set_wake(self):
        w = self._core_wake
        for a in self._answers:
            if w is None or a[0] < w:
                w = a[0]
        self.wake_at = w

    def _note_lost(self):
        lost = getattr(self.store, "lost", 0)
        if lost != self._lost_seen:
            self._lost_seen = lost
            if lost:
                self._event({"kind": "log", "text": "audit ring overwrote %d records the "
                             "host never acknowledged" % lost})

    # -- commands ------------------------------------------------------------------------------
    def _command(self, fr, mono_ms, rtc_s):
        typ, seq = fr[0], fr[1]
        try:
            if typ == M.STIMULUS and self.mode == "field":
                raise M.MessageError("STIMULUS is refused in field mode", M.E_MODE)
            if typ == M.REBOOT and self.mode != "dev":
                raise M.MessageError("REBOOT is refused in %s mode" % self.mode, M.E_MODE)
            typ, seq, f = M.decode_msg(fr, self.key, self.ctl.counter, True)
            c = f.get("counter")  # type: ignore  # (a checked map: dict)
            self._results = []
            # the core's new floor is persisted before acting (a failed write raises)
            if c is not None and not self.accept_counter(c, mono_ms, rtc_s):
                raise M.MessageError(self._results[-1][1], M.E_REFUSED)
            self._results = []
            self._dispatch(typ, seq, f, mono_ms, rtc_s)
        except Exception as exc:  # every failure is one ERROR reply naming it
            if isinstance(exc, M.MessageError):
                # nobody authenticated it: audited, aggregated (firmware/core/refusals.py)
                self.carry(self.ctl.refused("command", "%s: %s" % (
                    M.type_name(typ), exc), mono_ms, rtc_s + self.rtc_offset), mono_ms, rtc_s)
            self._error(seq, exc)
        self._results = []

    def card_key(self, uid_hex, aes):
        """The AES key of this card from the loaded permit (unwrapped with this board's
        wrapping key; aes: a cryptolib.aes-like factory), or None."""
        wrapped = self.ctl.card_key(uid_hex)
        if wrapped is None or self._wrap is None:
            return None
        return aes(self._wrap, 1).decrypt(wrapped)

    def _error(self, seq, exc):
        f = M.error_fields(exc)
        if len(f["message"]) > MAX_TEXT:  # it may quote the offending input
            f["message"] = f["message"][:MAX_TEXT] + "..."
        try:
            self._send(M.ERROR, seq, f)
        except Exception:
            self._send(M.ERROR, seq, {"code": M.E_INTERNAL, "message": "unreportable error"})

    def _dispatch(self, typ, seq, f, mono_ms, rtc_s):
        if typ == M.INFO:
            self._send(M.INFO_REPLY, seq, {
                "device_id": self.device_id, "fw_version": self.fw_version,
                "mode": self.mode, "runtime": self.runtime, "proto": M.PROTO_VERSION})
        elif typ == M.STATUS:
            self._send(M.STATUS_REPLY, seq, self.status(mono_ms, rtc_s))
        elif typ == M.PING:
            self._send(M.OK, seq, {})
        elif typ == M.LOAD_PERMIT or typ == M.RECALL or typ == M.TAMPER_RESET:
            self._run((E.PERMIT, f["token"]), mono_ms, rtc_s)
            self._reply_result(seq)
        elif typ == M.AUDIT_READ:
            self._audit_read(seq, f["from_seq"], f["count"])
        elif typ == M.AUDIT_ACK:
            self.store.ack_audit(f["upto_seq"])
            self._send(M.OK, seq, {})
        elif typ == M.STIMULUS:
            self._stimulus(seq, f, mono_ms, rtc_s)
        elif typ == M.REBOOT:
            self.reboot_requested = True
            self._send(M.OK, seq, {})
        else:
            raise M.MessageError("%s: not handled by this device" % M.type_name(typ),
                                 M.E_UNKNOWN_TYPE)

    def _reply_result(self, seq):
        for r in self._results:
            if not r[0]:
                self._send(M.ERROR, seq, {"code": M.E_REFUSED, "message": r[1]})
                return
        self._send(M.OK, seq, {})

    def _audit_read(self, seq, from_seq, count):
        st = self.store
        recs = st.read_audit(from_seq, count if count < MAX_READ else MAX_READ)
        first = struct.unpack_from(">I", recs[0], 0)[0] if recs else from_seq
        n = M.records_that_fit(first, recs)
        if n < len(recs):
            recs = recs[:n]
        more = bool(recs) and first + len(recs) - 1 < st.last_seq()
        self._send(M.AUDIT_RECORDS, seq, {"first_seq": first, "records": recs, "more": more})

    def _stimulus(self, seq, f, mono_ms, rtc_s):
        kind = f["kind"]
        if kind == "time":
            self.set_rtc(f["utc_s"], rtc_s)
            # the core sees the new time at once (a rollback relocks now, not at a tick)
            self._run((E.TICK,), mono_ms, f["utc_s"] - self.rtc_offset)
            self._send(M.OK, seq, {})
            return
        if kind == "nmea":
            if self._nmea is None:
                from firmware.drivers.nmea import NMEA
                self._nmea = NMEA()
            evs = self._nmea.feed((f["sentence"].strip() + "\r\n").encode(), mono_ms)
            evs.append(self._nmea.observe(mono_ms))  # what the receiver shows now
        else:
            evs = (M.stimulus_event(f),)
        for ev in evs:
            self._run(ev, mono_ms, rtc_s)
        self._reply_result(seq)

    # -- status ------------------------------------------------------------------------------
    def status(self, mono_ms, rtc_s):
        """STATUS_REPLY fields, from the core's status()."""
        s = self.ctl.status()
        p = s["permit"]
        permit = None
        if p is not None:
            zones = []
            for i in range(len(p["zone_list"])):
                z = p["zone_list"][i]
                zones.append("%s#%d:%dv" % ("forbid" if z[0] else "allow", i, z[1]))
            permit = {"serial": p["serial"], "not_before": p["not_before"],
                      "not_after": p["not_after"],
                      "holders": [str(h) for h in p["holder_ids"]], "zones": zones,
                      "fail_profile": p["fail_profile"]}
        lo = s["lockout"]
        until = 0
        wall = s["time"]
        if lo["until"] > wall:
            until = mono_ms + (lo["until"] - wall) * 1000
        fix = s["fix"]
        fu = self._fix_utc
        utc = fu[2] if fix is not None and fu is not None and fu[0] == fix[0] \
            and fu[1] == fix[1] else None
        mv = s["battery_mv"]
        return {
            "locked": self.locked,
            "reasons": s["reasons"],
            "permit": permit,
            "lockout": {"failures": lo["failures"], "until": until},
            "tamper": {"latched": bool(s["tamper"]), "source": s["tamper"] or None},
            "battery_mv": mv if mv is not None and 0 <= mv <= 0xFFFF else 0,
            "last_fix": None if fix is None else {
                "lat_e7": fix[0], "lon_e7": fix[1], "hacc_m": fix[2], "utc_s": utc},
            "last_counter": s["counter"],
        }

    def counters(self):
        """Device-side counters (not in STATUS_REPLY v1): bad chunks, faults, lost audit."""
        return {"frame_errors": self.frame_errors, "faults": self.faults,
                "audit_lost": getattr(self.store, "lost", 0)}
