"""`armlock scenario new NAME` and `armlock scenario check FILE`: a commented scenario
template that loads as is, and a check that returns the scenario with its warnings."""

from __future__ import annotations

import re
from pathlib import Path

from simulator.scenario import Scenario, ScenarioError, load

TEMPLATE = '''\
# Scenario {name}: what it models, in a few lines (place, duty, threats).
# A scenario states only what differs from the defaults (simulator/scenario.py DEFAULTS;
# every default's value, source, date and status: docs/SOURCES.md). Unknown keys are
# refused with a "did you mean".

[scenario]
name = "{name}"
description = ""
weapons = 200          # weapons simulated
days = 30              # horizon
runs = 5               # replications (or --precision to add runs until intervals are tight)
seed = 1
policies = ["none", "time", "geo", "rfid", "finger", "rfid+finger", "time+geo+rfid"]
profiles = ["fail-secure", "fail-enabled"]

# Zones. Inline polygons are [lat, lon] pairs, LATITUDE FIRST, in degrees (WGS84).
# Or load GeoJSON files ([lon, lat], as GeoJSON says; properties name and kind):
# zone_files = ["zones.geojson"]
# Kinds: depot, base, patrol, border, nogo, town, area (area: GNSS effects only).
[[zones]]
name = "depot"
kind = "depot"
polygon = [[16.270, -0.050], [16.270, -0.044], [16.276, -0.044], [16.276, -0.050]]

[[zones]]
name = "patrol"
kind = "patrol"
polygon = [[16.276, -0.100], [16.276, 0.040], [16.380, 0.040], [16.380, -0.100]]

[duty]
home_zone = "depot"
patrol_zones = ["patrol"]
issue_prob = 0.3       # probability a weapon is drawn on a given day

# GNSS jamming / spoofing episodes (zone, days, hours of day):
# [[gnss.jamming]]
# zone = "patrol"
# start_day = 0.0
# end_day = 30.0
# hours = [20.0, 5.0]

[adversaries]
# inflated for statistical power: the usable-diversion metrics are conditional on it
diversions_per_1000_weapon_months = 20.0

[permits]
allowed_zones = ["depot", "patrol"]
forbidden_zones = []

# Core configuration overrides (firmware/core/config.py), e.g.:
# [config]
# finger_min_score = 60

# Costs (simulator/data/costs.toml gives every price and its source), e.g.:
# [costs.price]
# r503 = 12.0
'''


def template(name: str) -> str:
    """A commented scenario named `name` that loads as it is."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise ScenarioError(f"scenario name {name!r}: use letters, digits, _ . - "
                            "(at most 64)")
    return TEMPLATE.format(name=name)


def write_template(path: Path, name: str | None = None) -> Path:
    """Write the template to `path` (refuses to overwrite); returns the path."""
    if path.exists():
        raise ScenarioError(f"{path} exists: not overwritten")
    path.write_text(template(name or path.stem), encoding="utf-8")
    return path


def check(path: str | Path) -> Scenario:
    """Load and validate a scenario (ScenarioError names file, line and key); its
    `warnings` list what loads but looks wrong (e.g. a zone far from the others)."""
    return load(path)
