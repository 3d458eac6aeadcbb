# The lock controller: events in, actions out (see events.py). No I/O, no clock
# reads, no randomness. The lock is open only while rules 1-5 of ARCHITECTURE.md
# hold; `reasons` is the single place that says why it may not be.

from firmware.core import creds, geo, gnss, refusals
from firmware.core import events as E
from firmware.core import state as states
from protocols import audit_chain as audits  # the chain (the reader: protocols/audit.py)
from protocols import permit as tokens  # noqa: F401  (the type of _permit)

# Boot, authority tokens, counters, status and the texts of rare audits (a lockout, a
# change of GNSS status, battery or fail profile, an implausible fix, a stuck bolt) are
# in admin.py, imported by the methods that need them when the rare thing happens (a
# port short of heap may drop it from sys.modules after use). What runs every second
# (fixes, readings that change nothing, a holder's unlock, ticks) imports nothing; so
# does tamper.

# action kinds, bound once (events.py): one global lookup each on the hot path
_AUDIT, _PERSIST, _WAKE, _ANSWER, _INDICATE, _ACTUATE, _TICK = (
    E.AUDIT, E.PERSIST, E.WAKE, E.ANSWER, E.INDICATE, E.ACTUATE, E.TICK)
_MALFUNCTION = (E.R_GNSS_LOST, E.R_NO_FIX, E.R_STALE_FIX, E.R_IMPRECISE, E.R_BATTERY)


