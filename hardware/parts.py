"""Parts list, cost and power budget of the two builds (docs/HARDWARE.md), computed from
hardware/parts.toml so the document, the simulator and the figures cannot disagree.

    .venv/bin/python -m hardware.parts            # print the tables of docs/HARDWARE.md
    .venv/bin/python -m hardware.parts --write    # replace them in docs/HARDWARE.md

Power budget: every part's draw on its rail converted to current out of the cell
(3.3 V rail through the buck-boost, 12 V through the boost, at their efficiencies and the
cell's nominal voltage), plus each use's charge (solenoid energised for the unlocked
time, fingerprint captures, LED, position-switch pull-up) at the scenario's uses a day.
"as built": the firmware keeps every module powered (today's behaviour); "floor": every
part in its low state between uses, what power management could reach (not implemented).
Policies: "geofenced" (the permit has zones: GNSS on) and "time-only" (GNSS off).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

PARTS = Path(__file__).with_name("parts.toml")
DOC = Path(__file__).resolve().parent.parent / "docs" / "HARDWARE.md"
BUILDS = {"rig": "rig (ESP32-S3-DevKitC-1-N8R8)", "lock": "lock module (ESP32-DevKitC-VE)"}
POLICIES = ("geofenced", "time-only")
VARIANTS = ("as built", "floor")
BEGIN, END = "<!-- parts.py:begin -->", "<!-- parts.py:end -->"


def load(path: Path = PARTS) -> dict[str, Any]:
    """parts.toml as a dict (tomllib); ValueError naming the part if one is incomplete."""
    data = tomllib.loads(path.read_text())
    need = ("id", "name", "builds", "qty", "price_usd", "price_source", "rail", "on_ma",
            "low_ma", "active_ma", "current_source")
    for p in data["part"]:
        missing = [k for k in need if k not in p]
        if missing:
            raise ValueError(f"{path}: part {p.get('id', '?')}: missing {', '.join(missing)}")
        if p["rail"] not in ("3v3", "12v", "cell", "none"):
            raise ValueError(f"{path}: part {p['id']}: unknown rail {p['rail']!r}")
    return data


def parts(data: dict[str, Any], build: str) -> list[dict[str, Any]]:
    return [p for p in data["part"] if build in p["builds"]]


def cost(data: dict[str, Any], build: str) -> float:
    """Sum of qty x unit price of one build, USD."""
    return round(sum(p["qty"] * p["price_usd"] for p in parts(data, build)), 2)


def cell_ma(data: dict[str, Any], rail: str, ma: float) -> float:
    """Current out of the cell for `ma` drawn on `rail`."""
    use, v = data["usage"], data["cell"]["nominal_mv"] / 1000
    if rail == "3v3":
        return ma * 3.3 / (v * use["buck_efficiency"])
    if rail == "12v":
        return ma * 12.0 / (v * use["boost_efficiency"])
    return ma if rail == "cell" else 0.0


def _idle(p: dict[str, Any], policy: str, variant: str) -> float:
    if p["id"] == "gnss":                   # the policy decides, in both variants
        return p["low_ma"] if policy == "time-only" else p["on_ma"]
    return p["on_ma"] if variant == "as built" else p["low_ma"]


def use_mah(data: dict[str, Any], build: str) -> float:
    """Charge out of the cell for one use: unlocked time and fingerprint captures."""
    use = data["usage"]
    total = 0.0
    for p in parts(data, build):
        extra = p["active_ma"] - p["on_ma"]
        if p["id"] == "fingerprint":
            seconds = use["captures_per_use"] * use["capture_s"]
        elif p["id"] in ("solenoid", "led", "position-switch"):
            seconds = use["unlocked_s_per_use"]
        else:
            continue
        total += cell_ma(data, p["rail"], extra) * seconds / 3600
    return total


def budget(data: dict[str, Any], build: str, policy: str, variant: str) -> dict[str, float]:
    """Average cell current (mA) and battery life (h, days) of one build and policy."""
    idle = sum(cell_ma(data, p["rail"], _idle(p, policy, variant)) for p in parts(data, build))
    avg = idle + data["usage"]["uses_per_day"] * use_mah(data, build) / 24
    hours = data["cell"]["capacity_mah"] / avg
    return {"idle_ma": idle, "avg_ma": avg, "hours": hours, "days": hours / 24}


def sim_battery(data: dict[str, Any], build: str = "lock") -> dict[str, float]:
    """The simulator's `battery` figures (simulator/scenario.py names) for a build as built:
    standby_ua without GNSS, gnss_ma, unlock_mah per use."""
    gnss = next(p for p in parts(data, build) if p["id"] == "gnss")
    no_gnss = budget(data, build, "time-only", "as built")["idle_ma"]
    return {"capacity_mah": data["cell"]["capacity_mah"], "full_mv": data["cell"]["full_mv"],
            "empty_mv": data["cell"]["empty_mv"],
            "standby_ua": round(no_gnss * 1000, 1),
            "gnss_ma": round(cell_ma(data, gnss["rail"], gnss["on_ma"]), 2),
            "unlock_mah": round(use_mah(data, build), 3)}


def _parts_table(data: dict[str, Any], build: str) -> list[str]:
    rows = [f"#### Parts: {BUILDS[build]}", "",
            "| part | role | qty | unit USD | price source |", "|---|---|---|---|---|"]
    for p in parts(data, build):
        rows.append(f"| {p['name']} | {p['role']} | {p['qty']} | {p['price_usd']:.2f} | "
                    f"{p['price_source']} |")
    rows += [f"| **total** | | | **{cost(data, build):.2f}** | prices dated "
             f"{data['meta']['date']} |", ""]
    return rows


def _current_table(data: dict[str, Any]) -> list[str]:
    rows = ["#### Currents", "",
            "| part | rail | as built mA | low mA | active mA | source |",
            "|---|---|---|---|---|---|"]
    for p in data["part"]:
        if p["rail"] == "none":
            continue
        rows.append(f"| {p['name']} | {p['rail']} | {p['on_ma']:g} | {p['low_ma']:g} | "
                    f"{p['active_ma']:g} | {p['current_source']} |")
    return rows + [""]


def _budget_table(data: dict[str, Any]) -> list[str]:
    u, c = data["usage"], data["cell"]
    rows = ["#### Battery life", "",
            f"{c['part']}, {c['capacity_mah']:,} mAh; {u['uses_per_day']} uses a day, "
            f"{u['unlocked_s_per_use']} s unlocked each ({u['captures_per_use']} fingerprint "
            f"captures); buck-boost {u['buck_efficiency']:.0%}, boost "
            f"{u['boost_efficiency']:.0%} efficient.", "",
            "| build | policy | as built: mA | as built: days | floor: mA | floor: days |",
            "|---|---|---|---|---|---|"]
    for build in BUILDS:
        for policy in POLICIES:
            a, f = (budget(data, build, policy, v) for v in VARIANTS)
            rows.append(f"| {BUILDS[build]} | {policy} | {a['avg_ma']:.1f} | {a['days']:.1f} "
                        f"| {f['avg_ma']:.2f} | {f['days']:.0f} |")
    for build in BUILDS:
        rows.append("")
        rows.append(f"One use ({BUILDS[build]}): {use_mah(data, build):.1f} mAh out of the "
                    "cell.")
    sim = sim_battery(data)
    rows += ["", "Simulator figures (`sim_battery()`, lock module as built): "
             + ", ".join(f"`{k}` {v:g}" for k, v in sim.items()) + ".", ""]
    return rows


def markdown(data: dict[str, Any]) -> str:
    """The generated part of docs/HARDWARE.md."""
    rows: list[str] = []
    for build in BUILDS:
        rows += _parts_table(data, build)
    rows += _current_table(data) + _budget_table(data)
    return "\n".join(rows).rstrip() + "\n"


def splice(doc: str, generated: str) -> str:
    """doc with the text between the BEGIN and END markers replaced by `generated`."""
    head, sep, rest = doc.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"{DOC}: markers {BEGIN} / {END} not found")
    return f"{head}{BEGIN}\n{generated}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"update {DOC.name} in place")
    a = ap.parse_args(argv)
    text = markdown(load())
    if a.write:
        DOC.write_text(splice(DOC.read_text(), text))
        print(f"updated {DOC}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
