"""Attacker tiers (docs/THREATS.md T0-T4) and the modelled platform they meet.

A diverted weapon's new holder belongs to one tier (scenario ``adversaries.tiers``).
Tiers nest by tools: T1 (laptop and cable) has T0's means, T2 (SDR, relays) has T1's,
T3 (fault-injection lab) has T2's; T4 (a workshop) has T0's and a gunsmith.

What each tier does, and who decides:

* T0: the means the scenario already draws (brute force, tamper, waiting): the core.
* T1: dump the flash and reflash other firmware. The **platform** decides: an
  unhardened board (``platform.hardened = false``: a dev or rig image; a production
  image refuses to run on one, docs/THREATS.md) is reflashed after
  ``platform.t1_hours`` and fires without the core; a hardened board (Secure Boot V2,
  flash encryption) refuses, and the attack gets nothing.
* T2: a careful GNSS spoofer: fixes at the diversion point (inside the zone, no jump),
  and, under a time limit, GNSS time held at the diversion moment. The **core** decides
  (plausibility, time floor, RTC skew): place can be held, time cannot be rolled back.
* T3: a lab breaks any ESP32 (CVE-2019-17391 on rev < 3: < 1 day, < $1,000; EM fault
  or power analysis on rev 3: no published time, ``platform.t3_hours_rev3`` assumed).
  The platform decides: the lab's own code fires the weapon after that time, or after
  T1's reflash if that is sooner (an unhardened board).
* T4: mechanical removal after ``platform.t4_hours`` (no source gives a time: assumed).

Besides the tiers, two insider threats go through the **core** with real tokens: a
corrupt armourer who issues the diverter a fresh permit each day
(``adversaries.p_corrupt_armourer``, for insider and trafficking diversions), and a
compromised authority key (``adversaries.p_key_compromised``) that mints a permit the
device trusts, until the key is rotated (``platform.key_rotation_days`` after the
compromise: a signed key update trusts a new key and revokes the stolen one; a device
diverted after the rotation has taken it and the core refuses the minted permit).
"""

from __future__ import annotations

from typing import Any

TIERS = ("T0", "T1", "T2", "T3", "T4")


def tier_of(u: float, mix: dict[str, float]) -> str:
    """The tier a uniform draw `u` falls on in the scenario's mix."""
    total = sum(mix.get(t, 0.0) for t in TIERS)
    acc = 0.0
    for t in TIERS:
        acc += mix.get(t, 0.0) / total if total else 0.0
        if u < acc:
            return t
    return "T0"


def level(tier: str) -> int:
    """Tool level for nesting (T4 is a workshop on top of T0's means)."""
    return 0 if tier == "T4" else TIERS.index(tier)


def defeat_after_s(tier: str, plat: dict[str, Any]) -> float | None:
    """Seconds after the diversion at which the platform (not the core) lets this tier
    fire the weapon, or None if the platform holds."""
    if tier == "T4":
        return plat["t4_hours"] * 3600
    times = []
    if level(tier) >= 1 and not plat["hardened"]:   # T1's reflash, and every tier above
        times.append(plat["t1_hours"] * 3600)
    if tier == "T3":
        hours = plat["t3_hours_rev1"] if plat["chip_rev"] < 3 else plat["t3_hours_rev3"]
        times.append(hours * 3600)
    return min(times) if times else None