class LockController:
    """One lock. `handle(event, mono_ms, rtc_s)` returns a list of action tuples.

    device_key None: the board is not provisioned; every token is refused (audited).
    authority: the 65-byte public points of the authority keys the board was provisioned
    to trust (key updates in the state record replace them). verify: the verifier, an
    object with PublicKey(point) and verify(key, msg, sig) -> bool, like protocols.p256
    (the default); a host may inject one with identical results (the decision stays
    here)."""

    def __init__(self, device_id, device_key, config=None, authority=(), verify=None):
        self._device_id = device_id
        self._key = device_key
        from firmware.core import config as _config  # the bounds (freed after boot: trim.py)
        from firmware.core import trust  # the trust record (freed after boot: trim.py)
        from firmware.core.clock import Clock
        self._cfg = cfg = _config.merge(config)
        self._trust = trust.new(authority, verify)
        self._refusals = refusals.Refusals(cfg["refusal_window_s"], cfg["refusal_window_max_s"])
        self._refused = b""       # digest of the last authenticated token refused
        self._behind = False      # RTC behind the time floor (audited on every change)
        self._lock_mono = 0       # mono_ms until which a lockout holds whatever the clock
        self._gnss_ref = None     # (utc_s, mono_ms) of the last GNSS time taken
        self._errors = {}         # sensor -> consecutive read errors the driver reported
        # bounds read on every event, looked up once (the config does not change)
        self._fix_age_ms = cfg["fix_max_age_s"] * 1000
        self._floor_s = cfg["floor_interval_s"]
        self._vmax = cfg["vmax_mps"]
        self._hacc_max = cfg["hacc_max_m"]
        self._clock = Clock(cfg["skew_max_s"], cfg["resync_fixes"])
        self._chain = ch = audits.Chain(device_id)
        self._st = states.State()
        # the public face, plain attributes kept in step (a property would make every
        # attribute store on the controller look through the class first: MicroPython)
        self.audit_seq = ch.seq   # sequence number of the last audit record emitted
        self.audit_head = ch.head  # hash of the last audit record emitted (chain head)
        self.counter = 0          # the last accepted sealed-command counter (anti-replay)
        self._permit = None  # type: tokens.Permit | None
        self.locked = True
        self._booted = False
        self._damaged = False
        self._gnss = "ok"
        self._faulty = {}
        self._fix = None          # last plausible fix: (lat, lon, hacc, mono_ms)
        self._fix_bad = None      # reason the latest fix was not usable, or None
        self._pos = 1             # geo.position_status of the last plausible fix, strict
        self._battery = 0         # 0 ok, 1 low, 2 critical
        self._battery_mv = None
        self._factors = {}        # (holder, factor) -> mono_ms of its last presentation
        self._pending = None      # (at_ms, holder) of an unlock decided, due at at_ms
        self._open_until = 0
        self._grip = False
        self._waived = (False, ())
        self._cmd_at = 0          # mono_ms of the last ACTUATE
        self._sensed = None       # last ACTPOS (sensed bolt position), None: no sensor
        self._wake = None
        self._out = None
        self._now = 0
        self._rtc = 0

    # -- entry point ---------------------------------------------------------
    def handle(self, ev, mono_ms, rtc_s):
        """Process one event at monotonic `mono_ms` with RTC reading `rtc_s`."""
        self._out = out = []
        self._now = mono_ms
        self._rtc = rtc_s
        self._dirty = False
        kind = ev[0] if type(ev) is tuple and ev else None
        if not self._booted and kind != E.BOOT:
            out.append((E.RESULT, False, "not booted"))
            return out
        if kind != _TICK:  # a tick only settles
            fn = _HANDLERS.get(kind)
            if fn is None:
                from firmware.core import admin  # words the message (rare path)
                out.append((E.RESULT, False, admin.malformed(kind, None)))
                return out
            try:
                fn(self, ev)
            except (TypeError, ValueError, IndexError) as exc:
                from firmware.core import admin  # words the message (rare path)
                out.append((E.RESULT, False, admin.malformed(kind, exc)))
        self._settle()
        return out

    # -- time and audit --------------------------------------------------------
    def _wall(self):
        return self._rtc + self._clock.corr  # trusted or not: UTC as best known

    def _audit(self, code, detail):
        t = self._rtc + self._clock.corr
        ch = self._chain
        self._out.append((_AUDIT, ch.append(t if t > 0 else 0, code, detail)))
        self.audit_seq = ch.seq
        self.audit_head = ch.head
        self._dirty = True  # the persisted audit head must follow the chain

    # -- the rules ---------------------------------------------------------------
    def reasons(self, mono_ms=None, rtc_s=None):
        """Why the lock must stay locked now (rules 1, 2, 4, 5); empty if none."""
        if mono_ms is not None:
            self._now = mono_ms
        if rtc_s is not None:
            self._rtc = rtc_s
        r = []
        st = self._st
        if self._damaged:
            r.append(E.R_STATE)
        if st.tamper:
            r.append(E.R_TAMPER)
        p = self._permit
        if p is None:
            r.append(E.R_RECALLED if st.recalled else E.R_NO_PERMIT)
        clock = self._clock
        wall = self._rtc + clock.corr
        if clock.skewed or wall < clock.floor - clock.skew_max:  # not Clock.trusted
            r.append(E.R_TIME)
        elif p is not None:
            if wall < p.not_before:  # rules.validity, inlined
                r.append(E.R_NOT_YET)
            elif wall > p.not_after:
                r.append(E.R_EXPIRED)
        if self._now < self._lock_mono or wall < st.lockout_until:  # _locked_out
            r.append(E.R_LOCKOUT)
        if self._battery == 2:
            r.append(E.R_BATTERY)
        if p is not None and p.zones:
            self._position_reasons(r, p)
        if self._faulty and E.R_ACTUATOR in self._faulty:
            r.append(E.R_ACTUATOR)
        return r

    def _position_reasons(self, r, p):
        # (only for a permit with zones: one without does not limit where it is used)
        fix = self._fix
        fresh = fix is not None and self._now - fix[3] <= self._fix_age_ms
        if self._gnss != "ok" or "gnss" in self._faulty:
            r.append(E.R_GNSS_LOST)
        elif self._fix_bad == E.R_SPOOF:
            r.append(E.R_SPOOF)
        elif not fresh:
            # an imprecise fix does not replace a precise one that is still fresh
            r.append(self._fix_bad or (E.R_NO_FIX if fix is None else E.R_STALE_FIX))
        else:
            status = self._pos
            if status and not self.locked:
                status = geo.permit_status(p, fix[0], fix[1], self._cfg["hysteresis_m"])
            if status == 1:
                r.append(E.R_OUTSIDE)
            elif status == 2:
                r.append(E.R_FORBIDDEN)

    def _blocking(self):
        """Reasons that hold the lock after the fail profile is applied.

        Malfunctions (GNSS, fix quality, battery) hold the lock under fail-secure and
        are waived under fail-enabled; every change of that decision is audited.
        """
        r = self.reasons()
        p = self._permit
        enabled = p is not None and p.fail_enabled
        w = self._waived
        if not r and not w[1] and enabled == w[0]:
            return r  # nothing held, nothing waived, as before
        malf = tuple([x for x in r if x in _MALFUNCTION]) if r else ()
        if enabled != w[0] or malf != w[1]:
            self._waived = (enabled, malf)
            if malf:
                from firmware.core import admin  # a change of the waiver: rare
                admin.fail_profile(self)
        if enabled and malf:
            return [x for x in r if x not in _MALFUNCTION]
        return r

    # -- after every event -----------------------------------------------------------
    def _settle(self):
        now = self._now
        if self._sensed is not None:
            self._check_actuator()  # first: a forced bolt latches before any unlock decision
        pending = self._pending
        if pending is not None and now >= pending[0]:
            holder = pending[1]
            self._pending = None
            r = self._blocking()
            if r:
                self._audit("deny", "holder=%d reasons=%s" % (holder, ",".join(r)))
                self._out.append((_INDICATE, "denied"))
            else:
                self._open(holder)
        elif not self.locked:
            r = self._blocking()
            if r:
                self._relock(",".join(r))
            elif now >= self._open_until:
                self._relock("timeout")
        clock = self._clock
        wall = self._rtc + clock.corr
        if (wall < clock.floor - clock.skew_max) != self._behind:
            from firmware.core import admin  # a change of RTC rollback: rare
            admin.check_rollback(self)
        if self._refusals.windows:  # refusals of unauthenticated input counted
            due = self._refusals.due(now)
            if due:  # a window with counted refusals ended: rare
                from firmware.core import admin
                admin.refusals(self, due)
        if wall - clock.floor >= self._floor_s and clock.advance_floor(self._rtc, self._floor_s):
            self._st.time_floor = clock.floor
            self._dirty = True
        if self._dirty and not self._damaged:  # keep a damaged record until a reset
            self._save()
        self._schedule()

    def _save(self):
        """Emit PERSIST with the state record (the audit head and time floor brought up)."""
        st = self._st
        ch = self._chain
        st.audit_seq = ch.seq
        st.audit_head = ch.head
        st.time_floor = self._clock.floor
        self._out.append((_PERSIST, states.encode(st)))

    def _open(self, holder):
        p = self._permit
        now = self._now
        self._factors = {}
        self._open_until = now + p.max_unlock_s * 1000
        self.locked = False  # _actuate, inlined (hot)
        self._cmd_at = now
        out = self._out
        out.append((_ACTUATE, False, "authorised"))
        out.append((_INDICATE, "ready"))
        detail = "holder=%d serial=%d" % (holder, p.serial)
        w = self._waived
        if w[0] and w[1]:
            detail += " waived=" + ",".join(w[1])
        self._audit("unlock", detail)

    def _relock(self, why):
        """Lock now and audit why (no-op when already locked)."""
        if self.locked:
            return
        self._actuate(True, why)
        self._out.append((_INDICATE, "locked"))
        self._audit("relock", "reason=" + why)

    def _actuate(self, locked, reason):
        self.locked = locked
        self._cmd_at = self._now
        self._out.append((_ACTUATE, locked, reason))

    def _check_actuator(self):
        """Compare the sensed bolt position with the command once it had time to settle:
        open while locked is forcing (tamper latch); locked while open is a malfunction
        (the bolt is stuck locked: audited, the command follows the bolt)."""
        pos = self._sensed
        if pos is None or pos == self.locked \
                or self._now - self._cmd_at < self._cfg["actuator_settle_ms"]:
            return
        if self.locked:
            self._latch("actuator")
        else:
            from firmware.core import admin  # a malfunction: rare
            admin.actuator(self)

    def _schedule(self):
        # the earliest deadline after now; past ones were handled just now
        now = self._now
        at = None
        pending = self._pending
        if pending is not None and pending[0] > now:
            at = pending[0]
        if self._sensed is not None and self._sensed != self.locked:
            t = self._cmd_at + self._cfg["actuator_settle_ms"]  # classify the bolt then
            if t > now and (at is None or t < at):
                at = t
        if not self.locked:
            t = self._open_until
            if t > now and (at is None or t < at):
                at = t
            if self._fix is not None:
                t = self._fix[3] + self._fix_age_ms + 1
                if t > now and (at is None or t < at):
                    at = t
            if self._permit is not None:
                left = self._permit.not_after - (self._rtc + self._clock.corr) + 1
                t = now + (left if left > 0 else 0) * 1000
                if t > now and (at is None or t < at):
                    at = t
        if at != self._wake:  # None: what was announced is no longer due
            self._out.append((_WAKE, at))
            self._wake = at

    # -- event handlers ------------------------------------------------------------
    # A malformed event raises TypeError or ValueError with its kind alone (an interned
    # name); admin.malformed words what it needs (the texts stay off the resident heap).
    def _rare(self, ev):
        """BOOT, PERMIT, FAULT: in admin.py (rare paths, imported when needed)."""
        from firmware.core import admin
        admin.on_event(self, ev)

    def refused(self, source, why, mono_ms, rtc_s):
        """A host refused input nobody authenticated (a sealed command that does not
        verify, a replayed counter: source "command"): audit it, aggregated like
        unauthenticated tokens. Returns the actions (AUDIT, PERSIST)."""
        from firmware.core import admin
        return admin.refused(self, source, why, mono_ms, rtc_s)

    def _on_fix(self, ev):
        lat, lon, hacc, utc = ev[1], ev[2], ev[3], ev[4]
        if type(lat) is not int or type(lon) is not int or type(hacc) is not int \
                or not (utc is None or type(utc) is int):
            raise TypeError(E.FIX)
        if not (-900000000 <= lat <= 900000000 and -1800000000 <= lon <= 1800000000):
            raise ValueError(E.FIX)
        if self._gnss != "ok":
            self._gnss = "ok"
            from firmware.core import admin  # GNSS back: rare (admin.py words the audit)
            admin.gnss(self, "ok")
        prev = self._fix
        bad = self._fix_bad
        if prev is not None and not geo.implied_speed_ok(
                prev[0], prev[1], prev[3], lat, lon, self._now, self._vmax, prev[2] + hacc):
            if bad != E.R_SPOOF:  # audited (admin.py words it) when it starts
                from firmware.core import admin
                admin.fix_implausible(self, E.R_SPOOF, (prev[0], prev[1], lat, lon,
                                                        self._now - prev[3]))
            self._fix_bad = E.R_SPOOF
            return
        if bad == E.R_SPOOF:
            from firmware.core import admin
            admin.fix_implausible(self, None)
        if hacc > self._hacc_max:
            self._fix_bad = E.R_IMPRECISE
            return
        if utc is not None and self._old_fix(utc):
            if self._fix_bad != E.R_STALE_FIX:
                from firmware.core import admin
                admin.fix_implausible(self, E.R_STALE_FIX, (utc, self._cfg["fix_max_age_s"]))
            self._fix_bad = E.R_STALE_FIX
            return
        self._fix_bad = None
        self._fix = (lat, lon, hacc, self._now)
        if self._permit is not None:
            self._pos = geo.permit_status(self._permit, lat, lon, 0)
        if utc is not None:
            self._gnss_time(utc)

    def _old_fix(self, utc_s):
        """The fix's own time is older than fix_max_age_s (but within skew_max_s: further
        off it contradicts the clock, which Clock.gnss_time judges): against the last
        GNSS time taken, carried forward by the monotonic clock, else trusted time."""
        ref = self._gnss_ref
        if ref is not None:
            now = ref[0] + (self._now - ref[1]) // 1000
        elif self._clock.trusted(self._rtc):
            now = self._wall()
        else:
            return False
        return now - self._cfg["skew_max_s"] <= utc_s < now - self._cfg["fix_max_age_s"]

    def _gnss_time(self, utc_s):
        change = self._clock.gnss_time(utc_s, self._now, self._rtc)
        if not self._clock.skewed:
            self._gnss_ref = (utc_s, self._now)
        if change is not None:  # the trust in time changed: rare
            from firmware.core import admin
            admin.time(self, change, utc_s)

    def _on_gnss(self, ev):
        silent, nofix, sats, cn0 = ev[1], ev[2], ev[3], ev[4]
        if type(silent) is not int or type(nofix) is not int or type(sats) is not int \
                or type(cn0) is not int:
            raise TypeError(E.GNSS)
        if silent < 0 or nofix < -1 or sats < 0 or cn0 < -1:
            raise ValueError(E.GNSS)
        status = gnss.classify(self._cfg, silent, nofix, sats, cn0)
        if status != self._gnss:  # a change: rare (admin.py words the audit)
            self._gnss = status
            from firmware.core import admin
            admin.gnss(self, status, ev)

    def _on_rfid(self, ev):
        cred, rtt, strong = ev[1], ev[2], ev[3]
        if type(cred) is not str or type(rtt) is not int or type(strong) is not bool:
            raise TypeError(E.RFID)
        self._credential(creds.F_RFID, "rfid", cred.upper(), rtt, strong)

    def _on_finger(self, ev):
        tid, score = ev[1], ev[2]
        if type(tid) is not int or type(score) is not int:
            raise TypeError(E.FINGER)
        self._credential(creds.F_FINGER, "finger", tid, score, None)

    def _on_read_fail(self, ev):
        """RFID_FAIL, FINGER_FAIL: a presentation the sensor could not turn into a
        credential, a failed attempt."""
        why = ev[1]
        if type(why) is not str:
            raise TypeError(ev[0])
        name = "rfid" if ev[0] == E.RFID_FAIL else "finger"
        at = self._now + self._cfg["answer_ms"]
        if self._ignored(name, at):
            return
        self._audit("cred_reject", "%s failed: %s" % (name, why))
        self._out.append((_ANSWER, at, False))
        self._failure()

    def _ignored(self, name, at_ms):
        """Credentials are not evaluated (no permit, lockout, tamper, damaged state): the
        answer is "no" at `at_ms`, audited, and it counts as no attempt. True if so."""
        st = self._st
        if self._permit is None or self._now < self._lock_mono \
                or self._rtc + self._clock.corr < st.lockout_until or st.tamper or self._damaged:
            self._audit("cred_reject", "%s ignored: %s" % (name, ",".join(self.reasons())))
            self._out.append((_ANSWER, at_ms, False))
            return True
        return False

    def _credential(self, factor, name, ident, q, strong):
        at = self._now + self._cfg["answer_ms"]
        p = self._permit
        if self._ignored(name, at):
            return
        if factor == creds.F_RFID:
            holder, why = creds.check_rfid(p, self._cfg, ident, q, strong)
        else:
            holder, why = creds.check_finger(p, self._cfg, ident, q)
        if holder is None:
            self._audit("cred_reject", "%s %s" % (name, why))
            self._out.append((_ANSWER, at, False))
            self._failure()
            return
        now = self._now
        self._factors[(holder, factor)] = now
        self._audit("cred_ok", "%s holder=%d" % (name, holder))
        self._out.append((_ANSWER, at, True))
        need = creds.required(p, self._faulty, p.fail_enabled)
        if self.locked and creds.satisfied(self._factors, holder, now, p.window_s * 1000,
                                           need):
            st = self._st
            if st.fails or st.lock_level:
                st.fails = 0
                st.lock_level = 0
                self._dirty = True
            self._pending = (at, holder)

    def _failure(self):
        st = self._st
        st.fails += 1
        cfg = self._cfg
        if st.fails >= cfg["fail_max"]:
            # resident, no import: a failed import (heap) must not cost the lockout
            st.fails = 0
            st.lock_level += 1
            d = creds.lockout_seconds(st.lock_level, cfg["lockout_base_s"], cfg["lockout_cap_s"])
            st.lockout_until = self._wall() + d
            self._lock_mono = self._now + d * 1000
            self._factors = {}
            self._audit("lockout", "level=%d seconds=%d" % (st.lock_level, d))
            self._out.append((_INDICATE, "lockout"))
        self._dirty = True

    def _on_grip(self, ev):
        held = ev[1]
        if type(held) is not bool:
            raise TypeError(E.GRIP)
        if held:
            self._grip = True
        elif self._grip and not self.locked:
            self._relock("grip_released")
        if not held:
            self._grip = False

    def _on_actpos(self, ev):
        pos_locked = ev[1]
        if type(pos_locked) is not bool:
            raise TypeError(E.ACTPOS)
        self._sensed = pos_locked  # classified against the command in _check_actuator

    def _on_tamper(self, ev):
        source = ev[1]
        if source not in ("enclosure", "magnet"):  # "actuator": the core's own (ACTPOS)
            raise ValueError(E.TAMPER)
        self._latch(source)

    def _latch(self, source):
        """Tamper: lock now, latch the source (kept resident: no import on this path)."""
        self._relock("tamper_" + source)
        if not self._st.tamper:
            self._st.tamper = source
            self._audit("tamper", "source=%s latched" % source)
            self._out.append((_INDICATE, "tamper"))
            self._dirty = True

    def _on_magnet(self, ev):
        dev = ev[1]
        if type(dev) is not int or dev < 0:
            raise TypeError(E.MAGNET)
        if dev > self._cfg["magnet_threshold"]:
            self._latch("magnet")

    def _on_read_errors(self, ev):
        sensor, n = ev[1], ev[2]
        if sensor not in ("rfid", "finger", "gnss", "actuator") or type(n) is not int or n < 0:
            raise ValueError(E.READ_ERRORS)
        before = self._errors.get(sensor, 0) >= self._cfg["sensor_fail_after"]
        self._errors[sensor] = n
        after = n >= self._cfg["sensor_fail_after"]
        if after != before:
            from firmware.core import admin
            admin.on_fault(self, (E.FAULT, sensor, not after))

    def _on_battery(self, ev):
        mv = ev[1]
        if type(mv) is not int:
            raise TypeError(E.BATTERY)
        self._battery_mv = mv
        cfg = self._cfg
        level = 2 if mv <= cfg["battery_critical_mv"] else 1 if mv <= cfg["battery_low_mv"] else 0
        if level != self._battery:  # a change: rare (admin.py words the audit)
            self._battery = level
            from firmware.core import admin
            admin.battery(self, level, mv)

    # -- the public face besides handle/status/reasons/locked/audit_seq/audit_head/counter
    def accept_counter(self, counter):
        """Accept the counter of a sealed command before the host acts on it: returns
        [PERSIST] with the new floor (write it first; a failed write means: do not act),
        or [RESULT False] when refused (a damaged state record is kept for the authority
        reset, so only the reset token is accepted; a counter not above the floor)."""
        from firmware.core import admin
        return admin.accept_counter(self, counter)

    def status(self):
        """A summary for the host (wire STATUS): plain dict of ints, strs and lists."""
        from firmware.core import admin
        return admin.status(self)

    def card_key(self, uid_hex):
        """The loaded permit's card key for this RFID UID, still wrapped to this device
        (16 bytes), or None (no permit, unknown card, UID-only credential). The board
        unwraps it with its wrapping key for the NTAG 424 challenge."""
        p = self._permit
        return None if p is None else p.card_keys.get(uid_hex.upper())


_HANDLERS = {
    E.BOOT: LockController._rare,
    E.PERMIT: LockController._rare,
    E.FIX: LockController._on_fix,
    E.GNSS: LockController._on_gnss,
    E.RFID: LockController._on_rfid,
    E.RFID_FAIL: LockController._on_read_fail,
    E.FINGER: LockController._on_finger,
    E.FINGER_FAIL: LockController._on_read_fail,
    E.GRIP: LockController._on_grip,
    E.ACTPOS: LockController._on_actpos,
    E.TAMPER: LockController._on_tamper,
    E.BATTERY: LockController._on_battery,
    E.FAULT: LockController._rare,
    E.READ_ERRORS: LockController._on_read_errors,
    E.MAGNET: LockController._on_magnet,
}
