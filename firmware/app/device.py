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
# Handling order of one frame (protocols/SPEC.md, wire sections 1, 4, 5; the code is in
# firmware/app/commands.py, imported only when a frame arrives):
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

from firmware.core import events as E
from firmware.core.controller import LockController
from firmware.core.host import Host
from protocols import frame as F
from protocols import messages as M

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_TICK_MS = const(1000)          # tick() runs the core at least this often (and at WAKE)
_TICKS_MASK = const(0x3FFFFFFF)  # ticks_us period of MicroPython ports (2**30 us)
_MAX_TEXT = const(160)          # longest log text sent (it may quote input)


class Device(Host):
    """One lock application: wire protocol in and out, the core, storage."""

    def __init__(self, device_id, key, mode, store, ticks_us=None, fw_version="0.1.0",
                 runtime="?", config=None, authority=(), verify=None):
        if mode not in ("production", "field", "rig", "dev"):
            raise ValueError("mode must be production, rig or dev, got %r" % (mode,))
        self.device_id = device_id
        self.key = key
        self.mode = "field" if mode == "production" else mode   # its name on the wire
        self.store = store
        self.ticks_us = ticks_us
        self.fw_version = fw_version
        self.runtime = runtime
        Host.__init__(self, LockController(device_id, key, config, authority, verify))
        self._wrap = None
        if key is not None:
            from firmware.app import identity
            self._wrap = identity.wrap_key(key, device_id)
        self.reboot_requested = False
        self.actuator_hook = None
        self.rtc_hook = None
        self.indicate_hook = None
        self.answer_hook = None
        self.audit_events = True
        self.frame_errors = 0
        self.busy = 0             # frames left unanswered: no heap to handle them
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

    # -- boot ------------------------------------------------------------------------------
    def boot(self, mono_ms, rtc_s, cause):
        """Lock, restore the stored state, run the core's boot; returns the bytes to send."""
        self._t0 = self._now_us()
        self._drive(True)
        self._last_tick = mono_ms
        self._event({"kind": "boot", "reset_cause": cause, "device_ms": mono_ms})
        # the core reconciles the record with the stored audit log (firmware/core/recovery.py)
        # and picks the permit slot the record references
        try:
            permits = self.store.load_permits()
        except OSError as exc:  # the core stays unbooted (refusing all), the lock locked
            self._fault(exc)
            return self._take()
        st = self.store
        ev = (E.BOOT, st.load_state(), cause, st.audit_tail(), st.read_audit, permits)
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
                    self._error(0, fr)
        return self._take()

    def tick(self, mono_ms, rtc_s):
        """Run the core's TICK when due (WAKE deadline, or _TICK_MS since the last one) and
        signal credential answers that are due; returns the bytes to send."""
        self._t0 = self._now_us()
        due = self._core_wake is not None and mono_ms >= self._core_wake
        if due or mono_ms - self._last_tick >= _TICK_MS:
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
        except MemoryError:
            # out of heap: the core's step may be half done (at boot: its keys not loaded,
            # every token refused as if unprovisioned). Stop the app loudly; production
            # main.py resets: a fresh heap, the stored state, the bolt driven locked.
            raise
        except Exception as exc:  # storage failure: report, stay in the loop
            self._fault(exc)

    def _fault(self, exc):
        self.faults += 1
        self._event({"kind": "log", "text": ("fault: %s" % exc)[:_MAX_TEXT]})

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
        lat = (self._now_us() - self._t0) & _TICKS_MASK
        self._event({"kind": "actuate", "locked": locked, "device_ms": mono_ms,
                     "latency_us": lat, "reason": reason})

    def audit(self, record):
        self.store.append_audit(record)
        if self.audit_events:
            self._event({"kind": "audit", "seq": struct.unpack_from(">I", record, 0)[0]})

    def persist(self, blob):
        self.store.save_state(blob)

    def save_permit(self, slot, token):
        self.store.save_permit(slot, token)

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
        count = getattr(self.store, "lost", None)
        lost = count() if count is not None else 0
        if lost != self._lost_seen:
            self._lost_seen = lost
            if lost:
                self._event({"kind": "log", "text": "audit ring overwrote %d records the "
                             "host never acknowledged" % lost})

    def card_key(self, uid_hex, aes):
        """The AES key of this card from the loaded permit (unwrapped with this board's
        wrapping key; aes: a cryptolib.aes-like factory), or None."""
        wrapped = self.ctl.card_key(uid_hex)
        if wrapped is None or self._wrap is None:
            return None
        return aes(self._wrap, 1).decrypt(wrapped)

    # -- commands and status: firmware/app/commands.py (imported when a host talks) ---
    def _command(self, fr, mono_ms, rtc_s):
        commands = self._commands()
        if commands is not None:
            commands.command(self, fr, mono_ms, rtc_s)

    def _error(self, seq, exc):
        commands = self._commands()
        if commands is not None:
            commands.error(self, seq, exc)

    def _commands(self):
        # None when there is no heap to load it: the frame goes unanswered (counted in
        # `busy`) and the device runs on. Input nobody authenticated must not be able to
        # stop the app (a reset relocks an open lock: a holder locked out from range).
        try:
            from firmware.app import commands
        except MemoryError:
            self.busy += 1
            return None
        return commands

    def status(self, mono_ms, rtc_s):
        """STATUS_REPLY fields, from the core's status()."""
        from firmware.app import commands
        return commands.status(self, mono_ms, rtc_s)
