"""Money: what a lock policy costs per weapon-year, from parts, labour and the simulated
duty cycle. Parts and prices: the lock-module build of hardware/parts.toml (the list of
docs/HARDWARE.md, each price with its source and date); labour, life and failures:
simulator/data/costs.toml. A scenario overrides either in its [costs] table.

Per weapon-year, for a policy with a lock module (``none`` costs nothing):

* ``capex``: (bill of materials + spare cells + integration labour) / service life;
* ``permits``: armourer time per permit issued (the ``time`` policy: as many as the
  simulation issued, one every shift; others: one renewal per ``long_valid_days``);
* ``battery``: pack wear (energy drawn in the simulation / capacity = full cycles, over
  the cycle life, times the pack price) plus armourer time per swap;
* ``enrolment``: holders x (finger enrolment and/or token issue) x (1 / life + turnover),
  plus tokens (one per holder with rfid, one unit token per weapon otherwise);
* ``repairs``: failure rate x (technician time + a share of the bill of materials).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from hardware import parts as hw_parts

DATA = Path(__file__).parent / "data" / "costs.toml"
BUILD = "lock"  # the lock-module build of hardware/parts.toml
YEAR_S = 365.25 * 86400
COMPONENTS = ("capex", "permits", "battery", "enrolment", "repairs")
# parts only some locks carry (hardware/parts.toml ids); every other part: every lock
NEEDS = {"nfc-reader": "reader", "tags": "token", "fingerprint": "finger"}
TOKEN, CELL = "tags", "cell"


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    """The labour / life / failure parameters with their sources."""
    with DATA.open("rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=1)
def lock_parts() -> tuple[dict[str, Any], ...]:
    """The lock module's parts (id, name, qty, price_usd, price_source, price_date)."""
    return tuple(hw_parts.parts(hw_parts.load(), BUILD))


def defaults() -> dict[str, Any]:
    """Scenario defaults of the [costs] table: ``price.<part id>`` and every param."""
    out: dict[str, Any] = {"price": {p["id"]: float(p["price_usd"]) for p in lock_parts()}}
    out.update({k: float(p["value"]) for k, p in table()["params"].items()})
    return out


def needs(part_id: str, policy: Any) -> bool:
    """Does a lock under `policy` carry this part?"""
    use = NEEDS.get(part_id, "all")
    if use == "finger":
        return bool(policy.finger)
    if use in ("reader", "token"):
        return bool(policy.rfid or policy.unit_token)
    return True


def bom(costs: dict[str, Any], policy: Any) -> float:
    """Bill of materials of one lock (tags excluded: they are enrolment)."""
    return sum(costs["price"][p["id"]] * p["qty"] for p in lock_parts()
               if p["id"] != TOKEN and needs(p["id"], policy))


def per_weapon_year(data: dict[str, Any], policy: Any, c: dict[str, int]) -> dict[str, float]:
    """Cost components and ``total`` per weapon-year from a run's counters `c`."""
    out = dict.fromkeys((*COMPONENTS, "total"), 0.0)
    weapons = c.get("weapon_s", 0) / YEAR_S  # weapon-years observed
    if not policy.locked_module or weapons <= 0:
        return out
    k = data["costs"]
    holders = int(data["duty"]["holders_per_weapon"])
    arm = k["armourer_usd_per_h"] / 60  # per minute
    life = k["service_life_years"]
    parts = bom(k, policy)
    spare = k["spare_cells"] * k["price"][CELL]
    out["capex"] = (parts + spare + k["integration_h"] * k["gunsmith_usd_per_h"]) / life
    if policy.time:  # a permit every shift, as the simulation issued them
        permits = c["permits"] / weapons
    else:  # renewals of long permits: too rare to count in a short horizon
        permits = 365.25 / max(1, data["permits"]["long_valid_days"] - 1)
    out["permits"] = permits * k["permit_issue_min"] * arm
    pack_mah = float(data["battery"]["capacity_mah"])
    cycles = c["battery_uah"] / 1000 / pack_mah
    out["battery"] = (cycles / k["cell_cycle_life"] * k["price"][CELL]
                      + c["swaps"] * k["swap_min"] * arm) / weapons
    per_holder = ((k["enrol_finger_min"] if policy.finger else 0.0)
                  + (k["enrol_token_min"] if policy.rfid else 0.0)) * arm
    renew = 1 / life + k["holder_turnover_per_year"]
    tokens = holders * k["price"][TOKEN] * renew if policy.rfid else (
        k["price"][TOKEN] / life if policy.unit_token else 0.0)
    out["enrolment"] = holders * per_holder * renew + tokens
    out["repairs"] = k["failure_rate_per_year"] * (
        k["repair_h"] * k["gunsmith_usd_per_h"] + k["repair_parts_share"] * parts)
    out["total"] = sum(out[x] for x in COMPONENTS)
    return out


def per_prevented(cost_wy: float, prevented: float, real_rate_per_1000: float) -> float:
    """Cost per prevented usable diversion: extra cost per weapon-year over the usable
    diversions it prevents per weapon-year (field rate x prevented share)."""
    per_wy = real_rate_per_1000 / 1000 * prevented
    return cost_wy / per_wy if per_wy > 0 else float("inf")
