# The controller's rare paths, kept out of controller.py so that a port short of heap
# can drop this module (and recovery.py) from sys.modules after use: boot and restore
# of the state record, authority tokens (permit, recall, key update, reset), peripheral
# faults, RTC rollback audits, refusals of unauthenticated input, sealed-command
# counters, status, and the texts of the controller's rare audits. Each function takes
# the LockController `c` and is imported inside the controller method that needs it.
# (Tamper latching, credentials, failed reads and the lockout stay in the controller: no import
# on those paths.)

from firmware.core import events as E
from firmware.core import geo, rules, trust
from firmware.core import state as states
from protocols import audit as audits
from protocols import permit as tokens


def on_event(c, ev):
    """The controller's handler for the rare events BOOT, PERMIT and FAULT."""
    kind = ev[0]
    if kind == E.BOOT:
        on_boot(c, ev)
    elif kind == E.PERMIT:
        on_permit(c, ev)
    else:
        on_fault(c, ev)


def malformed(kind, exc):
    """The RESULT message for an event whose handler raised `exc` (None: no handler)."""
    if exc is None:
        return "unknown event %r" % (kind,)
    # what a malformed event needs, by (exception, event kind) as the controller's checks
    # raise them (controller.py, event handlers); built here: a rare path, no global name
    needs = {
        (TypeError, E.FIX): "fix needs (lat_e7:int, lon_e7:int, hacc_m:int, utc_s:int|None)",
        (ValueError, E.FIX): "coordinates out of range",
        (TypeError, E.GNSS): "gnss needs (silent_ms:int, nofix_ms:int, sats:int, cn0_dbhz:int)",
        (ValueError, E.GNSS): "gnss observation out of range (silent_ms >= 0, nofix_ms >= -1, "
                              "sats >= 0, cn0_dbhz >= -1)",
        (TypeError, E.RFID): "rfid needs (cred:str, rtt_us:int, strong:bool)",
        (TypeError, E.FINGER): "finger needs (template:int, score:int)",
        (TypeError, E.RFID_FAIL): "rfid_fail needs why:str",
        (TypeError, E.FINGER_FAIL): "finger_fail needs why:str",
        (TypeError, E.GRIP): "grip needs held:bool",
        (TypeError, E.ACTPOS): "actpos needs locked:bool",
        (ValueError, E.TAMPER): "tamper source must be one of enclosure,magnet",
        (TypeError, E.MAGNET): "magnet needs deviation:int >= 0",
        (ValueError, E.READ_ERRORS): "read_errors needs (sensor in rfid|finger|gnss|actuator, "
                                     "consecutive:int >= 0)",
        (TypeError, E.BATTERY): "battery needs millivolts:int",
    }
    why = exc.args[0] if len(exc.args) == 1 else None
    text = needs.get((type(exc), why)) if why == kind else None
    return "malformed %s event: %s" % (kind, exc if text is None else text)


# The audit texts of the controller's rare paths, each function named after the audit
# code it writes (mostly names interned anyway) and called only when the rare thing
# happens: the texts stay off the resident heap.
def fail_profile(c):
    """The malfunctions the fail profile waives or holds for changed (c._waived)."""
    enabled, malf = c._waived
    c._audit("fail_profile", "%s %s %s" % (
        "fail-enabled" if enabled else "fail-secure",
        "waives" if enabled else "holds for", ",".join(malf)))


def actuator(c):
    """Stuck locked: the bolt is sensed locked while commanded open (the command
    follows)."""
    c._audit("actuator", "stuck locked: sensed locked %d ms after unlock"
             % (c._now - c._cmd_at))
    c._relock(E.R_ACTUATOR)


def fix_implausible(c, why, args=()):
    """A fix starts to be implausible for `why` (R_SPOOF: a jump, `args` (lat, lon of
    the last fix, lat, lon, ms); R_STALE_FIX: an old fix time, `args` (utc, the bound)),
    or None: the jumps stopped."""
    if why is None:
        text = "cleared"
    elif why == E.R_SPOOF:
        text = "jump from %d,%d to %d,%d in %d ms" % args
    else:
        text = "fix time %d is older than %d s" % args
    c._audit("fix_implausible", text)


