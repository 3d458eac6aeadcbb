"""The key proof: over random event sequences the lock opens only when rules 1-5 hold.

A hypothesis RuleBasedStateMachine drives the controller (through the conftest `Rig`)
with valid, forged, replayed and foreign tokens, recalls and authority resets, good and
bad credentials, fixes inside, near and outside the zones, in a forbidden zone,
imprecise and spoofed, GNSS loss and jamming, time passing in small and large steps,
RTC jumps both ways, tamper, actuator position, battery, grip, faults, ticks at WAKE
deadlines, and reboots from the last persisted record (intact or damaged).

`Oracle` below is written from ARCHITECTURE.md, events.py and config.py alone: it
never calls firmware.core's geo, creds or clock. Zones are axis-aligned lat/lon boxes
(conftest), so containment is four comparisons; generated fixes never fall in the thin
bands where the core's metre-accurate hysteresis and the oracle's boxes could differ,
and a fix whose implied speed is near the plausibility bound is delayed until it is
clearly plausible. Checked after every event:

* every ("actuate", False) follows a pending credential decision that satisfied the
  permit's factor rule, at or after its answer deadline, with rules 1, 2, 4, 5 holding
  strictly (no hysteresis) at that moment, fail-enabled waivers aside;
* while unlocked, the rules still hold (allowing the exit hysteresis and fail-enabled
  waivers), the unlock is younger than max_unlock_s and the grip was not released;
* and, to keep the oracle honest, a due decision whose rules hold does open; tokens are
  accepted exactly when the oracle expects; every credential is answered once, at
  arrival + answer_ms, with the oracle's verdict; wall time, trust, lockout counters
  and the persisted time floor agree with the model.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from conftest import (
    AUTH,
    FORBID,
    HOLE_A,
    OTHER_DEVICE,
    POINTS,
    ROGUE,
    ZONE_A,
    ZONE_B,
    Rig,
    box_ring,
    controller,
    flip_bit,
    permit_fields,
)
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)

from protocols import audit, permit

# Bounds, from config.py DEFAULTS (the oracle's own copy).
FIX_MAX_AGE_MS = 15_000
HACC_MAX = 30
VMAX = 70
HYST_M = 50
SKEW_MAX = 120
RESYNC = 3
RELAY_MAX = 8000
FINGER_MIN = 60
FAIL_MAX = 3
LOCK_BASE = 30
LOCK_CAP = 3600
ANSWER_MS = 250
BATT_LOW = 3500
BATT_CRIT = 3300
FLOOR_INTERVAL = 300
SETTLE_MS = 300          # actuator_settle_ms
# relocks a handler makes before the core's end-of-event checks (the bolt check first)
HANDLER_MOVES = ("boot", "permit_replaced", "recalled", "grip_released", "tamper_enclosure",
                 "tamper_magnet")

R_EARTH = 6371008.8
RFIDS = {1: "04A1B2C3D4E5F6", 2: "04112233445566", 3: "04FFEEDDCCBBAA"}
FINGERS = {1: 3, 2: 7, 3: 11}
TIME_FLOOR_OFFSET = 21  # state record layout (state.py header): time floor, u32 BE


# -- geometry, independent of firmware.core.geo ----------------------------------------

def metres(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Great-circle distance (haversine) between two (lat_e7, lon_e7) points."""
    la1, lo1, la2, lo2 = (math.radians(v / 1e7) for v in (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(
        (lo2 - lo1) / 2) ** 2
    return 2 * R_EARTH * math.asin(math.sqrt(h))


def in_box(p: tuple[int, int], box: tuple[int, int, int, int], margin_m: float = 0) -> bool:
    """Inside the box grown (margin > 0) or shrunk (margin < 0) by margin_m metres."""
    dla = margin_m / 111195.08 * 1e7
    dlo = margin_m / (111195.08 * math.cos(math.radians(p[0] / 1e7))) * 1e7
    return (box[0] - dla < p[0] < box[1] + dla) and (box[2] - dlo < p[1] < box[3] + dlo)


def position_ok(p: tuple[int, int], zones: str, lenient: bool) -> bool:
    """Inside an allowed zone and outside every forbidden one.

    lenient: the exit hysteresis of an open lock, widened by a safety margin so the
    oracle never demands more than the core's hysteresis_m allows.
    """
    m = HYST_M + 15 if lenient else 0
    in_b = in_box(p, ZONE_B, m)
    if zones == "b_only":
        return in_b
    in_a = in_box(p, ZONE_A, m) and not in_box(p, HOLE_A, -m)
    forbidden = in_box(p, FORBID, -m)
    return (in_a or in_b) and not forbidden


ZONE_SETS = {
    "standard": None,  # conftest.standard_zones(): A with hole, F forbidden in A, B
    "b_only": [(False, [box_ring(ZONE_B)])],
}


# -- tokens -----------------------------------------------------------------------------

class Token:
    """A token the test made, and what the oracle knows about it."""

    def __init__(self, blob: bytes, kind: int, serial: int, genuine: bool,
                 fields: dict[str, Any] | None = None, zones: str = "standard") -> None:
        self.blob = blob
        self.kind = kind
        self.serial = serial
        self.genuine = genuine  # authentic, for this device, structurally valid
        self.fields = fields or {}
        self.zones = zones


# -- the oracle -------------------------------------------------------------------------

class Oracle:
    """An independent model of what the lock may do, from the written rules."""

    def __init__(self, rig: Rig, allow_weak: bool) -> None:
        self.rig = rig
        self.allow_weak = allow_weak
        # persisted
        self.permit: Token | None = None
        self.recalled = False
        self.serial_floor = 0
        self.tamper = ""
        self.fails = 0
        self.level = 0
        self.until = 0
        self.floor = 0
        self.damaged = False
        self.storage_damaged = False
        self.max_trusted_wall = 0
        self.reset_volatile()

    def reset_volatile(self) -> None:
        self.corr = 0
        self.skewed = False
        self.resync_n = 0
        self.resync_cls: int | None = None
        self.gnss = "ok"
        self.faulty: set[str] = set()
        self.fix: tuple[int, int, int, int] | None = None  # lat, lon, hacc, mono
        self.fix_bad: str | None = None  # None | "spoof" | "imprecise"
        self.battery = 0
        self.factors: dict[tuple[int, str], int] = {}  # (holder, factor) -> mono
        self.pending: tuple[int, int] | None = None
        self.grip = False
        self.locked = True
        self.cmd_at = 0          # mono of the last actuation
        self.sensed: bool | None = None  # last ACTPOS sent
        self.unlock_mono = 0
        self.unlock_max_ms = 0
        self.lock_mono = 0       # mono until which a lockout holds whatever the clock
        self.gnss_ref: tuple[int, int] | None = None  # (utc, mono) of the last GNSS time

    # -- time ---------------------------------------------------------------------------
    @property
    def mono(self) -> int:
        return self.rig.mono

    @property
    def wall(self) -> int:
        return self.rig.rtc + self.corr

    @property
    def trusted(self) -> bool:
        # a GNSS correction may take time back by up to the skew bound without it
        # counting as a rollback
        return not self.skewed and self.wall >= self.floor - SKEW_MAX

    def gnss_time(self, utc: int, cls: int) -> int | None:
        """Take GNSS time; return the RTC value the core must set, or None."""
        skew = utc - self.wall
        if -SKEW_MAX <= skew <= SKEW_MAX:
            self.corr += skew
            self.skewed = False
            self.resync_n = 0
            return None
        self.resync_n = self.resync_n + 1 if cls == self.resync_cls else 1
        self.resync_cls = cls
        if self.resync_n >= RESYNC and utc >= self.floor:
            self.corr = 0
            self.skewed = False
            self.resync_n = 0
            return utc
        self.skewed = True
        return None

    # -- the rules ------------------------------------------------------------------------
    def fail_enabled(self) -> bool:
        return self.permit is not None and bool(self.permit.fields["fail_enabled"])

    def lockout_active(self) -> bool:
        # whatever the clock's trust: the monotonic deadline or the persisted UTC end
        return self.mono < self.lock_mono or self.wall < self.until

    def position(self, lenient: bool) -> str:
        """"ok", "fail" (not waivable) or "malfunction" (the fail profile decides)."""
        assert self.permit is not None
        if self.gnss != "ok" or "gnss" in self.faulty:
            return "malfunction"
        if self.fix_bad == "spoof":
            return "fail"
        if self.fix is None or self.mono - self.fix[3] > FIX_MAX_AGE_MS:
            return "malfunction"  # no fresh precise fix (an imprecise one replaces nothing)
        return "ok" if position_ok(self.fix[:2], self.permit.zones, lenient) else "fail"

    def blocking(self, lenient: bool) -> list[str]:
        """Why the lock may not be open now (rules 1, 2, 4, 5); empty if it may."""
        r = []
        if self.damaged:
            r.append("damaged")
        if self.tamper:
            r.append("tamper")
        if "actuator" in self.faulty:
            r.append("actuator")
        p = self.permit
        if p is None:
            r.append("recalled" if self.recalled else "no permit")
        if not self.trusted:
            r.append("time untrusted")
        else:
            if p is not None and not (p.fields["not_before"] <= self.wall
                                      <= p.fields["not_after"]):
                r.append("permit not valid now")
        if self.lockout_active():
            r.append("lockout")
        malfunctions = []
        if self.battery == 2:
            malfunctions.append("battery critical")
        if p is not None:
            pos = self.position(lenient)
            if pos == "fail":
                r.append("position")
            elif pos == "malfunction":
                malfunctions.append("position unknown")
        if not self.fail_enabled():
            r += malfunctions
        return r

    def need(self) -> int:
        assert self.permit is not None
        k = self.permit.fields["k"]
        if self.fail_enabled():
            usable = sum(1 for f in ("rfid", "finger") if f not in self.faulty)
            if usable < k:
                k = max(usable, 1)
        return k

    # -- handlers: update the model, return what the core must answer -----------------------
    def credential(self, factor: str, ident: Any, quality: int, strong: bool) -> bool:
        if (self.permit is None or self.lockout_active() or self.tamper or self.damaged):
            return False
        f = self.permit.fields
        holder = None
        ok = False
        for hid, rfids, fingers in f["holders"]:
            if factor == "rfid" and ident.upper() in rfids:
                holder = hid
                ok = (strong or self.allow_weak) and quality <= RELAY_MAX
            if factor == "finger" and ident in fingers:
                holder = hid
                ok = quality >= FINGER_MIN
        if holder is None or not ok:
            self.failed_attempt()
            return False
        # Each holder's factors count separately: another holder's credential in between
        # neither adds to nor cancels them.
        self.factors[(holder, factor)] = self.mono
        window = f["window_s"] * 1000
        have = sum(1 for (h, _f), t in self.factors.items()
                   if h == holder and self.mono - t <= window)
        if self.locked and have >= self.need():
            self.pending = (self.mono + ANSWER_MS, holder)
            self.fails = 0
            self.level = 0
        return True

    def failed_attempt(self) -> None:
        self.fails += 1
        if self.fails >= FAIL_MAX:
            self.fails = 0
            self.level += 1
            d = LOCK_CAP if self.level > 24 else min(LOCK_BASE * 2 ** (self.level - 1),
                                                     LOCK_CAP)
            self.until = self.wall + d
            self.lock_mono = self.mono + d * 1000
            self.factors = {}

    def failed_read(self) -> bool:
        """A read the sensor could not turn into a credential counts like a refused one,
        when credentials are evaluated at all; the answer is always no."""
        if not (self.permit is None or self.lockout_active() or self.tamper or self.damaged):
            self.failed_attempt()
        return False

    def token(self, tok: Token) -> bool:
        ok = (tok.genuine and tok.serial > self.serial_floor
              and (not self.damaged or tok.kind == permit.KIND_RESET)
              and not (tok.kind == permit.KIND_PERMIT and self.trusted
                       and self.wall > tok.fields["not_after"]))
        if not ok:
            return False
        self.serial_floor = tok.serial
        if tok.kind == permit.KIND_PERMIT:
            self.permit = tok
            self.recalled = False
            self.factors = {}
            self.pending = None
        elif tok.kind == permit.KIND_RECALL:
            self.permit = None
            self.recalled = True
        else:
            self.tamper = ""
            self.fails = self.level = self.until = 0
            self.lock_mono = 0
            self.damaged = False
            self.storage_damaged = False
        return True

    def fix_event(self, lat: int, lon: int, hacc: int, utc: int | None,
                  cls: int) -> int | None:
        self.gnss = "ok"
        if self.fix is not None:
            dt = abs(self.mono - self.fix[3]) / 1000
            if metres(self.fix[:2], (lat, lon)) > VMAX * dt + self.fix[2] + hacc:
                self.fix_bad = "spoof"
                return None
        if hacc > HACC_MAX:
            self.fix_bad = "imprecise"
            return None
        if utc is not None and self.old_fix(utc):
            self.fix_bad = "stale"  # its own time is old: replaces nothing, sets no clock
            return None
        self.fix_bad = None
        self.fix = (lat, lon, hacc, self.mono)
        if utc is not None:
            rtc = self.gnss_time(utc, cls)
            if not self.skewed:
                self.gnss_ref = (utc, self.mono)
            return rtc
        return None

    def old_fix(self, utc: int) -> bool:
        if self.gnss_ref is not None:
            now = self.gnss_ref[0] + (self.mono - self.gnss_ref[1]) // 1000
        elif self.trusted:
            now = self.wall
        else:
            return False
        return now - SKEW_MAX <= utc < now - FIX_MAX_AGE_MS // 1000

    def boot(self, blob: bytes | None) -> None:
        self.reset_volatile()
        if self.storage_damaged:
            self.damaged = True
            self.permit = None
            self.recalled = False
            self.serial_floor = 0
            self.tamper = ""
            self.fails = self.level = self.until = 0
            self.floor = 0
        else:
            self.floor = persisted_floor(blob) if blob else 0
            if self.until > self.rig.rtc:
                self.lock_mono = self.mono + (self.until - self.rig.rtc) * 1000

    def ambiguous_jump(self, p: tuple[int, int], hacc: int) -> float:
        """Seconds to wait so that a fix at p is clearly plausible; 0 if it is clear now."""
        if self.fix is None:
            return 0
        d = metres(self.fix[:2], p)
        slack = self.fix[2] + hacc
        dt = (self.mono - self.fix[3]) / 1000
        allowed = VMAX * dt + slack
        if 0.8 * allowed <= d <= 1.25 * allowed:
            return max(0.0, (2 * d - slack) / VMAX - dt) + 1
        return 0


def persisted_floor(blob: bytes) -> int:
    return struct.unpack_from(">I", blob, TIME_FLOOR_OFFSET)[0]


# -- the machine ------------------------------------------------------------------------

WINDOWS = {  # (not_before, not_after) relative to true UTC at issue
    "current": (-3600, 8 * 3600),
    "short": (-60, 240),
    "expired": (-3 * 3600, -3600),
    "future": (600, 4 * 3600),
}
RULES = {"all": (permit.MODE_ALL, 2), "any": (permit.MODE_ANY, 1),
         "k1": (permit.MODE_KOFN, 1), "k2": (permit.MODE_KOFN, 2)}
GNSS_SEEN = {"lost": (5000, 5000, 0, -1), "jammed": (200, 40_000, 1, 20),
             "ok": (200, 400, 9, 44)}  # (silent_ms, nofix_ms, sats, cn0_dbhz)
GNSS_OFFSETS = [0, 0, 0, 0, 0, None, None, 600, -600, 86400, 40]
POINT_NAMES = ["in", "in", "in", "in_edge", "in_b", "out_near", "out_beyond", "out_far",
               "hole_deep", "hole_edge", "forbid_deep", "forbid_edge", "spoof"]


class LockMachine(RuleBasedStateMachine):
    """Random event sequences against one lock, checked against the Oracle."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[Token] = []
        self.next_serial = 1
        self.damages = 0
        self.chain_starts = [0]
        self.last_kind = 0

    # -- plumbing -----------------------------------------------------------------------
    def step(self, ev: tuple, expect_result: bool | None = None,
             expect_answer: bool | None = None, expect_rtc: int | None = None) -> list[tuple]:
        o = self.oracle
        was_locked = o.locked
        self.cmd_before = o.cmd_at
        grip_released = ev[0] == "grip" and ev[1] is False and o.grip and not o.locked
        acts = self.rig.send(ev)
        self.check(ev, acts, was_locked, expect_result, expect_answer, expect_rtc,
                   grip_released)
        return acts

    def check(self, ev: tuple, acts: list[tuple], was_locked: bool,
              expect_result: bool | None, expect_answer: bool | None,
              expect_rtc: int | None, grip_released: bool) -> None:
        o = self.oracle
        where = "after %r at mono %d" % (ev, o.mono)
        res = [a for a in acts if a[0] == "result"]
        if expect_result is not None:
            assert [r[1] for r in res] == [expect_result], (where, res)
        else:
            assert res == [], (where, res)
        answers = [a for a in acts if a[0] == "answer"]
        if expect_answer is not None:
            assert answers == [("answer", o.mono + ANSWER_MS, expect_answer)], (where, answers)
        else:
            assert answers == [], (where, answers)
        sets = [a[1] for a in acts if a[0] == "set_rtc"]
        assert sets == ([] if expect_rtc is None else [expect_rtc]), (where, sets)
        persists = [a[1] for a in acts if a[0] == "persist"]
        if o.damaged:
            assert persists == [], (where, "a damaged record must be kept")
        elif persists:
            o.floor = persisted_floor(persists[-1])
        # the bolt is classified first: a forced bolt latches before any unlock decision
        self.check_bolt(acts, was_locked, where)
        # the pending decision falls due at this event's end
        opened = [a for a in acts if a[:2] == ("actuate", False)]
        assert all(a[2] == "authorised" for a in opened), (where, opened)
        due = o.pending is not None and o.mono >= o.pending[0]
        if opened:
            assert was_locked and len(opened) == 1, (where, acts)
            assert due, (where, "opened without a due credential decision", o.pending)
            blocking = o.blocking(lenient=False)
            assert blocking == [], (where, "opened while", blocking)
            event("opened")
            o.unlock_mono = o.mono
            assert o.permit is not None
            o.unlock_max_ms = o.permit.fields["max_unlock_s"] * 1000
            o.factors = {}
        elif due:
            assert o.blocking(lenient=False) != [], (where, "a valid decision did not open")
        if due:
            o.pending = None
        codes = [audit.decode(a[1])[2] for a in acts if a[0] == "audit"]
        if opened:
            assert "unlock" in codes, (where, codes)
        relocks = [a[2] for a in acts if a[:2] == ("actuate", True)]
        if ev[0] != "boot" and relocks:
            assert "relock" in codes, (where, codes)
            # the action carries the reason of the relock record, exactly
            details = [audit.decode(a[1])[3] for a in acts if a[0] == "audit"
                       and audit.decode(a[1])[2] == "relock"]
            assert ["reason=" + r for r in relocks] == details, (where, relocks, details)
        if res:
            # a refusal is audited or counted into its window (firmware/core/refusals.py);
            # a time record (rollback seen at this event) or the actuator's tamper latch
            # (a forced bolt classified once it had time to settle) may come first
            # and a decision that fell due at this event's end follows a grouped refusal
            late = ("time", "tamper") + (("unlock", "deny", "fail_profile") if due else ())
            codes = [c for c in codes if c not in late]
            assert codes[:1] in (([], ["permit_refused"]) if not res[0][1] else
                                 ([{1: "permit_loaded", 2: "recall", 3: "tamper_reset"}[
                                     self.last_kind]],)) or "relock" in codes, (where, codes)
        acts_lock = [a[1] for a in acts if a[0] == "actuate"]
        if acts_lock:
            o.locked = acts_lock[-1]
            o.cmd_at = o.mono
        if ev[0] == "boot":
            assert acts_lock == [True], (where, acts)
        if grip_released:
            assert o.locked, (where, "grip released but still open")
        if not o.locked:
            blocking = o.blocking(lenient=True)
            assert blocking == [], (where, "open while", blocking)
            assert o.mono < o.unlock_mono + o.unlock_max_ms, (where, "open past max_unlock_s")
        # the model's clock and counters agree with the core's
        status = self.rig.c.status()
        assert status["time"] == o.wall, (where, status["time"], o.wall)
        assert status["time_trusted"] == o.trusted, (where, status, o.floor)
        assert status["locked"] == o.locked
        assert status["lockout"] == {"failures": o.fails, "level": o.level,
                                     "until": o.until}, (where, status["lockout"])
        assert status["tamper"] == o.tamper
        if o.damaged:
            if o.trusted and o.wall - o.floor >= FLOOR_INTERVAL:
                o.floor = o.wall  # not persisted while damaged; the model follows the rule
        elif o.trusted:
            o.max_trusted_wall = max(o.max_trusted_wall, o.wall)
            # the floor never runs ahead of trusted time by more than a GNSS correction
            assert o.wall - FLOOR_INTERVAL < o.floor <= o.max_trusted_wall + SKEW_MAX, \
                (where, o.floor)

    def check_bolt(self, acts: list[tuple], was_locked: bool, where: str) -> None:
        """A sensed bolt that disagrees with the command once it had SETTLE_MS is classified
        at the start of the event's end checks: forced open while locked is the tamper
        latch "actuator", stuck locked while open a fault that relocks; nothing else is."""
        o = self.oracle
        recs = [audit.decode(a[1]) for a in acts if a[0] == "audit"]
        stuck = [r for r in recs if r[2] == "actuator"]
        forced = [r for r in recs if r[2] == "tamper" and r[3] == "source=actuator latched"]
        moved = any(a[0] == "actuate" and a[2] in HANDLER_MOVES for a in acts)
        due = (o.sensed is not None and o.sensed != was_locked and not moved
               and o.mono - self.cmd_before >= SETTLE_MS)
        if due and was_locked:
            assert forced or o.tamper, (where, "forced bolt not latched")
            o.tamper = o.tamper or "actuator"
        else:
            assert forced == [], (where, forced)
        if due and not was_locked:
            assert stuck and [a[2] for a in acts if a[0] == "actuate"][:1] == \
                ["actuator_fault"], (where, "stuck bolt not relocked", acts)
        else:
            assert stuck == [], (where, stuck)

    def advance(self, ms: int, honour_wake: bool = True) -> None:
        """Let time pass; a punctual host ticks at every WAKE deadline on the way."""
        rig = self.rig
        target = rig.t_ms + ms
        for _ in range(50):
            w = rig.wake_at
            if not honour_wake or w is None:
                break
            at = rig.boot_ms + w
            if at > target or at <= self.last_wake_tick or at < rig.t_ms:
                break
            rig.t_ms = at
            self.last_wake_tick = at
            self.step(("tick",))
        rig.t_ms = max(rig.t_ms, target)

    def issue(self, kind: int, genuine: bool = True, **over: Any) -> Token:
        serial = self.next_serial
        self.next_serial += 1
        if kind == permit.KIND_PERMIT:
            fields = permit_fields(serial, **over)
            blob = permit.encode(fields, AUTH)
            zones = "b_only" if fields["zones"] == ZONE_SETS["b_only"] else "standard"
            holders = [(h, tuple(c.upper() for c in r), tuple(f)) for h, r, f in
                       fields["holders"]]
            fields = dict(fields, holders=holders)
            tok = Token(blob, kind, serial, genuine, fields, zones)
        else:
            blob = permit.encode(dict(kind=kind, device_id=self.rig.device, serial=serial,
                                      not_before=self.rig.utc), AUTH)
            tok = Token(blob, kind, serial, genuine)
        self.tokens.append(tok)
        return tok

    def permit_over(self, window: str, fail_enabled: bool, rule_name: str, holders: str,
                    zones: str, max_unlock: int, window_s: int) -> dict[str, Any]:
        nb, na = WINDOWS[window]
        mode, k = RULES[rule_name]
        hs = [(1, (RFIDS[1],), (FINGERS[1],))]
        if holders == "two":
            hs.append((2, (RFIDS[2],), (FINGERS[2],)))
        over: dict[str, Any] = dict(
            not_before=self.rig.utc + nb, not_after=self.rig.utc + na,
            fail_enabled=fail_enabled, rule_mode=mode, k=k, holders=hs,
            max_unlock_s=max_unlock, window_s=window_s)
        if zones != "standard":
            over["zones"] = ZONE_SETS[zones]
        return over

    def send_token(self, tok: Token) -> None:
        self.last_kind = tok.kind
        expect = self.oracle.token(tok)
        self.step(("permit", tok.blob), expect_result=expect)

    # -- setup --------------------------------------------------------------------------
    @initialize(fail_enabled=st.booleans(), rule_name=st.sampled_from(sorted(RULES)),
                allow_weak=st.booleans(), holders=st.sampled_from(["one", "two"]))
    def setup(self, fail_enabled: bool, rule_name: str, allow_weak: bool,
              holders: str) -> None:
        self.rig = Rig({"allow_weak_rfid": allow_weak})
        self.oracle = Oracle(self.rig, allow_weak)
        self.last_wake_tick = -1
        self.oracle.boot(None)
        self.step(("boot", None, "power_on"))
        over = self.permit_over("current", fail_enabled, rule_name, holders, "standard",
                                600, 30)
        self.send_token(self.issue(permit.KIND_PERMIT, **over))
        self.do_fix("in", 0, 5, 0)

    # -- tokens ---------------------------------------------------------------------------
    @rule(window=st.sampled_from(["current", "current", "short", "expired", "future"]),
          fail_enabled=st.booleans(), rule_name=st.sampled_from(sorted(RULES)),
          holders=st.sampled_from(["one", "two"]),
          zones=st.sampled_from(["standard", "standard", "b_only"]),
          max_unlock=st.sampled_from([1, 5, 60, 600]), window_s=st.sampled_from([2, 30]))
    def new_permit(self, window: str, fail_enabled: bool, rule_name: str, holders: str,
                   zones: str, max_unlock: int, window_s: int) -> None:
        over = self.permit_over(window, fail_enabled, rule_name, holders, zones,
                                max_unlock, window_s)
        self.send_token(self.issue(permit.KIND_PERMIT, **over))

    @rule(bit=st.integers(0, 10**6))
    def forged_permit(self, bit: int) -> None:
        over = self.permit_over("current", True, "any", "two", "standard", 600, 30)
        tok = self.issue(permit.KIND_PERMIT, genuine=False, **over)
        tok.blob = flip_bit(tok.blob, bit % (8 * len(tok.blob)))
        self.send_token(tok)

    @rule()
    def foreign_permit(self) -> None:
        over = self.permit_over("current", True, "any", "two", "standard", 600, 30)
        fields = permit_fields(self.next_serial, **over)
        self.next_serial += 1
        for dev, key in ((OTHER_DEVICE, ROGUE), (OTHER_DEVICE, AUTH),
                         (self.rig.device, ROGUE)):
            blob = permit.encode(dict(fields, device_id=dev), key)
            self.send_token(Token(blob, permit.KIND_PERMIT, fields["serial"], False))

    @precondition(lambda self: len(self.tokens) > 0)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        self.send_token(data.draw(st.sampled_from(self.tokens)))

    @rule()
    def recall(self) -> None:
        self.send_token(self.issue(permit.KIND_RECALL))

    @rule()
    def authority_reset(self) -> None:
        self.send_token(self.issue(permit.KIND_RESET))

    # -- credentials ---------------------------------------------------------------------
    def present(self, holder: int, factor: str, quality: str) -> None:
        o = self.oracle
        if factor == "rfid":
            rtt = 9000 if quality == "relay" else 8000 if quality == "edge" else 1200
            strong = quality != "weak"
            expect = o.credential("rfid", RFIDS[holder], rtt, strong)
            self.step(("rfid", RFIDS[holder], rtt, strong), expect_answer=expect)
        else:
            score = 40 if quality == "low" else FINGER_MIN if quality == "edge" else 95
            expect = o.credential("finger", FINGERS[holder], score, True)
            self.step(("finger", FINGERS[holder], score), expect_answer=expect)

    @rule(holder=st.sampled_from([1, 1, 2, 3]), factor=st.sampled_from(["rfid", "finger"]),
          quality=st.sampled_from(["good", "good", "edge", "weak", "relay", "low"]))
    def credential(self, holder: int, factor: str, quality: str) -> None:
        self.present(holder, factor, quality)

    @rule(kind=st.sampled_from(["rfid_fail", "finger_fail"]))
    def failed_read(self, kind: str) -> None:
        """A card that failed authentication, or a finger nobody enrolled."""
        self.step((kind, "read failed"), expect_answer=self.oracle.failed_read())

    @rule(holder=st.sampled_from([1, 1, 2]), gap=st.sampled_from([300, 1000, 2500]))
    def authenticate(self, holder: int, gap: int) -> None:
        """Both factors of one holder, then a tick at the answer deadline."""
        self.present(holder, "rfid", "good")
        self.advance(gap)
        self.present(holder, "finger", "good")
        self.advance(ANSWER_MS)
        self.step(("tick",))

    @rule(holder=st.sampled_from([1, 2]), kind=st.sampled_from(["permit", "recall", "reset"]),
          zones=st.sampled_from(["standard", "b_only"]), holders=st.sampled_from(["one", "two"]))
    def token_races_decision(self, holder: int, kind: str, zones: str, holders: str) -> None:
        """A token arrives between a credential decision and its answer deadline."""
        self.present(holder, "rfid", "good")
        self.present(holder, "finger", "good")
        if kind == "permit":
            over = self.permit_over("current", False, "all", holders, zones, 600, 30)
            self.send_token(self.issue(permit.KIND_PERMIT, **over))
        else:
            self.send_token(self.issue(permit.KIND_RECALL if kind == "recall"
                                       else permit.KIND_RESET))
        self.advance(ANSWER_MS)
        self.step(("tick",))

    @rule(zones=st.sampled_from(["standard", "b_only"]), holders=st.sampled_from(["one", "two"]),
          holder=st.sampled_from([1, 2]))
    def new_permit_then_use(self, zones: str, holders: str, holder: int) -> None:
        """A new permit, then credentials at once, with the fix taken under the old one."""
        over = self.permit_over("current", False, "all", holders, zones, 600, 30)
        self.send_token(self.issue(permit.KIND_PERMIT, **over))
        self.authenticate(holder, 300)

    @rule(holder=st.sampled_from([1, 1, 2]), where=st.sampled_from(["in", "in_edge", "in_b"]),
          gap=st.sampled_from([300, 1000]), hold=st.booleans(), release=st.booleans())
    def go_and_use(self, holder: int, where: str, gap: int, hold: bool, release: bool) -> None:
        """The everyday path: a good fix, then both factors (gripping the weapon or not),
        the answer deadline, and perhaps letting go."""
        self.do_fix(where, 0, 5, 0)
        if hold:
            self.grip(True)
        self.authenticate(holder, gap)
        if release:
            self.advance(500)
            self.grip(False)

    # -- position and time ------------------------------------------------------------------
    def do_fix(self, name: str, jitter: int, hacc: int, offset: int | None) -> None:
        lat, lon = POINTS[name]
        self.fix_at((lat + jitter, lon - jitter), hacc, offset)

    def fix_at(self, p: tuple[int, int], hacc: int, offset: int | None) -> None:
        wait = self.oracle.ambiguous_jump(p, hacc)
        if wait:
            self.advance(int(wait * 1000))
        utc = None if offset is None else self.rig.utc + offset
        expect_rtc = self.oracle.fix_event(p[0], p[1], hacc, utc, offset or 0)
        self.step(("fix", p[0], p[1], hacc, utc), expect_rtc=expect_rtc)

    @rule(name=st.sampled_from(POINT_NAMES), jitter=st.integers(-200, 200),
          hacc=st.sampled_from([3, 5, 10, 30, 31, 80]), offset=st.sampled_from(GNSS_OFFSETS))
    def fix(self, name: str, jitter: int, hacc: int, offset: int | None) -> None:
        self.do_fix(name, jitter, hacc, offset)

    @precondition(lambda self: self.oracle.fix is not None)
    @rule(to=st.sampled_from(POINT_NAMES[:-1]), speed=st.sampled_from([3, 30]))
    def travel(self, to: str, speed: int) -> None:
        """Move to a named place at a plausible speed, a good fix every few seconds."""
        fix = self.oracle.fix
        assert fix is not None
        a, b = fix[:2], POINTS[to]
        n = min(10, max(1, math.ceil(metres(a, b) / (speed * 3))))
        dt_ms = max(1000, int(metres(a, b) / (n * speed) * 1000))
        edges = {ZONE_A[0], ZONE_A[1], HOLE_A[0], HOLE_A[1], FORBID[0], FORBID[1],
                 ZONE_B[0], ZONE_B[1], ZONE_A[2], ZONE_A[3], HOLE_A[2], HOLE_A[3],
                 FORBID[2], FORBID[3], ZONE_B[2], ZONE_B[3]}
        for i in range(1, n + 1):
            lat = a[0] + (b[0] - a[0]) * i // n
            lon = a[1] + (b[1] - a[1]) * i // n
            lat += lat in edges  # never exactly on an edge: the boundary rule is the core's
            lon += lon in edges
            self.advance(dt_ms)
            self.fix_at((lat, lon), 5, 0)

    @rule(status=st.sampled_from(["lost", "jammed", "ok"]))
    def gnss(self, status: str) -> None:
        """A GNSS observation the core classifies as `status` (default thresholds)."""
        self.oracle.gnss = status
        self.step(("gnss",) + GNSS_SEEN[status])

    @rule(silent=st.sampled_from([0, 3000, 3001, 60_000]),
          nofix=st.sampled_from([-1, 0, 3000, 3001, 29_999, 30_000, 90_000]),
          sats=st.sampled_from([0, 3, 4, 12]), cn0=st.sampled_from([-1, 30, 31, 45]))
    def gnss_observed(self, silent: int, nofix: int, sats: int, cn0: int) -> None:
        """Any observation, near every threshold (defaults: 3 s, 30 s, 3 sats, 30 dB-Hz)."""
        if silent > 3000:
            status = "lost"
        elif nofix < 0:
            status = "ok"
        elif nofix >= 30_000 and sats <= 3 and cn0 <= 30:
            status = "jammed"
        else:
            status = "lost" if nofix > 3000 else "ok"
        before = self.oracle.gnss
        self.oracle.gnss = status
        acts = self.step(("gnss", silent, nofix, sats, cn0))
        said = [audit.decode(a[1])[3].split(" ")[0] for a in acts if a[0] == "audit"
                and audit.decode(a[1])[2] == "gnss"]
        assert said == ([] if status == before else [status]), (before, status, said)

    @rule(ms=st.sampled_from([50, 250, 1000, 4000, 14_000, 16_000, 60_000, 400_000,
                              3_600_000, 4 * 3_600_000]), honour_wake=st.booleans())
    def wait(self, ms: int, honour_wake: bool) -> None:
        self.advance(ms, honour_wake)

    @rule()
    def tick(self) -> None:
        self.step(("tick",))

    @precondition(lambda self: self.rig.wake_at is not None)
    @rule()
    def tick_at_wake(self) -> None:
        at = self.rig.boot_ms + self.rig.wake_at
        if at > self.rig.t_ms:
            self.rig.t_ms = at
        self.step(("tick",))

    @rule(delta=st.sampled_from([-30, 30, -200, 200, -5000, 5000, -86400]))
    def rtc_jump(self, delta: int) -> None:
        self.rig.rtc_err += delta

    # -- tamper, battery, grip, faults --------------------------------------------------------
    @rule(source=st.sampled_from(["enclosure", "magnet"]))
    def tamper(self, source: str) -> None:
        if not self.oracle.tamper:
            self.oracle.tamper = source
        self.step(("tamper", source))

    @rule(agrees=st.booleans())
    def actuator_position(self, agrees: bool) -> None:
        o = self.oracle
        pos_locked = o.locked if agrees else not o.locked
        o.sensed = pos_locked
        self.step(("actpos", pos_locked))

    @rule(mv=st.sampled_from([4100, 3600, 3500, 3400, 3301, 3300, 3100]))
    def battery(self, mv: int) -> None:
        self.oracle.battery = 2 if mv <= BATT_CRIT else 1 if mv <= BATT_LOW else 0
        self.step(("battery", mv))

    @rule(held=st.booleans())
    def grip(self, held: bool) -> None:
        self.step(("grip", held))
        self.oracle.grip = held

    @rule(sensor=st.sampled_from(["rfid", "finger", "gnss", "actuator"]), ok=st.booleans())
    def fault(self, sensor: str, ok: bool) -> None:
        if ok:
            self.oracle.faulty.discard(sensor)
        else:
            self.oracle.faulty.add(sensor)
        self.step(("fault", sensor, ok))

    # -- power ------------------------------------------------------------------------------
    @rule(ms=st.sampled_from([100, 5000, 600_000]))
    def reboot(self, ms: int) -> None:
        self.rig.advance(ms)
        self.rig.c = controller(self.rig.device, self.rig.key, self.rig.config)
        self.rig.boot_ms = self.rig.t_ms
        self.rig.wake_at = None
        self.last_wake_tick = -1
        if self.oracle.storage_damaged:  # without a head to continue from, a new chain
            self.chain_starts.append(len(self.rig.records))
        self.oracle.boot(self.rig.blob)
        self.step(("boot", self.rig.blob, "power_on", None, None, tuple(self.rig.permits)))

    @precondition(lambda self: self.rig.blob is not None and self.damages < 2)
    @rule(pos=st.integers(0, 10**6), truncate=st.booleans())
    def reboot_damaged(self, pos: int, truncate: bool) -> None:
        self.damages += 1
        blob = self.rig.blob
        assert blob is not None
        if not blob:
            self.rig.blob = b"\x00"
        elif self.oracle.storage_damaged:  # damage it further (a second flip could undo it)
            self.rig.blob = blob[:-1]
        elif truncate:
            self.rig.blob = blob[:pos % len(blob)]
        else:
            self.rig.blob = flip_bit(blob, pos % (8 * len(blob)))
        self.oracle.storage_damaged = True
        self.reboot(100)

    def teardown(self) -> None:
        """Every run of the audit log verifies (a damaged state record restarts the chain)."""
        if not hasattr(self, "rig"):
            return
        recs = self.rig.records
        bounds = [*self.chain_starts, len(recs)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            head = self.rig.c.audit_head if b == len(recs) else None
            assert audit.verify(recs[a:b], self.rig.device, head) == [], (a, b)


def run_machine(max_examples: int, steps: int) -> None:
    LockMachine.TestCase.settings = settings(
        max_examples=max_examples, stateful_step_count=steps, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    LockMachine.TestCase().runTest()


def test_lock_opens_only_when_the_rules_hold() -> None:
    run_machine(500, 50)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # 3,000 runs: minutes, longer on a loaded machine
def test_lock_opens_only_when_the_rules_hold_soak() -> None:
    run_machine(3000, 80)
