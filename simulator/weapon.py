"""One weapon's life: issues, legitimate uses, returns, and (maybe) a diversion with the
new holder's attempts. Every lock decision comes from the firmware core via Device."""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import Any

from protocols.audit import decode as audit_decode
from protocols.permit import SIG_LEN
from protocols.permit import encode as permit_encode
from simulator import adversaries as adv
from simulator.causes import CAUSES
from simulator.causes import cause as denial_cause
from simulator.device import Device
from simulator.diverted import Diverted
from simulator.keys import authority, device_key_of
from simulator.metrics import Tally
from simulator.policies import Policy
from simulator.sensors import Battery, Finger, Gnss, Rfid, Rtc
from simulator.world import Shift, World, rng_for

BATTERY_REPORT_MV = 50   # the board reports the battery when it moved this much
USE_MARGIN_S = 600       # a use (tries + hold) is over well within this
# counted per weapon (each weapon is a cluster of tries and uses, simulator/stats.py)
WEAPON_COUNTERS = ("tries", "denials", "uses", "uses_failed", "interrupted", "unavailable",
                   "permits", "battery_uah") + tuple("deny_" + c for c in CAUSES)


class Context:
    """What every weapon of one (scenario, policy, run) shares."""

    def __init__(self, data: dict[str, Any], policy: Policy, seed: int, run: int,
                 master: bytes, core_cfg: dict[str, Any], config: dict[str, Any]) -> None:
        self.data = data
        self.policy = policy
        self.seed = seed
        self.run = run
        self.master = master
        self.cfg = core_cfg          # merged core config (read-only: how often fixes must flow)
        self.config = config         # overrides handed to the core
        self.world = World(data)
        self.gnss = Gnss(data, self.world.zones)
        self.finger = Finger(data)
        self.rfid = Rfid(data)
        self.start_utc = int(data["scenario"]["start_utc"])
        self.rings = {n: z.ring_e7 for n, z in self.world.zones.items()}
        self.zones = policy.zones(self.rings, data["permits"]["allowed_zones"],
                                  data["permits"]["forbidden_zones"])
        self.fix_every = max(1, core_cfg["fix_max_age_s"] - 2)
        self.fix_s = float(data["gnss"]["fix_s"])


class PermitTemplate:
    """A weapon's permits differ only in serial and validity: encode (and validate) the
    first with protocols.permit.encode, then splice the three fields into its signed bytes
    and sign those again with the same authority key. The signed bytes are byte for byte
    those encode() gives (tests prove it); ECDSA signatures are randomised, so only the
    signature differs, and it verifies under the same key."""

    def __init__(self, fields: dict[str, Any], signer: Any) -> None:
        blob = permit_encode(fields, signer)
        at = 15 + blob[14]  # magic, version, kind, key id, id length, id: then serial, nb, na
        self.head = blob[:at]
        self.tail = blob[at + 12:len(blob) - SIG_LEN]
        self.fields = fields
        self.signer = signer
        self.first = (fields["serial"], fields["not_before"], fields["not_after"], blob)

    def token(self, serial: int, not_before: int, not_after: int) -> bytes:
        """The signed token with these serial and validity bounds."""
        if (serial, not_before, not_after) == self.first[:3]:
            return self.first[3]
        if not (1 <= serial < 1 << 32 and 0 <= not_before <= not_after < 1 << 32):
            raise ValueError(f"permit serial {serial} / validity {not_before}..{not_after} "
                             "out of range")
        body = self.head + struct.pack(">III", serial, not_before, not_after) + self.tail
        return body + self.signer.sign(body)


def _hex(rng: Any, nbytes: int) -> str:
    return "".join("%02X" % rng.randrange(256) for _ in range(nbytes))