def gnss(c, status, ev=None):
    """The GNSS status changed to `status`; `ev` the GNSS event that says so (None: a
    fix came)."""
    c._audit("gnss", status if ev is None else
             status + " silent_ms=%d nofix_ms=%d sats=%d cn0=%d" % ev[1:5])


def time(c, why, utc_s):
    """The trust in time changed on the GNSS time `utc_s`: `why` as Clock.gnss_time
    gives it, (0 trusted again | 1 resync | 2 untrusted, skew); on a resync the host sets
    the RTC to utc_s now (clock.corr is 0)."""
    skew = why[1]
    if why[0] == 1:
        c._audit("time", "resync from gnss utc=%d skew=%d" % (utc_s, skew))
        c._rtc = utc_s
        c._out.append((E.SET_RTC, utc_s))
    else:
        c._audit("time", ("trusted again skew=%d" if why[0] == 0 else
                          "untrusted rtc/gnss skew=%d") % skew)


def battery(c, level, mv):
    """The battery level (0 ok, 1 low, 2 critical) changed at `mv` millivolts."""
    c._audit("battery", "%s mv=%d" % (("ok", "low", "critical")[level], mv))
    if level:
        c._out.append((E.INDICATE, "battery_low"))


def refusals(c, due):
    """Audit the aggregated refusals of the windows that ended (Refusals.due)."""
    for src, n, width, last in due:
        c._audit(src + "_refused", "%d more in %d s, last: %s" % (n, width, last))


def on_boot(c, ev):
    """BOOT: reconcile the record with the audit log, restore it, audit the boot."""
    rec, cause = ev[1], ev[2]
    if c._booted:
        raise ValueError("already booted: build a new controller to reboot")
    tail = ev[3] if len(ev) > 3 else None
    if tail is not None and len(ev) > 4 and ev[4] is not None:
        # before booting: a storage error here leaves the core unbooted (refusing all)
        rec, tail = _reconcile(rec, tail, ev[4])
    c._actuate(True, "boot")
    c._booted = True
    trust.load(c._trust, (), ())  # the provisioned keys until the record says otherwise
    if rec is not None:  # an empty record is a truncated one, not a first boot
        _restore(c, rec, tail, ev[5] if len(ev) > 5 else None)
    detail = "cause=%s" % cause
    if not c._clock.trusted(c._rtc):
        detail += " time=untrusted"
    c._audit("boot", detail)


def _restore(c, rec, tail, permits):
    """Restore persisted state (`rec`: record bytes, or the State recovery decoded);
    `tail` = (seq, hash) of the last record in the audit log, which lets the chain
    continue even when the state record is damaged; `permits` the stored permit slots."""
    from firmware.core import recovery  # the record decoder (boot only)
    try:
        st = rec if isinstance(rec, states.State) else recovery.decode_state(rec)
        trust.load(c._trust, st.trusted, st.revoked)
        token = recovery.permit_token(st, permits)
        if token and c._key is not None:
            c._permit = tokens.decode(token, c._trust["keys"], c._trust["verify"])
    except ValueError as exc:
        _damaged(c, exc, tail)
        return
    c._st = st
    c._chain = audits.Chain(c._device_id, st.audit_seq, st.audit_head)
    c.audit_seq, c.audit_head, c.counter = st.audit_seq, st.audit_head, st.cmd_floor
    c._clock.floor = st.time_floor
    if st.lockout_until > c._rtc:  # the rest of a lockout, by the monotonic clock
        c._lock_mono = c._now + (st.lockout_until - c._rtc) * 1000
    if st.migrated:
        _migrated(c, st, token)
    elif token is None:  # fail closed: the rest of the record is fine
        c._audit("state", "permit slot %d does not match the record: permit dropped, "
                  "re-issue it" % st.slot)
        st.plen = st.pcrc = 0
        c._dirty = True
    if c._rtc < st.time_floor:
        c._behind = c._rtc < st.time_floor - c._cfg["skew_max_s"]
        c._audit("time", "rollback rtc=%d floor=%d" % (c._rtc, st.time_floor))


