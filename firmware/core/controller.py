# The lock controller: events in, actions out (see events.py). No I/O, no clock
# reads, no randomness. The lock is open only while rules 1-5 of ARCHITECTURE.md
# hold; `_reasons` is the single place that says why it may not be.

from firmware.core import clock as _clock
from firmware.core import config as _config
from firmware.core import creds, geo, gnss
from firmware.core import events as E
from firmware.core import state as _state
from protocols import audit as _audit
from protocols import permit as _permit

_MALFUNCTION = (E.R_GNSS_LOST, E.R_NO_FIX, E.R_STALE_FIX, E.R_IMPRECISE, E.R_BATTERY)
_SOURCES = ("enclosure", "magnet")  # "actuator" is the core's own finding (ACTPOS)


class LockController:
    """One lock. `handle(event, mono_ms, rtc_s)` returns a list of action tuples."""

    def __init__(self, device_id, device_key, config=None):
        self.device_id = device_id
        self.key = device_key
        self.cfg = _config.merge(config)
        cfg = self.cfg
        self.clock = _clock.Clock(cfg["skew_max_s"], cfg["resync_fixes"])
        self.chain = _audit.Chain(device_id)
        self.st = _state.State()
        self.permit = None
        self.locked = True
        self.booted = False
        self.damaged = False
        self.gnss = "ok"
        self.faulty = {}
        self.fix = None          # last plausible fix: (lat, lon, hacc, mono_ms)
        self.fix_bad = None      # reason the latest fix was not usable, or None
        self.pos = 1             # geo.position_status of the last plausible fix, strict
        self.battery = 0         # 0 ok, 1 low, 2 critical
        self.battery_mv = None
        self.factors = {}        # (holder, factor) -> mono_ms of its last presentation
        self.pending = None      # (at_ms, holder) of an unlock decided, due at at_ms
        self.open_until = 0
        self.grip = False
        self.waived = (False, ())
        self.cmd_at = 0          # mono_ms of the last ACTUATE
        self.sensed = None       # last ACTPOS (sensed bolt position), None: no sensor
        self._wake = None
        self._out = None
        self.now = 0
        self.rtc = 0

    # -- entry point ---------------------------------------------------------
    def handle(self, ev, mono_ms, rtc_s):
        """Process one event at monotonic `mono_ms` with RTC reading `rtc_s`."""
        self._out = out = []
        self.now = mono_ms
        self.rtc = rtc_s
        self._dirty = False
        kind = ev[0] if type(ev) is tuple and len(ev) > 0 else None
        if not self.booted and kind != E.BOOT:
            out.append((E.RESULT, False, "not booted"))
            return out
        fn = _HANDLERS.get(kind)
        if fn is None:
            out.append((E.RESULT, False, "unknown event %r" % (kind,)))
            return out
        try:
            fn(self, ev)
        except (TypeError, ValueError, IndexError) as exc:
            out.append((E.RESULT, False, "malformed %s event: %s" % (kind, exc)))
        self._settle()
        return out

    # -- time and audit --------------------------------------------------------
    def wall(self):
        return self.clock.wall(self.rtc)

    def _audit(self, code, detail):
        t = self.wall()
        self._out.append((E.AUDIT, self.chain.append(t if t > 0 else 0, code, detail)))
        self._dirty = True  # the persisted audit head must follow the chain

    def _persist(self):
        self._dirty = True

    # -- the rules ---------------------------------------------------------------
    def reasons(self, mono_ms=None, rtc_s=None):
        """Why the lock must stay locked now (rules 1, 2, 4, 5); empty if none."""
        if mono_ms is not None:
            self.now = mono_ms
        if rtc_s is not None:
            self.rtc = rtc_s
        r = []
        st = self.st
        if self.damaged:
            r.append(E.R_STATE)
        if st.tamper:
            r.append(E.R_TAMPER)
        p = self.permit
        if p is None:
            r.append(E.R_RECALLED if st.recalled else E.R_NO_PERMIT)
        if not self.clock.trusted(self.rtc):
            r.append(E.R_TIME)
        else:
            now = self.wall()
            if p is not None and now < p.not_before:
                r.append(E.R_NOT_YET)
            if p is not None and now > p.not_after:
                r.append(E.R_EXPIRED)
            if now < st.lockout_until:
                r.append(E.R_LOCKOUT)
        if self.battery == 2:
            r.append(E.R_BATTERY)
        if p is not None:
            self._position_reasons(r, p)
        if E.R_ACTUATOR in self.faulty:
            r.append(E.R_ACTUATOR)
        return r

    def _position_reasons(self, r, p):
        if not p.zones:
            return  # a permit without zones does not limit where the weapon is used
        fresh = self.fix is not None and \
            self.now - self.fix[3] <= self.cfg["fix_max_age_s"] * 1000
        if self.gnss != "ok" or "gnss" in self.faulty:
            r.append(E.R_GNSS_LOST)
        elif self.fix_bad == E.R_SPOOF:
            r.append(E.R_SPOOF)
        elif not fresh:
            # an imprecise fix does not replace a precise one that is still fresh
            r.append(self.fix_bad or (E.R_NO_FIX if self.fix is None else E.R_STALE_FIX))
        else:
            status = self.pos
            if status and not self.locked:
                status = _where(p, self.fix[0], self.fix[1], self.cfg["hysteresis_m"])
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
        enabled = self.permit is not None and self.permit.fail_enabled
        malf = tuple([x for x in r if x in _MALFUNCTION])
        if (enabled, malf) != self.waived:
            self.waived = (enabled, malf)
            if malf:
                self._audit("fail_profile", "%s %s %s" % (
                    "fail-enabled" if enabled else "fail-secure",
                    "waives" if enabled else "holds for", ",".join(malf)))
        if enabled:
            return [x for x in r if x not in _MALFUNCTION]
        return r

    # -- after every event -----------------------------------------------------------
    def _settle(self):
        out = self._out
        self._check_actuator()  # first: a forced bolt latches before any unlock decision
        if self.pending is not None and self.now >= self.pending[0]:
            at, holder = self.pending
            self.pending = None
            r = self._blocking()
            if r:
                self._audit("deny", "holder=%d reasons=%s" % (holder, ",".join(r)))
                out.append((E.INDICATE, "denied"))
            else:
                self._open(holder)
        elif not self.locked:
            self._check_open()
        if self.clock.advance_floor(self.rtc, self.cfg["floor_interval_s"]):
            self.st.time_floor = self.clock.floor
            self._dirty = True
        if self._dirty and not self.damaged:  # keep a damaged record until a reset
            self._save()
        self._schedule()

    def _open(self, holder):
        self.factors = {}
        self.open_until = self.now + self.permit.max_unlock_s * 1000
        self._actuate(False, "authorised")
        self._out.append((E.INDICATE, "ready"))
        detail = "holder=%d serial=%d" % (holder, self.permit.serial)
        if self.waived[0] and self.waived[1]:
            detail += " waived=" + ",".join(self.waived[1])
        self._audit("unlock", detail)

    def _check_open(self):
        r = self._blocking()
        if r:
            self.relock(",".join(r))
        elif self.now >= self.open_until:
            self.relock("timeout")

    def relock(self, why):
        """Lock now and audit why (no-op when already locked)."""
        if self.locked:
            return
        self._actuate(True, why)
        self._out.append((E.INDICATE, "locked"))
        self._audit("relock", "reason=" + why)

    def _actuate(self, locked, reason):
        self.locked = locked
        self.cmd_at = self.now
        self._out.append((E.ACTUATE, locked, reason))

    def _check_actuator(self):
        """Compare the sensed bolt position with the command once it had time to settle:
        open while locked is forcing (tamper latch); locked while open is a malfunction
        (the bolt is stuck locked: audited, the command follows the bolt)."""
        pos = self.sensed
        if pos is None or pos == self.locked \
                or self.now - self.cmd_at < self.cfg["actuator_settle_ms"]:
            return
        if self.locked:
            self._latch("actuator")
        else:
            self._audit("actuator", "stuck locked: sensed locked %d ms after unlock"
                        % (self.now - self.cmd_at))
            self.relock(E.R_ACTUATOR)

    def _save(self):
        st = self.st
        st.audit_seq = self.chain.seq
        st.audit_head = self.chain.head
        st.time_floor = self.clock.floor
        self._out.append((E.PERSIST, _state.encode(st)))

    def _schedule(self):
        # the earliest deadline after now; past ones were handled just now
        now = self.now
        at = None
        if self.pending is not None and self.pending[0] > now:
            at = self.pending[0]
        if self.sensed is not None and self.sensed != self.locked:
            t = self.cmd_at + self.cfg["actuator_settle_ms"]  # classify the bolt then
            if t > now and (at is None or t < at):
                at = t
        if not self.locked:
            due = [self.open_until]
            if self.fix is not None:
                due.append(self.fix[3] + self.cfg["fix_max_age_s"] * 1000 + 1)
            if self.permit is not None:
                left = self.permit.not_after - self.wall() + 1
                due.append(now + (left if left > 0 else 0) * 1000)
            for t in due:
                if t > now and (at is None or t < at):
                    at = t
        if at != self._wake:  # None: what was announced is no longer due
            self._out.append((E.WAKE, at))
        self._wake = at

    # -- event handlers ------------------------------------------------------------
    def on_boot(self, ev):
        blob, cause = ev[1], ev[2]
        if self.booted:
            raise ValueError("already booted: build a new controller to reboot")
        self._actuate(True, "boot")
        self.booted = True
        if blob is not None:  # an empty record is a truncated one, not a first boot
            self._restore(blob, ev[3] if len(ev) > 3 else None)
        detail = "cause=%s" % cause
        if not self.clock.trusted(self.rtc):
            detail += " time=untrusted"
        self._audit("boot", detail)

    def _restore(self, blob, tail):
        """Restore persisted state; `tail` = (seq, hash) of the last record in the audit
        log, which lets the chain continue even when the state record is damaged."""
        try:
            st = _state.decode(blob)
            if st.permit:
                self.permit = _permit.decode(st.permit, self.key)
        except ValueError as exc:
            self.damaged = True
            detail = "damaged: %s" % exc
            if tail:
                self.chain = _audit.Chain(self.device_id, tail[0], tail[1])
                self.st.audit_seq, self.st.audit_head = tail[0], tail[1]
                if len(tail) > 2:  # the highest token serial the audit log proves used
                    self.st.serial_floor = tail[2]
                    detail += " serial_floor=%d from log" % tail[2]
            self._audit("state", detail)
            return
        self.st = st
        self.chain = _audit.Chain(self.device_id, st.audit_seq, st.audit_head)
        self.clock.floor = st.time_floor
        if self.rtc < st.time_floor:
            self._audit("time", "rollback rtc=%d floor=%d" % (self.rtc, st.time_floor))

    def on_tick(self, ev):
        pass

    def on_permit(self, ev):
        blob = ev[1]
        if type(blob) is not bytes and type(blob) is not bytearray:
            raise TypeError("permit needs token:bytes")
        try:
            dev = _permit.peek_device_id(blob)
            if dev != self.device_id:
                raise ValueError("token is for device %s, this is %s" % (dev, self.device_id))
            p = _permit.decode(blob, self.key)
            if p.kind == _permit.KIND_PERMIT:
                geo.check_zones(p.zones)
            if p.serial <= self.st.serial_floor:
                raise ValueError("replayed token (serial %d <= %d)"
                                 % (p.serial, self.st.serial_floor))
            if self.damaged and p.kind != _permit.KIND_RESET:
                raise ValueError("state damaged: only an authority reset is accepted")
            if p.kind == _permit.KIND_PERMIT and self.clock.trusted(self.rtc) \
                    and self.wall() > p.not_after:
                raise ValueError("permit expired at %d" % p.not_after)
        except ValueError as exc:
            self._audit("permit_refused", str(exc))
            self._out.append((E.RESULT, False, str(exc)))
            return
        self.st.serial_floor = p.serial
        self._apply_token(p, blob)
        self._persist()

    def _apply_token(self, p, blob):
        st = self.st
        if p.kind == _permit.KIND_PERMIT:
            self.relock("permit_replaced")
            self.permit = p
            st.permit = bytes(blob)
            st.recalled = False
            self.factors = {}
            self.pending = None  # credentials were checked against the old permit
            if self.fix is not None:
                self.pos = _where(p, self.fix[0], self.fix[1], 0)
            self._audit("permit_loaded", "serial=%d valid=%d..%d holders=%d zones=%d"
                        % (p.serial, p.not_before, p.not_after, len(p.holders), len(p.zones)))
            msg = "permit %d loaded" % p.serial
        elif p.kind == _permit.KIND_RECALL:
            self.relock("recalled")
            self.permit = None
            st.permit = b""
            st.recalled = True
            self._audit("recall", "serial=%d" % p.serial)
            self._out.append((E.INDICATE, "disabled"))
            msg = "recalled (serial %d)" % p.serial
        else:
            st.tamper = ""
            st.fails = 0
            st.lock_level = 0
            st.lockout_until = 0
            self.damaged = False
            self._audit("tamper_reset", "serial=%d" % p.serial)
            msg = "authority reset (serial %d)" % p.serial
        self._out.append((E.RESULT, True, msg))

    def on_fix(self, ev):
        lat, lon, hacc, utc = ev[1], ev[2], ev[3], ev[4]
        if type(lat) is not int or type(lon) is not int or type(hacc) is not int \
                or not (utc is None or type(utc) is int):
            raise TypeError("fix needs (lat_e7:int, lon_e7:int, hacc_m:int, utc_s:int|None)")
        if not (-900000000 <= lat <= 900000000 and -1800000000 <= lon <= 1800000000):
            raise ValueError("coordinates out of range")
        self._gnss_status("ok")
        prev = self.fix
        cfg = self.cfg
        if prev is not None and not geo.implied_speed_ok(
                prev[0], prev[1], prev[3], lat, lon, self.now, cfg["vmax_mps"], prev[2] + hacc):
            if self.fix_bad != E.R_SPOOF:
                self._audit("fix_implausible", "jump from %d,%d to %d,%d in %d ms"
                            % (prev[0], prev[1], lat, lon, self.now - prev[3]))
            self.fix_bad = E.R_SPOOF
            return
        if self.fix_bad == E.R_SPOOF:
            self._audit("fix_implausible", "cleared")
        if hacc > cfg["hacc_max_m"]:
            self.fix_bad = E.R_IMPRECISE
            return
        self.fix_bad = None
        self.fix = (lat, lon, hacc, self.now)
        if self.permit is not None:
            self.pos = _where(self.permit, lat, lon, 0)
        if utc is not None:
            self._gnss_time(utc)

    def _gnss_time(self, utc):
        change = self.clock.gnss_time(utc, self.now, self.rtc)
        if change is not None:
            self._audit("time", change[0])
            if change[1] is not None:
                self.rtc = change[1]  # the host sets the RTC to this now (clock.corr is 0)
                self._out.append((E.SET_RTC, change[1]))

    def on_gnss(self, ev):
        silent, nofix, sats, cn0 = ev[1], ev[2], ev[3], ev[4]
        if type(silent) is not int or type(nofix) is not int or type(sats) is not int \
                or type(cn0) is not int:
            raise TypeError("gnss needs (silent_ms:int, nofix_ms:int, sats:int, cn0_dbhz:int)")
        if silent < 0 or nofix < -1 or sats < 0 or cn0 < -1:
            raise ValueError("gnss observation out of range (silent_ms >= 0, nofix_ms >= -1, "
                             "sats >= 0, cn0_dbhz >= -1)")
        status = gnss.classify(self.cfg, silent, nofix, sats, cn0)
        self._gnss_status(status, " silent_ms=%d nofix_ms=%d sats=%d cn0=%d"
                          % (silent, nofix, sats, cn0))

    def _gnss_status(self, status, why=""):
        if status != self.gnss:
            self.gnss = status
            self._audit("gnss", status + why)

    def on_rfid(self, ev):
        cred, rtt, strong = ev[1], ev[2], ev[3]
        if type(cred) is not str or type(rtt) is not int or type(strong) is not bool:
            raise TypeError("rfid needs (cred:str, rtt_us:int, strong:bool)")
        self._credential(creds.F_RFID, "rfid", cred.upper(), rtt, strong)

    def on_finger(self, ev):
        tid, score = ev[1], ev[2]
        if type(tid) is not int or type(score) is not int:
            raise TypeError("finger needs (template:int, score:int)")
        self._credential(creds.F_FINGER, "finger", tid, score, None)

    def on_rfid_fail(self, ev):
        self._failed_read("rfid", ev[1])

    def on_finger_fail(self, ev):
        self._failed_read("finger", ev[1])

    def _failed_read(self, name, why):
        """A presentation the sensor could not turn into a credential: a failed attempt."""
        if type(why) is not str:
            raise TypeError("%s_fail needs why:str" % name)
        at = self.now + self.cfg["answer_ms"]
        if self._ignored(name, at):
            return
        self._audit("cred_reject", "%s failed: %s" % (name, why))
        self._out.append((E.ANSWER, at, False))
        self._failure()

    def _ignored(self, name, at):
        """Credentials are not evaluated (no permit, lockout, tamper, damaged state): the
        answer is "no" at `at`, audited, and it counts as no attempt. True if so."""
        # E.R_LOCKOUT in self.reasons(), without building every other reason
        locked_out = self.clock.trusted(self.rtc) and self.wall() < self.st.lockout_until
        if self.permit is None or locked_out or self.st.tamper or self.damaged:
            self._audit("cred_reject", "%s ignored: %s" % (name, ",".join(self.reasons())))
            self._out.append((E.ANSWER, at, False))
            return True
        return False

    def _credential(self, factor, name, ident, q, strong):
        at = self.now + self.cfg["answer_ms"]
        p = self.permit
        if self._ignored(name, at):
            return
        if factor == creds.F_RFID:
            holder, why = creds.check_rfid(p, self.cfg, ident, q, strong)
        else:
            holder, why = creds.check_finger(p, self.cfg, ident, q)
        if holder is None:
            self._audit("cred_reject", "%s %s" % (name, why))
            self._out.append((E.ANSWER, at, False))
            self._failure()
            return
        self.factors[(holder, factor)] = self.now
        self._audit("cred_ok", "%s holder=%d" % (name, holder))
        self._out.append((E.ANSWER, at, True))
        need = creds.required(p, self.faulty, p.fail_enabled)
        if self.locked and creds.satisfied(self.factors, holder, self.now,
                                           p.window_s * 1000, need):
            st = self.st
            if st.fails or st.lock_level:
                st.fails = 0
                st.lock_level = 0
                self._persist()
            self.pending = (at, holder)

    def _failure(self):
        st = self.st
        st.fails += 1
        if st.fails >= self.cfg["fail_max"]:
            st.fails = 0
            st.lock_level += 1
            d = creds.lockout_seconds(st.lock_level, self.cfg["lockout_base_s"],
                                      self.cfg["lockout_cap_s"])
            st.lockout_until = self.wall() + d
            self.factors = {}
            self._audit("lockout", "level=%d seconds=%d" % (st.lock_level, d))
            self._out.append((E.INDICATE, "lockout"))
        self._persist()

    def on_grip(self, ev):
        held = ev[1]
        if type(held) is not bool:
            raise TypeError("grip needs held:bool")
        if held:
            self.grip = True
        elif self.grip and not self.locked:
            self.relock("grip_released")
        if not held:
            self.grip = False

    def on_actpos(self, ev):
        pos_locked = ev[1]
        if type(pos_locked) is not bool:
            raise TypeError("actpos needs locked:bool")
        self.sensed = pos_locked  # classified against the command in _check_actuator

    def on_tamper(self, ev):
        source = ev[1]
        if source not in _SOURCES:
            raise ValueError("tamper source must be one of " + ",".join(_SOURCES))
        self._latch(source)

    def _latch(self, source):
        self.relock("tamper_" + source)
        if not self.st.tamper:
            self.st.tamper = source
            self._audit("tamper", "source=%s latched" % source)
            self._out.append((E.INDICATE, "tamper"))
            self._persist()

    def on_battery(self, ev):
        mv = ev[1]
        if type(mv) is not int:
            raise TypeError("battery needs millivolts:int")
        self.battery_mv = mv
        cfg = self.cfg
        level = 2 if mv <= cfg["battery_critical_mv"] else 1 if mv <= cfg["battery_low_mv"] else 0
        if level != self.battery:
            self.battery = level
            self._audit("battery", "%s mv=%d" % (("ok", "low", "critical")[level], mv))
            if level:
                self._out.append((E.INDICATE, "battery_low"))

    def on_fault(self, ev):
        sensor, ok = ev[1], ev[2]
        if sensor not in ("rfid", "finger", "gnss", "actuator") or type(ok) is not bool:
            raise ValueError("fault needs (sensor in rfid|finger|gnss|actuator, ok:bool)")
        key = {"rfid": creds.F_RFID, "finger": creds.F_FINGER, "gnss": "gnss",
               "actuator": E.R_ACTUATOR}[sensor]
        if ok == (key in self.faulty):
            self._audit("fault", "%s %s" % (sensor, "ok" if ok else "failed"))
        if ok:
            self.faulty.pop(key, None)
        else:
            self.faulty[key] = True

    # -- the public face besides handle/status/reasons/locked ----------------------------
    @property
    def audit_seq(self):
        """Sequence number of the last audit record emitted."""
        return self.chain.seq

    @property
    def audit_head(self):
        """Hash of the last audit record emitted (the chain head)."""
        return self.chain.head

    @property
    def counter(self):
        """The last accepted sealed-command counter (the anti-replay floor)."""
        return self.st.cmd_floor

    def accept_counter(self, counter):
        """Accept the counter of a sealed command before the host acts on it: returns
        [PERSIST] with the new floor (write it first; a failed write means: do not act),
        or [RESULT False] when refused (a damaged state record is kept for the authority
        reset, so only the reset token is accepted; a counter not above the floor)."""
        self._out = out = []
        if self.damaged:
            out.append((E.RESULT, False, "state damaged: only an authority reset "
                        "(TAMPER_RESET) is accepted"))
        elif type(counter) is not int or counter <= self.st.cmd_floor:
            out.append((E.RESULT, False, "replayed counter %r (last %d)"
                        % (counter, self.st.cmd_floor)))
        else:
            self.st.cmd_floor = counter
            self._save()
        return out

    def status(self):
        """A summary for the host (wire STATUS): plain dict of ints, strs and lists."""
        p = self.permit
        st = self.st
        return {
            "locked": self.locked,
            "reasons": self.reasons(),
            "permit": None if p is None else {
                "serial": p.serial, "not_before": p.not_before, "not_after": p.not_after,
                "holders": len(p.holders), "zones": len(p.zones),
                "fail_profile": "fail-enabled" if p.fail_enabled else "fail-secure"},
            "lockout": {"failures": st.fails, "level": st.lock_level,
                        "until": st.lockout_until},
            "tamper": st.tamper,
            "battery_mv": self.battery_mv,
            "fix": None if self.fix is None else list(self.fix[:3]),
            "time": self.wall(),
            "time_trusted": self.clock.trusted(self.rtc),
            "audit_seq": self.chain.seq,
        }


def _where(p, lat, lon, margin_m):
    # geo.position_status with the permit's zone boxes, computed on first use
    if p.boxes is None:
        p.boxes = geo.zone_boxes(p.zones)
    return geo.position_status(p.zones, lat, lon, margin_m, p.boxes)


_HANDLERS = {
    E.BOOT: LockController.on_boot,
    E.TICK: LockController.on_tick,
    E.PERMIT: LockController.on_permit,
    E.FIX: LockController.on_fix,
    E.GNSS: LockController.on_gnss,
    E.RFID: LockController.on_rfid,
    E.RFID_FAIL: LockController.on_rfid_fail,
    E.FINGER: LockController.on_finger,
    E.FINGER_FAIL: LockController.on_finger_fail,
    E.GRIP: LockController.on_grip,
    E.ACTPOS: LockController.on_actpos,
    E.TAMPER: LockController.on_tamper,
    E.BATTERY: LockController.on_battery,
    E.FAULT: LockController.on_fault,
}
