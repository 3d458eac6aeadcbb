"""A weapon after its diversion: the new holder's attempts at the PROBES offsets, through
the real core, or past it where the modelled platform does not hold (simulator/platform.py).
A mixin of simulator.weapon.Weapon: it uses the weapon's device, context and streams."""

from __future__ import annotations

from typing import Any

from protocols.audit import decode as audit_decode
from protocols.permit import encode as permit_encode
from simulator import adversaries as adv
from simulator import platform
from simulator.keys import authority, rotation, successor
from simulator.metrics import lockout_seconds
from simulator.policies import Policy
from simulator.world import Diversion


class Diverted:
    """Diversion behaviour of a Weapon (see simulator/weapon.py for the attributes)."""

    ctx: Any
    dev: Any
    div: Any
    caps: dict[str, Any]
    people: list[tuple[int, str, int]]
    unit_token: str
    serial: int
    permits: Any
    tally: Any
    idx: int
    shift: Any
    battery: Any
    div_shift_end: float | None
    minted: bool
    rotated: bool
    validity: tuple[int, int]

    def _divert(self, t: float, div: Diversion) -> None:
        self.shift = None
        self.battery.gnss_on = False
        self.probes: dict[str, bool] = {}
        if self.dev is not None:
            self.dev.keep_audit = True
            if self.caps.get("key_stale") and not self.rotated:
                self._rotate(t)

    def _rotate(self, t: float) -> None:
        """The authority rotated its key before this diversion: the device took the key
        update (the old key revoked, the permit signed by it dropped) and the armourer
        re-issued the permit under the new key."""
        ctx, dev = self.ctx, self.dev
        self.rotated = True
        self.serial += 1
        dev.send(("permit", rotation(ctx.master, dev.device_id, self.serial,
                                     ctx.start_utc + int(t))), t)
        if self.permits is not None:
            self.permits = type(self.permits)(self.permits.fields, successor(ctx.master))
            self.serial += 1
            dev.send(("permit", self.permits.token(self.serial, *self.validity)), t)

    def _probe(self, t: float, off: int) -> None:
        div = self.div
        assert div is not None
        caps = self.caps
        defeat = platform.defeat_after_s(caps["tier"], self.ctx.data["platform"])
        if self.dev is None or (defeat is not None and off >= defeat):
            self.probes[str(off)] = True  # no lock, or the platform did not hold
        else:
            self.probes[str(off)] = self._attempts(t, off, div, caps)
        if off == adv.PROBES[-1]:
            self._record_diversion(div)

    def _attempts(self, t: float, off: int, div: Diversion, caps: dict[str, Any]) -> bool:
        dev = self.dev
        assert dev is not None
        t = max(t, dev.last_ms / 1000)  # an earlier probe's brute force may run late
        self._battery(t)
        if off == adv.PROBES[0]:
            for src in ("magnet", "enclosure"):
                if caps[src]:
                    dev.send(("tamper", src), t)
            if caps["sabotage"] and self.ctx.policy.finger:
                dev.send(("fault", "finger", False), t)
        pos = div.position(t)
        spoof, utc_at, jammer = self._spoofing(t, div, caps)
        self._gnss(t, pos, jammer, spoof, utc_at)
        self._insider_tokens(t, off, caps)
        dev.advance(t)
        if not dev.locked:  # still open from an earlier try
            return True
        if caps["key_from"] is not None and off >= caps["key_from"] and (
                self.ctx.policy.rfid or self.ctx.policy.unit_token):
            ok, t = self._try(t, pos, self.people[0], (False, False, False), "attacker",
                              None, jammer=jammer, spoof=spoof, utc_at=utc_at)
            if ok:
                return True
        token, relay, finger = adv.credentials(caps, off)
        if self.ctx.policy.unit_token:
            token, relay = bool(caps["unit_token"]), False
        holder = self.people[div.holder]
        kw = {"relay": relay, "jammer": jammer, "spoof": spoof, "utc_at": utc_at}
        cond = (False, False, False)
        tok = "genuine" if token else None
        fin = "genuine" if finger else None
        if tok or fin:
            for _ in range(self.ctx.data["duty"]["tries"]):  # same patience as a user
                ok, t = self._try(t, pos, holder, cond, tok, fin, **kw)
                if ok:
                    return True
                t += self.ctx.data["duty"]["retry_s"]
        if caps["brute"]:
            for _ in range(self.ctx.data["adversaries"]["brute_force_tries"]):
                t += 3.0
                ok, t = self._try(t, pos, holder, cond, tok or "random", fin or "impostor",
                                  **kw)
                if ok:
                    return True
        return False

    def _spoofing(self, t: float, div: Diversion, caps: dict[str, Any]
                  ) -> tuple[tuple[float, float] | None, float | None, bool]:
        """(spoofed place, spoofed GNSS time, jammer on) of the new holder at t.

        T2 and up: a careful spoofer holds the place where the weapon was diverted (no
        jump) and, under a time limit, GNSS time at the diversion moment; else the
        scenario's naive spoofer (the home zone's centre: a jump) or jammer."""
        if platform.level(caps["tier"]) >= 2:
            return div.where, (div.t if self.ctx.policy.time else None), False
        return (self.ctx.world.home.centre() if caps["spoofer"] else None), None, \
            bool(caps["jammer"])

    def _insider_tokens(self, t: float, off: int, caps: dict[str, Any]) -> None:
        """What a corrupt armourer or a stolen authority key loads into the lock."""
        ctx = self.ctx
        p = ctx.data["permits"]
        dev = self.dev
        assert dev is not None
        now = ctx.start_utc + int(t)
        if caps["corrupt"] and ctx.policy.time and self.permits is not None and \
                off <= ctx.data["adversaries"]["corrupt_permit_days"] * 86400:
            self.serial += 1  # a real shift permit from the real authority, for today
            dev.send(("permit", self.permits.token(
                self.serial, now - p["shift_grace_s"],
                now + int(ctx.data["duty"]["shift_hours"] * 3600))), t)
        if caps["key_from"] is not None and off >= caps["key_from"] and not self.minted:
            self.minted = True
            dev.send(("permit", self._minted(now)), t)

    def _minted(self, now: int) -> bytes:
        """A permit minted with the stolen authority key: no zones, no time limit to speak
        of, the attacker's own card. A device rotated since has revoked that key."""
        ctx = self.ctx
        pol = Policy("rfid", "fail-enabled")
        fields = pol.permit_fields(self.dev.device_id if self.dev else "", self.serial + 1000,
                                   now - 3600, now + 365 * 86400, ctx.data["permits"],
                                   [(99, (self.unit_token[::-1],), ())], [])
        return permit_encode(fields, authority(ctx.master))

    def _record_diversion(self, div: Diversion) -> None:
        dev = self.dev
        records = []
        if dev is not None:
            records = [(t, audit_decode(r)[2]) for t, r in dev.audits]
        usable = self.probes
        self.tally.c["diversions"] += 1
        self.tally.add_diversion(usable)
        self.tally.divs.append({
            "weapon": self.idx, "kind": div.kind, "tier": self.caps["tier"], "t": div.t,
            "usable": usable,
            "lockout_s": lockout_seconds(usable, adv.PROBES),
            "visible": dev is not None and adv.visible(records, div, self.div_shift_end),
        })