def _damaged(c, exc, tail):
    c._damaged = True
    detail = "damaged: %s" % exc
    if tail:
        c._chain = audits.Chain(c._device_id, tail[0], tail[1])
        c.audit_seq, c.audit_head = tail[0], tail[1]
        c._st.audit_seq, c._st.audit_head = tail[0], tail[1]
        if len(tail) > 2:  # the highest token serial the audit log proves used
            c._st.serial_floor = tail[2]
            detail += " serial_floor=%d from log" % tail[2]
        if len(tail) > 3 and tail[3]:  # keys the log proves revoked stay revoked
            c._st.revoked = list(tail[3])
            trust.load(c._trust, (), tail[3])
    c._audit("state", detail)


def _migrated(c, st, token):
    """An older record was restored: audit it; the PERSIST of this event writes it as
    the current version (v2: its inline token first goes to permit slot 0)."""
    if st.migrated == 1:
        c._audit("state", "migrated from record v1: format-1 permit serial=%d "
                  "dropped (re-issue it signed)" % st.dropped)
    else:
        st.permit = b""
        if token:
            keep_permit(c, token, 0)
        c._audit("state", "migrated from record v2: %s" % (
            "permit moved to slot 0" if token else "no permit"))
    c._dirty = True


def keep_permit(c, token, slot=0):
    """Make the state record reference `token` (b"": none); a token is written first
    (SAVE_PERMIT) to `slot`, which the stored record must not reference."""
    st = c._st
    if token:
        if type(token) is not bytes:
            token = bytes(token)
        c._out.append((E.SAVE_PERMIT, slot, token))
        st.slot, st.plen, st.pcrc = slot, len(token), states.crc32(token)
    else:
        st.plen = st.pcrc = 0


def on_permit(c, ev):
    """PERMIT: authenticate and check a token, then apply it (or audit the refusal)."""
    blob = ev[1]
    if type(blob) is not bytes and type(blob) is not bytearray:
        raise TypeError("permit needs token:bytes")
    p = None
    try:
        p = _authenticate(c, blob)
        _check_token(c, p)
    except ValueError as exc:
        # audited one by one only if authenticated and not a repeat; else aggregated
        refuse(c, "permit", str(exc), p is not None and p.digest != c._refused)
        if p is not None:
            c._refused = p.digest
        c._out.append((E.RESULT, False, str(exc)))
        return
    c._st.serial_floor = p.serial
    _apply_token(c, p, blob)
    c._dirty = True


def _authenticate(c, blob):
    """The token, decoded once its signer is trusted and its signature verifies."""
    if c._key is None:  # an unprovisioned board: nothing can authenticate
        raise ValueError("device not provisioned")
    _, dev, kid = tokens.peek(blob)
    if dev != c._device_id:
        raise ValueError("token is for device %s, this is %s" % (dev, c._device_id))
    trust.check_signer(c._trust, kid)
    return tokens.decode(blob, c._trust["keys"], c._trust["verify"])


def _check_token(c, p):
    if p.kind == tokens.KIND_PERMIT:
        check_zones(p.zones)
    if p.serial <= c._st.serial_floor:
        raise ValueError("replayed token (serial %d <= %d)" % (p.serial, c._st.serial_floor))
    if c._damaged and p.kind != tokens.KIND_RESET:
        raise ValueError("state damaged: only an authority reset is accepted")
    if p.kind == tokens.KIND_PERMIT and c._clock.trusted(c._rtc) \
            and rules.validity(p, c._wall()) == E.R_EXPIRED:
        raise ValueError("permit expired at %d" % p.not_after)
    if p.kind == tokens.KIND_KEYS:
        trust.check_update(c._trust, p.added, p.revoked)


def refused(c, source, why, mono_ms, rtc_s):
    """LockController.refused: audit input a host refused (aggregated), then PERSIST."""
    c._out = out = []
    c._now = mono_ms
    c._rtc = rtc_s
    c._dirty = False
    if c._booted and type(source) is str and type(why) is str:
        refuse(c, source, why, False)
        if c._dirty and not c._damaged:
            c._save()
    return out


