"""Policies: what the authority puts in a permit, as a function of the policy name.

A policy name is ``none`` or components joined by ``+``: ``time`` (permit valid for
the shift only), ``geo`` (allowed/forbidden zones of the scenario), ``rfid`` (the
holder's personal token), ``finger`` (the holder's enrolled fingerprint). Mapping:

* no credential component (``time``, ``geo``, ``time+geo``): the factor rule is met by a
  **unit token** issued with the weapon by the armourer (kept with it, e.g. on the
  sling), so whoever holds the weapon can satisfy it; only the time and place limits
  bind. A permit must name a credential, hence the token.
* ``rfid`` and ``finger`` together: all-of within the scenario's window (two factors).
* no ``geo``: a permit without zones; the core then puts no limit on place (and needs
  no fix), so GNSS loss and jamming do not deny a time-only or RFID-only lock.
* no ``time``: the permit stays valid ``permits.long_valid_days`` from issue.
* ``none``: no lock module; the simulator does not run a controller at all.

The fail profile (``fail-secure`` / ``fail-enabled``) is the permit's fail flag.
Permits are issued by the armourer at the start of every shift under ``time``; other
policies keep their long-validity permit and get a new one a day before it expires.
"""

from __future__ import annotations

from typing import Any

from protocols.permit import factor_rule

COMPONENTS = ("time", "geo", "rfid", "finger")
PROFILES = ("fail-secure", "fail-enabled")


def parse_policy(name: str) -> frozenset[str]:
    """Components of a policy name; ValueError naming the bad part."""
    if name == "none":
        return frozenset()
    parts = name.split("+")
    for p in parts:
        if p not in COMPONENTS:
            raise ValueError(f"unknown policy component {p!r} in {name!r} "
                             f"(use none or {'+'.join(COMPONENTS)} parts)")
    if len(set(parts)) != len(parts):
        raise ValueError(f"policy {name!r} repeats a component")
    return frozenset(parts)


class Policy:
    """A parsed policy under one fail profile."""

    def __init__(self, name: str, profile: str) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown fail profile {profile!r}")
        self.name = name
        self.profile = profile
        self.parts = parse_policy(name)
        self.locked_module = bool(self.parts)
        self.time = "time" in self.parts
        self.geo = "geo" in self.parts
        self.rfid = "rfid" in self.parts
        self.finger = "finger" in self.parts
        self.unit_token = not (self.rfid or self.finger)

    @property
    def label(self) -> str:
        return self.name if not self.locked_module else f"{self.name} / {self.profile}"

    def factor_rule(self) -> tuple[int, int, int]:
        """(rule_mode, factor_mask, k) from protocols.permit.factor_rule."""
        if self.rfid and self.finger:
            return factor_rule("all", ["rfid", "finger"])
        return factor_rule("any", ["finger"] if self.finger else ["rfid"])

    def zones(self, zone_rings: dict[str, list[tuple[int, int]]],
              allowed: list[str], forbidden: list[str]) -> list[tuple[bool, list[Any]]]:
        """Permit zones: the scenario's zones under ``geo``, else none."""
        if not self.geo:
            return []
        out: list[tuple[bool, list[Any]]] = [(False, [zone_rings[n]]) for n in allowed]
        out += [(True, [zone_rings[n]]) for n in forbidden]
        return out

    def holders(self, unit_token: str, people: list[tuple[int, str, int]]) -> list[Any]:
        """Permit holders: the unit token alone, or each person's token and/or template."""
        if self.unit_token:
            return [(1, (unit_token,), ())]
        out = []
        for hid, token, template in people:
            creds = (token,) if self.rfid else ()
            tpls = (template,) if self.finger else ()
            out.append((hid, creds, tpls))
        return out

    def permit_fields(self, device_id: str, serial: int, not_before: int, not_after: int,
                      p: dict[str, Any], holders: list[Any], zones: list[Any]) -> dict[str, Any]:
        """Fields for protocols.permit.encode."""
        mode, mask, k = self.factor_rule()
        return {
            "kind": 1, "device_id": device_id, "serial": serial,
            "not_before": not_before, "not_after": not_after,
            "fail_enabled": self.profile == "fail-enabled",
            "max_unlock_s": p["max_unlock_s"], "rule_mode": mode, "factor_mask": mask,
            "k": k, "window_s": p["window_s"], "holders": holders, "zones": zones,
        }