class Weapon(Diverted):
    """A weapon and, unless the policy is ``none``, its lock."""

    def __init__(self, ctx: Context, idx: int, tally: Tally) -> None:
        self.ctx = ctx
        self.idx = idx
        self.tally = tally
        d = ctx.data
        rw = rng_for(ctx.seed, ctx.run, idx, "world")
        self.rs = rng_for(ctx.seed, ctx.run, idx, "sense")
        n = d["duty"]["holders_per_weapon"]
        self.people = [(h + 1, _hex(rw, 7), h + 1) for h in range(n)]
        self.unit_token = _hex(rw, 7)
        self.shifts = ctx.world.shifts(rw)
        self.div = ctx.world.diversion(rw, self.shifts)
        self.caps = adv.capabilities(rw, self.div, d["adversaries"], ctx.world.days,
                                     d["platform"]["key_rotation_days"]) if self.div else {}
        self.battery = Battery(d)
        self.n = dict.fromkeys(WEAPON_COUNTERS, 0)
        self.serial = 0
        self.permit_until = -1.0
        self.gnss_state = "ok"
        self.last_fix_t = -1e9
        self.nofix_since = -1.0   # receiver without a fix since (s; -1: since boot)
        self.reported_mv = -1
        self.shift: Shift | None = None
        self.div_shift_end: float | None = None
        self.dev: Device | None = None
        self.permits: PermitTemplate | None = None
        self.minted = False
        self.rotated = False  # the device took the key update (authority key rotated)
        self.validity = (0, 0)  # not_before, not_after of the permit last issued
        ppm = rw.gauss(0, d["clock"]["drift_ppm"])
        if ctx.policy.locked_module:
            did = "W%06d" % idx
            key = device_key_of(ctx.master, did)
            self.dev = Device(did, key, ctx.config, Rtc(ctx.start_utc, ppm),
                              (authority(ctx.master).public,))

    # -- timeline ---------------------------------------------------------------
    def episodes(self) -> list[tuple[float, int, str, Any]]:
        """(time, order, kind, payload) in time order."""
        div_t = self.div.t if self.div else float("inf")
        eps: list[tuple[float, int, str, Any]] = []
        for s in self.shifts:
            if s.start >= div_t:
                break
            eps.append((s.start, 0, "issue", s))
            eps += [(u, 1, "use", s) for u in s.uses if u < div_t - USE_MARGIN_S]
            if s.end < div_t:
                eps.append((s.end, 2, "return", s))
            else:
                self.div_shift_end = s.end
        if self.div:
            eps.append((self.div.t, 3, "divert", self.div))
            eps += [(self.div.t + off, 4, "probe", off) for off in adv.PROBES]
        eps.sort(key=lambda e: (e[0], e[1]))
        return eps

    def process(self, env: Any) -> Generator[Any, None, None]:
        """SimPy process: wait for each episode, then act it out."""
        if self.dev is not None:
            self.dev.boot(0.0)
            if not self.ctx.policy.time:  # no time limit: authorised from deployment start
                self._load_permit(0.0, None)
        days = self.ctx.world.days
        act = {k: getattr(self, "_" + k) for k in ("issue", "use", "return", "divert",
                                                   "probe")}
        eps = self.episodes()
        for t, _order, kind, payload in eps:
            yield env.timeout(t - env.now)
            act[kind](t, payload)
        self.tally.c["sim_events"] += len(eps)
        end = self.div.t if self.div else days * 86400.0
        self.tally.c["weapon_s"] += int(min(end, days * 86400.0))
        self._finish()

    def _finish(self) -> None:
        c = self.tally.c
        self.n["battery_uah"] = int(self.battery.used_mah * 1000) if self.dev else 0
        self.tally.add_weapon(self.n, self.idx)
        c["swaps"] += self.battery.swaps
        if self.dev is not None:
            c["gnss_jammed"] += self.dev.gnss_alarms["jammed"]
            c["gnss_lost"] += self.dev.gnss_alarms["lost"]
            c["events"] += self.dev.events
            c["audit_records"] += self.dev.audit_count

    # -- the board's view of the world -----------------------------------------
    def _battery(self, t: float) -> None:
        b = self.battery
        b.advance(t)
        mv = b.mv()
        if self.dev is not None and abs(mv - self.reported_mv) >= BATTERY_REPORT_MV:
            self.dev.send(("battery", mv), t)
            self.reported_mv = mv

    def _gnss(self, t: float, pos: tuple[float, float], jammer: bool = False,
              spoof: tuple[float, float] | None = None, utc_at: float | None = None) -> None:
        """Forward what the receiver reports at t: a fix, or an observation without one."""
        dev = self.dev
        assert dev is not None
        g = self.ctx.gnss
        if jammer or (g.jam and g.jammed(pos[0], pos[1], t)):
            if self.gnss_state == "ok":
                self.nofix_since = self._jam_onset(t, jammer)
                self.gnss_state = "jammed"
            nofix = -1 if self.nofix_since < 0 else int((t - self.nofix_since) * 1000)
            dev.send(g.observation(self.rs, True, nofix), t)
            return
        target = spoof or (g.spoof and g.spoofed(pos[0], pos[1], t)) or pos
        lat, lon, hacc = g.fix(self.rs, target[0], target[1])
        utc = self.ctx.start_utc + (t if utc_at is None else utc_at)
        dev.send(("fix", lat, lon, hacc, int(utc)), t)
        if self.gnss_state != "ok":
            dev.send(g.observation(self.rs, False, 0), t)
        self.gnss_state = "ok"
        self.last_fix_t = t

    def _jam_onset(self, t: float, jammer: bool) -> float:
        """Since when the receiver has had no fix (-1: never since boot)."""
        last = self.last_fix_t
        s = self.shift
        if not jammer and s is not None and self.battery.gnss_on and last >= s.start:
            return self.ctx.gnss.jam_onset(s.route.at, last, t)  # on and tracking till then
        return last if last >= 0 else -1.0

    # -- armoury ------------------------------------------------------------------
    def _issue(self, t: float, s: Shift) -> None:
        self.shift = s
        if self.dev is None:
            return
        self._battery(t)
        if self.dev.battery_low:
            self._swap(t)
        pol = self.ctx.policy
        if pol.time or t >= self.permit_until - 86400:
            self._load_permit(t, s)
        self.battery.gnss_on = True
        self._gnss(t, s.route.at(t))

    def _swap(self, t: float) -> None:
        if self.battery.swap(t):
            assert self.dev is not None
            self.dev.battery_low = False
            self._battery(t)

    def _load_permit(self, t: float, s: Shift | None) -> None:
        """Issue and load a permit: for shift `s` (time limit) or from time t onwards."""
        ctx = self.ctx
        p = ctx.data["permits"]
        self.serial += 1
        self.n["permits"] += 1
        start = s.start if s is not None else t
        nb = ctx.start_utc + int(start) - p["shift_grace_s"]
        if ctx.policy.time and s is not None:
            na = ctx.start_utc + int(s.end) + p["shift_grace_s"]
            self.permit_until = s.end
        else:
            na = ctx.start_utc + int(start) + p["long_valid_days"] * 86400
            self.permit_until = start + p["long_valid_days"] * 86400
        assert self.dev is not None
        if self.permits is None:
            fields = ctx.policy.permit_fields(self.dev.device_id, self.serial, nb, na, p,
                                              ctx.policy.holders(self.unit_token, self.people),
                                              ctx.zones)
            self.permits = PermitTemplate(fields, authority(ctx.master))
        self.validity = (nb, na)
        self.dev.send(("permit", self.permits.token(self.serial, nb, na)), t)

    def _return(self, t: float, s: Shift) -> None:
        self.shift = None
        if self.dev is None:
            return
        self._gnss(t, s.route.at(t))
        self.battery.gnss_on = False
        self._battery(t)
        if self.dev.battery_low:
            self._swap(t)

    # -- legitimate use -------------------------------------------------------------
    def _use(self, t: float, s: Shift) -> None:
        c = self.n
        c["uses"] += 1
        if self.dev is None:
            c["tries"] += 1
            self.tally.add_latency(0.0)
            return
        d = self.ctx.data["duty"]
        self._battery(t)
        holder = self.people[s.holder]
        t0 = t
        cond = (s.wet, s.dirty, s.gloved)
        dev = self.dev
        for i in range(d["tries"]):
            if i:
                t += d["retry_s"]
            c["tries"] += 1
            dev.trail = []
            ok, t = self._try(t, s.route.at(t), holder, cond, "genuine", "genuine")
            trail, dev.trail = dev.trail, None
            if ok:
                self.tally.add_latency(t - t0)
                if t - t0 > d["in_time_s"]:
                    c["unavailable"] += 1
                self._hold(t, s)
                return
            c["denials"] += 1
            c["deny_" + denial_cause([audit_decode(r)[2:4] for r in trail])] += 1
        c["uses_failed"] += 1
        c["unavailable"] += 1

    def _hold(self, t: float, s: Shift) -> None:
        dev = self.dev
        assert dev is not None
        dev.send(("grip", True), t)
        end = t + self.ctx.data["duty"]["use_minutes"] * 60
        tf = max(self.last_fix_t + self.ctx.fix_every, t + self.ctx.fix_s)
        while tf < end:
            self._gnss(tf, s.route.at(tf))
            tf += self.ctx.fix_every
        dev.advance(end)
        if dev.locked:
            self.n["interrupted"] += 1
        dev.send(("grip", False), end)

    def _try(self, t: float, pos: tuple[float, float], holder: tuple[int, str, int],
             cond: tuple[bool, bool, bool], token: str | None, finger: str | None,
             relay: bool = False, jammer: bool = False,
             spoof: tuple[float, float] | None = None,
             utc_at: float | None = None) -> tuple[bool, float]:
        """One presentation of the factors the lock reads; (opened, time after).

        token / finger: "genuine", "random"/"impostor", or None (not presented).
        """
        dev = self.dev
        ctx = self.ctx
        pol = ctx.policy
        assert dev is not None
        if t - self.last_fix_t >= ctx.fix_s or self.gnss_state != "ok" or jammer:
            self._gnss(t, pos, jammer, spoof, utc_at)  # the board forwards its latest fix
        rs = self.rs
        if (pol.unit_token or pol.rfid) and token:
            t += ctx.rfid.seconds()
            if not ctx.rfid.read_ok(rs):  # the driver reports it; the core counts it
                dev.send(("rfid_fail", "read failed"), t)
                dev.advance_ms(dev.answer_at_ms)
                return False, dev.answer_at_ms / 1000
            if token == "attacker":  # his own card, named in a permit he minted
                cred = self.unit_token[::-1]
            elif token != "genuine":
                cred = _hex(rs, 7)
            else:
                cred = self.unit_token if pol.unit_token else holder[1]
            dev.send(("rfid", cred, ctx.rfid.rtt_us(rs, relay), True), t)
            t = dev.answer_at_ms / 1000
            if dev.last_ok is False:
                dev.advance_ms(dev.answer_at_ms)
                return False, t
        if pol.finger and finger:
            t += ctx.finger.seconds(len(self.people))
            if finger == "genuine":
                tid, score = holder[2], ctx.finger.genuine(rs, cond)
            else:
                tid, score = rs.choice(self.people)[2], ctx.finger.impostor(rs)
            dev.send(ctx.finger.event(tid, score), t)
            t = dev.answer_at_ms / 1000
        dev.advance_ms(dev.answer_at_ms)
        self.battery.use()
        return not dev.locked, t