def refuse(c, source, why, individual):
    """Audit a refusal: one by one when `individual`, else aggregated (refusals.py)."""
    refusals(c, c._refusals.due(c._now))
    if c._refusals.admit(source, c._now, why) or individual:
        c._audit(source + "_refused", why)


def _apply_token(c, p, blob):
    st = c._st
    if p.kind == tokens.KIND_PERMIT:
        c._relock("permit_replaced")
        c._permit = p
        keep_permit(c, blob, st.slot ^ 1)
        st.recalled = False
        c._factors = {}
        c._pending = None  # credentials were checked against the old permit
        if c._fix is not None:
            c._pos = geo.permit_status(p, c._fix[0], c._fix[1], 0)
        c._audit("permit_loaded", "serial=%d valid=%d..%d holders=%d zones=%d"
                    % (p.serial, p.not_before, p.not_after, len(p.holders), len(p.zones)))
        msg = "permit %d loaded" % p.serial
    elif p.kind == tokens.KIND_RECALL:
        c._relock("recalled")
        c._permit = None
        keep_permit(c, b"")
        st.recalled = True
        c._audit("recall", "serial=%d" % p.serial)
        c._out.append((E.INDICATE, "disabled"))
        msg = "recalled (serial %d)" % p.serial
    elif p.kind == tokens.KIND_KEYS:
        msg = _key_update(c, p)
    else:
        st.tamper = ""
        st.fails = 0
        st.lock_level = 0
        st.lockout_until = 0
        c._lock_mono = 0
        c._damaged = False
        c._audit("tamper_reset", "serial=%d" % p.serial)
        msg = "authority reset (serial %d)" % p.serial
    c._out.append((E.RESULT, True, msg))


def _key_update(c, p):
    st = c._st
    st.trusted, st.revoked = trust.update(c._trust, p.added, p.revoked)
    kid = tokens.key_id(p.added)
    detail = "serial=%d added=%s" % (p.serial, _hex(kid))
    if p.revoked != tokens.NO_KID:
        detail += " revoked=%s" % _hex(p.revoked)
        if c._permit is not None and c._permit.key_id == p.revoked:
            c._relock("key_revoked")
            c._permit = None
            keep_permit(c, b"")
            detail += " permit dropped"
    c._audit("key_update", detail)
    return "key update %d applied: %d trusted key(s)" % (p.serial, len(st.trusted))


def on_fault(c, ev):
    """FAULT (a peripheral could not be set up, or came back; or the controller's read
    error count crossed sensor_fail_after): audit the change, mark the key faulty."""
    # the sensors and the key each is kept under: a credential factor, "gnss", the
    # actuator (a deny reason), or "ble" (the radio link: audited, decides nothing)
    keys = {"rfid": tokens.F_RFID, "finger": tokens.F_FINGER, "gnss": "gnss",
            "actuator": E.R_ACTUATOR, "ble": "ble"}
    sensor, ok = ev[1], ev[2]
    if sensor not in keys or type(ok) is not bool:
        raise ValueError("fault needs (sensor in rfid|finger|gnss|actuator|ble, ok:bool)")
    key = keys[sensor]
    if ok == (key in c._faulty):
        c._audit("fault", "%s %s" % (sensor, "ok" if ok else "failed"))
    if ok:
        c._faulty.pop(key, None)
    else:
        c._faulty[key] = True


def check_rollback(c):
    """Audit every change of 'RTC behind the time floor' when it happens."""
    behind = c._rtc + c._clock.corr < c._clock.floor - c._clock.skew_max
    if behind != c._behind:
        c._behind = behind
        c._audit("time", ("rollback rtc=%d floor=%d" if behind else
                          "rtc=%d back at floor=%d") % (c._rtc, c._clock.floor))


def accept_counter(c, counter):
    """Accept the counter of a sealed command before the host acts on it: returns
    [PERSIST] with the new floor (write it first; a failed write means: do not act),
    or [RESULT False] when refused (a damaged state record is kept for the authority
    reset, so only the reset token is accepted; a counter not above the floor)."""
    c._out = out = []
    if not c._booted:
        out.append((E.RESULT, False, "not booted"))
    elif c._key is None:
        out.append((E.RESULT, False, "device not provisioned"))
    elif not c._trust["keys"]:
        out.append((E.RESULT, False, trust.NONE))
    elif c._damaged:
        out.append((E.RESULT, False, "state damaged: only an authority reset "
                    "(TAMPER_RESET) is accepted"))
    elif type(counter) is not int or counter <= c._st.cmd_floor:
        out.append((E.RESULT, False, "replayed counter %r (last %d)"
                    % (counter, c._st.cmd_floor)))
    else:
        c._st.cmd_floor = c.counter = counter
        c._save()
    return out


