# The host commands of firmware/app/device.py (protocols/SPEC.md; the handling order is
# in device.py's header): decode and check a command frame, carry it to the core or the
# store, reply. Functions of the Device `dev`; device.py imports this module only when a
# command frame (or a bad chunk) arrives, or for status(), so a lock that no host talks
# to does not keep it (MicroPython and CPython).

import struct

from firmware.core import events as E
from protocols import message_set as M
from protocols import msg_types as T
from protocols.errors import E_BUSY, E_INTERNAL, E_MODE, E_REFUSED, E_UNKNOWN_TYPE

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_MAX_TEXT = const(160)    # longest ERROR message / log text sent (they may quote input)
MAX_READ = 24             # audit records read per AUDIT_READ (more never fit 1019 bytes)
_TOKENS = (T.LOAD_PERMIT, T.RECALL, T.TAMPER_RESET)   # carry a signed token to the core


def command(dev, fr, mono_ms, rtc_s):
    """Handle one (type, seq, payload) frame from a host: exactly one reply.

    Out of heap where nothing changes (decoding, checking its seal, a query: INFO,
    STATUS, PING, AUDIT_READ): a busy ERROR, nothing audited. Out of heap once the core or
    the store acts (a sealed command's counter, a token): raised, as for any core step
    (device.py: the app stops)."""
    typ, seq = fr[0], fr[1]
    acting = False
    try:
        if typ == T.STIMULUS and dev.mode == "field":
            raise M.MessageError("STIMULUS is refused in field mode", E_MODE)
        if typ == T.REBOOT and dev.mode != "dev":
            raise M.MessageError("REBOOT is refused in %s mode" % dev.mode, E_MODE)
        typ, seq, f = M.decode_msg(fr, dev.key, dev.ctl.counter, True)
        c = f.get("counter")  # type: ignore  # (a checked map: dict)
        dev._results = []
        acting = c is not None or typ in _TOKENS
        # the core's new floor is persisted before acting (a failed write raises)
        if c is not None and not dev.accept_counter(c, mono_ms, rtc_s):
            raise M.MessageError(dev._results[-1][1], E_REFUSED)
        dev._results = []
        dispatch(dev, typ, seq, f, mono_ms, rtc_s)
    except MemoryError:
        if acting:
            raise
        error(dev, seq, M.MessageError("busy: out of memory, send it again", E_BUSY))
    except Exception as exc:  # every failure is one ERROR reply naming it
        if isinstance(exc, M.MessageError):
            # nobody authenticated it: audited, aggregated (firmware/core/refusals.py)
            dev.carry(dev.ctl.refused("command", "%s: %s" % (
                M.type_name(typ), exc), mono_ms, rtc_s + dev.rtc_offset), mono_ms, rtc_s)
        error(dev, seq, exc)
    dev._results = []


def error(dev, seq, exc):
    """The ERROR reply for an exception (its message cut to _MAX_TEXT)."""
    f = M.error_fields(exc)
    if len(f["message"]) > _MAX_TEXT:  # it may quote the offending input
        f["message"] = f["message"][:_MAX_TEXT] + "..."
    try:
        dev._send(T.ERROR, seq, f)
    except Exception:
        try:
            dev._send(T.ERROR, seq, {"code": E_INTERNAL, "message": "unreportable error"})
        except MemoryError:  # no heap even for that: no reply, the device runs on
            dev.busy += 1


def dispatch(dev, typ, seq, f, mono_ms, rtc_s):
    if typ == T.INFO:
        dev._send(T.INFO_REPLY, seq, {
            "device_id": dev.device_id, "fw_version": dev.fw_version,
            "mode": dev.mode, "runtime": dev.runtime, "proto": T.PROTO_VERSION})
    elif typ == T.STATUS:
        dev._send(T.STATUS_REPLY, seq, status(dev, mono_ms, rtc_s))
    elif typ == T.PING:
        dev._send(T.OK, seq, {})
    elif typ in _TOKENS:
        dev._run((E.PERMIT, f["token"]), mono_ms, rtc_s)
        reply_result(dev, seq)
    elif typ == T.AUDIT_READ:
        audit_read(dev, seq, f["from_seq"], f["count"])
    elif typ == T.AUDIT_ACK:
        dev.store.ack_audit(f["upto_seq"])
        dev._send(T.OK, seq, {})
    elif typ == T.STIMULUS:
        stimulus(dev, seq, f, mono_ms, rtc_s)
    elif typ == T.REBOOT:
        dev.reboot_requested = True
        dev._send(T.OK, seq, {})
    else:
        raise M.MessageError("%s: not handled by this device" % M.type_name(typ),
                             E_UNKNOWN_TYPE)


def reply_result(dev, seq):
    for r in dev._results:
        if not r[0]:
            dev._send(T.ERROR, seq, {"code": E_REFUSED, "message": r[1]})
            return
    dev._send(T.OK, seq, {})


def audit_read(dev, seq, from_seq, count):
    st = dev.store
    recs = st.read_audit(from_seq, count if count < MAX_READ else MAX_READ)
    first = struct.unpack_from(">I", recs[0], 0)[0] if recs else from_seq
    n = M.records_that_fit(first, recs)
    if n < len(recs):
        recs = recs[:n]
    more = bool(recs) and first + len(recs) - 1 < st.last_seq()
    dev._send(T.AUDIT_RECORDS, seq, {"first_seq": first, "records": recs, "more": more})


def stimulus(dev, seq, f, mono_ms, rtc_s):
    kind = f["kind"]
    if kind == "time":
        dev.set_rtc(f["utc_s"], rtc_s)
        # the core sees the new time at once (a rollback relocks now, not at a tick)
        dev._run((E.TICK,), mono_ms, f["utc_s"] - dev.rtc_offset)
        dev._send(T.OK, seq, {})
        return
    if kind == "nmea":
        if dev._nmea is None:
            from firmware.drivers.nmea import NMEA
            dev._nmea = NMEA()
        evs = dev._nmea.feed((f["sentence"].strip() + "\r\n").encode(), mono_ms)
        evs.append(dev._nmea.observe(mono_ms))  # what the receiver shows now
    else:
        evs = (M.stimulus_event(f),)
    for ev in evs:
        dev._run(ev, mono_ms, rtc_s)
    reply_result(dev, seq)


def status(dev, mono_ms, rtc_s):
    """STATUS_REPLY fields, from the core's status()."""
    s = dev.ctl.status()
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
    fu = dev._fix_utc
    utc = fu[2] if fix is not None and fu is not None and fu[0] == fix[0] \
        and fu[1] == fix[1] else None
    mv = s["battery_mv"]
    return {
        "locked": dev.locked,
        "reasons": s["reasons"],
        "permit": permit,
        "lockout": {"failures": lo["failures"], "until": until},
        "tamper": {"latched": bool(s["tamper"]), "source": s["tamper"] or None},
        "battery_mv": mv if mv is not None and 0 <= mv <= 0xFFFF else 0,
        "last_fix": None if fix is None else {
            "lat_e7": fix[0], "lon_e7": fix[1], "hacc_m": fix[2], "utc_s": utc},
        "last_counter": s["counter"],
    }
