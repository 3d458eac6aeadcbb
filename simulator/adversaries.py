"""Adversaries: what an unauthorised holder has after a diversion, and how they try it.

Kinds (scenario ``adversaries.mix``): ``depot_theft`` (from the armoury at night),
``capture`` (ambush during a patrol), ``insider`` (an authorised holder walks off with
the weapon and his credentials), ``loss`` (dropped on patrol, picked up by a finder),
``trafficking`` (an insider carrying it across the border). Behaviours drawn for every
unauthorised holder: magnet / enclosure tamper, brute force on credentials, GNSS jammer
or spoofer, token relay (thieves, first night) and breaking the fingerprint sensor.

Unit tokens (policies without a personal credential, see policies.py) travel with
the weapon, so captors, insiders and finders have them; depot thieves find them in the
armoury with probability ``p_theft_gets_unit_token``.

After the diversion the holder tries the weapon at the PROBES offsets. A probe is
"usable" when the core opens the lock for them at that moment. The tamper latch is
assumed to hold (position sensing defeats the magnet, Plore 2017). Attacker tiers
(T0-T4 of docs/THREATS.md), the platform they meet, a corrupt armourer and a
compromised authority key: simulator/platform.py.
"""

from __future__ import annotations

import random
from typing import Any

from simulator import platform
from simulator.world import Diversion

PROBES = (60, 600, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 129600, 172800, 259200,
          345600, 432000, 518400, 604800, 1209600, 2592000)
CHECKPOINTS = (("1h", 3600), ("1d", 86400), ("7d", 604800), ("30d", 2592000))
HORIZON_S = PROBES[-1]
RELAY_WINDOW_S = 8 * 3600     # a relay needs the holder's token nearby: the theft night
COERCION_WINDOW_S = 86400     # a captured holder is with the captors the first day
# Audit codes an auditor flags on a weapon (protocols/audit.py CODES)
FLAG_CODES = frozenset(("cred_reject", "deny", "lockout", "tamper", "fix_implausible",
                        "fault", "permit_refused"))
USE_CODES = frozenset(("unlock", "cred_ok"))


def capabilities(rng: random.Random, div: Diversion, a: dict[str, Any],
                 days: int = 30, rotation_days: float = 30.0) -> dict[str, Any]:
    """Draw the new holder's means (fixed order of draws: common random numbers)."""
    u = [rng.random() for _ in range(17)]
    kind = div.kind
    holder = kind in ("insider", "trafficking")
    caps: dict[str, Any] = {
        "unit_token": kind != "depot_theft" or u[0] < a["p_theft_gets_unit_token"],
        "token": holder or (kind == "capture" and u[1] < a["p_token_captured"]),
        "own_finger": holder,
        "coerced": kind == "capture" and u[2] < a["p_coerced"],
        "mould_from": None,
        "relay": kind == "depot_theft" and u[5] < a["p_relay"],
        "magnet": not holder and u[6] < a["p_tamper_magnet"],
        "enclosure": not holder and u[7] < a["p_tamper_enclosure"],
        "brute": not holder and u[8] < a["p_brute_force"],
        "jammer": u[9] < a["p_jammer"],
        "spoofer": u[10] < a["p_spoofer"],
        "sabotage": not holder and u[11] < a["p_sabotage"],
        "tier": platform.tier_of(u[12], a["tiers"]),
        "corrupt": holder and u[13] < a["p_corrupt_armourer"],
        "key_from": None,  # when the attacker holds the authority key (s), if ever
        "key_stale": False,  # the device was re-keyed (rotation) before its diversion
    }
    if u[14] < a["p_key_compromised"]:
        at = u[15] * days * 86400  # the compromise, uniform over the horizon
        caps["key_from"] = max(0.0, at - div.t)
        caps["key_stale"] = div.t >= at + rotation_days * 86400
    if kind == "capture" and u[3] < a["p_mould"] and u[4] < a["mould_success"]:
        caps["mould_from"] = a["mould_delay_h"] * 3600
    return caps


def credentials(caps: dict[str, Any], off: float) -> tuple[bool, bool, bool]:
    """(has the holder's token or unit token, relayed, has a genuine finger) at offset."""
    token = bool(caps["token"])
    relay = False
    if not token and caps["relay"] and off <= RELAY_WINDOW_S:
        token, relay = True, True
    coerced = caps["coerced"] and off <= COERCION_WINDOW_S
    mould = caps["mould_from"] is not None and off >= caps["mould_from"]
    finger = bool(caps["own_finger"] or coerced or mould)
    return token or coerced, relay, finger


def visible(records: list[tuple[float, str]], div: Diversion, shift_end: float | None) -> bool:
    """Does the device log reveal the diversion? (definition: simulator/metrics.py)

    Yes when a record after the diversion is one an auditor flags (rejected credential,
    denial, lockout, tamper, implausible fix, fault) or shows use of the weapon outside
    the rostered shift it was diverted from (any time, for a weapon taken from store).
    """
    for t, code in records:
        if t < div.t:
            continue
        if code in FLAG_CODES:
            return True
        if code in USE_CODES and (shift_end is None or t > shift_end):
            return True
    return False