def status(c):
    """A summary for the host (wire STATUS): plain dict of ints, strs and lists."""
    p = c._permit
    st = c._st
    return {
        "locked": c.locked,
        "reasons": c.reasons(),
        "permit": None if p is None else {
            "serial": p.serial, "not_before": p.not_before, "not_after": p.not_after,
            "holders": len(p.holders), "zones": len(p.zones),
            "holder_ids": [h[0] for h in p.holders],
            "zone_list": [[z[0], len(z[1][0]) // 2 if z[1] else 0] for z in p.zones],
            "fail_profile": "fail-enabled" if p.fail_enabled else "fail-secure"},
        "lockout": {"failures": st.fails, "level": st.lock_level,
                    "until": st.lockout_until},
        "tamper": st.tamper,
        "battery_mv": c._battery_mv,
        "fix": None if c._fix is None else list(c._fix[:3]),
        "time": c._wall(),
        "time_trusted": c._clock.trusted(c._rtc),
        "time_floor": c._clock.floor,
        "audit_seq": c._chain.seq,
        "counter": c._st.cmd_floor,
        "trusted_keys": [_hex(k) for k in trust.ids(c._trust)],
        "refusals_pending": c._refusals.pending(),
    }


def _reconcile(blob, tail, read_audit):
    """Boot reconciliation (recovery.py): the record to boot from (a State), rolled
    forward over the audit records stored after it; for a damaged record (kept as
    bytes), the tail gains the highest token serial the stored log proves used and the
    key ids it proves revoked."""
    from firmware.core import recovery  # only when the port passes the audit log
    rec = recovery.boot_record(blob, tail, read_audit)
    if rec is not None and not isinstance(rec, states.State) and len(tail) < 3:
        floor, revoked = recovery.log_scan(read_audit, 1, tail[0])
        tail = (tail[0], tail[1], floor, revoked)
    return rec, tail


# Zone well-formedness, checked once per permit (geo.py's hot paths trust it): the
# authority desk calls the same check (armlock/authority/checks.py).
def check_ring(ring, where="ring"):
    """Raise ValueError (one line, saying where) unless ring is well formed."""
    n = len(ring)
    if n % 2 or n < 6:
        raise ValueError("%s: need >= 3 (lat, lon) pairs, got %d ints" % (where, n))
    wind = 0
    for i in range(0, n, 2):
        la = ring[i]
        lo = ring[i + 1]
        if not (-900000000 <= la <= 900000000 and -geo.HALF <= lo <= geo.HALF):
            raise ValueError("%s: vertex %d (%d, %d) out of range" % (where, i // 2, la, lo))
        j = (i + 2) % n
        if la == ring[j] and lo == ring[j + 1]:
            raise ValueError("%s: vertex %d repeats the next one" % (where, i // 2))
        d = geo.wrap(ring[j + 1] - lo)
        if d == -geo.HALF:
            raise ValueError("%s: edge %d spans 180 deg of longitude" % (where, i // 2))
        wind += d
    if wind != 0 and wind != geo.FULL and wind != -geo.FULL:
        raise ValueError("%s: winds %d times around a pole" % (where, wind // geo.FULL))


def check_zones(zones):
    """Raise ValueError (one line, saying where) unless zones are well formed."""
    for k in range(len(zones)):
        z = zones[k]
        if len(z) != 2 or not isinstance(z[0], bool) or len(z[1]) < 1:
            raise ValueError("zone %d: need (forbidden: bool, [outer, *holes])" % k)
        rings = z[1]
        for j in range(len(rings)):
            check_ring(rings[j], "zone %d ring %d" % (k, j))


def _hex(b):
    return "".join(["%02x" % x for x in b])
