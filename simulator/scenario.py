"""Scenario files: TOML, merged over DEFAULTS, validated with the key and line at fault.

A scenario file only states what differs from DEFAULTS (plus its zones). Every key is
checked against the DEFAULTS tree: unknown keys, wrong types and out-of-range values are
refused as ``FILE:LINE: key 'a.b': message``. Sources of the defaults are given next to
them and in docs/SOURCES.md (value, source, date, status); "unverified" or "assumed"
marks a starting assumption.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

from simulator import costs, zonefiles

ZONE_KINDS = ("depot", "base", "patrol", "border", "nogo", "town", "area")  # area: GNSS only
ADVERSARY_KINDS = ("depot_theft", "capture", "insider", "loss", "trafficking")

# Leaves: default value; RANGES gives (lo, hi) for numbers, CHOICES allowed strings.
DEFAULTS: dict[str, Any] = {
    "scenario": {
        "name": "unnamed",
        "description": "",
        "weapons": 200,
        "days": 30,
        "start_utc": 1767225600,  # 2026-01-01T00:00:00Z
        "runs": 5,
        "seed": 1,
        "policies": ["none", "time", "geo", "rfid", "finger", "rfid+finger", "time+geo+rfid"],
        "profiles": ["fail-secure", "fail-enabled"],
    },
    "zones": [],                       # inline: polygon = [[lat, lon], ...] (latitude first)
    "zone_files": [],                  # GeoJSON files ([lon, lat]), relative to the scenario
    "duty": {
        "home_zone": "depot",          # armoury: weapons are drawn and returned here
        "patrol_zones": ["patrol"],
        "holders_per_weapon": 2,       # personal weapon plus one relief holder
        "issue_prob": 0.3,             # probability a weapon is drawn on a given day
        "shift_start_hours": [6, 18],
        "shift_hours": 8.0,
        "uses_per_shift": 3.0,         # mean legitimate unlocks per shift (Poisson)
        "use_minutes": 0.5,            # held unlocked per use (draw, aim, fire)
        "speed_mps": 1.4,              # foot patrol
        "waypoints": 3,
        "tries": 3,                    # tries a user makes before giving up one use
        "retry_s": 2.0,                # user reaction before a new try
        "in_time_s": 3.0,              # open within this of the first try = available
                                       # (assumed; NIJ 2016 4.18.6 asks for no added time)
        "p_wet": 0.1,                  # share of shifts in rain / sweat (unverified)
        "p_dirty": 0.2,                # dirt, sand, oil on hands (unverified)
        "p_gloved": 0.1,               # gloves on (NIJ 4.18.4 asks for gloved use)
    },
    "sensors": {
        "finger": {
            "frr": 0.01,               # R503 datasheet: FRR < 1 %
            "far": 0.00001,            # R503 datasheet: FAR < 0.001 %
            "calib_score": 60,         # module threshold where FAR/FRR hold (assumed: the
                                       # default security level; = core finger_min_score)
            "genuine_sd": 40.0,        # spread of genuine scores (assumed, sensors.Finger)
            "capture_s": 0.2,          # R503: image capture < 0.2 s
            "extract_s": 0.5,          # R503: feature extraction < 0.5 s
            "match_ms_per_template": 10.0,  # R503: match < 10 ms per template
            "wet_factor": 5.0,         # FRR multiplier, wet finger (unverified)
            "dirty_factor": 3.0,       # FRR multiplier, dirty finger (unverified)
            "gloved_factor": 50.0,     # FRR multiplier, gloved: capacitive mostly fails
        },
        "rfid": {
            "read_fail": 0.02,         # a read that needs a new tap (unverified)
            "exchange_ms": 15.5,       # MFRC522 chip timeout per exchange (derived)
            "exchanges": 4,            # anticollision, select, auth challenge, answer
            "rtt_us": 3000,            # challenge round trip, direct (unverified)
            "relay_extra_us": 20000,   # added by a relay pair (Plore, DEF CON 25, 2017)
        },
    },
    "gnss": {
        "hacc_m": 4.0,                 # median reported accuracy, open sky (unverified)
        "p_bad_fix": 0.02,             # multipath / canopy: accuracy 40-150 m
        "fix_s": 1.0,                  # hot start, 1 Hz receiver
        "sats_ok": [6, 14],            # satellites used, clear sky (assumed, SOURCES.md)
        "cn0_dbhz": 44.0,              # strongest C/N0, clear sky (assumed)
        "cn0_sd_db": 3.0,              # its spread (assumed)
        "jammed_sats_max": 3,          # satellites still used under jamming (assumed)
        "jammed_cn0_dbhz": 22.0,       # strongest C/N0 under jamming (assumed)
        "reports_cn0": True,           # receiver gives C/N0 in GSV (u-blox, most do)
        "jamming": [],
        "spoofing": [],
    },
    "clock": {
        "drift_ppm": 20.0,             # sd; crystal RTC. ESP32 RC oscillator: up to
                                       # ~20 min per 15 h in deep sleep (REFERENCES)
    },
    "battery": {
        "capacity_mah": 2000.0,        # 1S Li-ion pack (unverified)
        "full_mv": 4100,
        "empty_mv": 3200,
        "standby_ua": 60.0,            # MCU deep sleep + R503 touch standby ~2 uA
        "gnss_ma": 25.0,               # receiver on while issued (unverified)
        "unlock_mah": 0.05,            # sensors + actuator per unlock (unverified)
        "recharge_h": 6.0,             # spare pack on the armoury charger
    },
    "adversaries": {
        # Rate inflated for statistical power; the conditional metrics do not depend on it.
        "diversions_per_1000_weapon_months": 20.0,
        "mix": {
            "depot_theft": 0.30,       # stockpiles: highest-risk point (Small Arms Survey 2020)
            "capture": 0.30,           # ~30 % of diversion cases (Conflict Armament Research)
            "insider": 0.20,
            "loss": 0.10,
            "trafficking": 0.10,
        },
        "hideout_km": 25.0,            # captors / thieves take the weapon this far
        "vehicle_mps": 8.0,
        "p_theft_gets_unit_token": 0.5,  # unit tokens kept in the same armoury
        "p_token_captured": 0.5,       # capture: the holder's personal token taken too
        "p_coerced": 0.1,              # capture: a live holder forced to present a finger
        "p_mould": 0.3,                # capture: latent print recovered, mould made
        "mould_success": 0.8,          # Cisco Talos 2020: ~80 % average success
        "mould_delay_h": 48.0,         # ~50 attempts to make one (Talos)
        "p_tamper_magnet": 0.3,
        "p_tamper_enclosure": 0.2,
        "p_brute_force": 0.5,
        "brute_force_tries": 10,       # per probe
        "p_jammer": 0.1,               # carries a GNSS jammer (GNSS interference > 20x,
                                       # Eurocontrol; effects up to 300 km)
        "p_spoofer": 0.05,             # GNSS spoofer replaying a position in the zone
        "p_relay": 0.1,                # relays a holder's token (theft, first night)
        "p_sabotage": 0.1,             # breaks the fingerprint sensor (fault)
        # attacker tiers (docs/THREATS.md, simulator/platform.py); shares assumed
        "tiers": {"T0": 0.5, "T1": 0.25, "T2": 0.15, "T3": 0.05, "T4": 0.05},
        "p_corrupt_armourer": 0.1,     # insider/trafficking helped by an armourer (assumed)
        "corrupt_permit_days": 7,      # days of permits he issues the diverter (assumed)
        "p_key_compromised": 0.0,      # the authority key is in the attacker's hands
    },
    "platform": {                      # the board the attacker meets (docs/THREATS.md)
        "hardened": True,              # Secure Boot V2 + flash encryption (release mode):
                                       # what `armlock flash --production` makes; false
                                       # = a dev or rig image (docs/THREATS.md)
        "chip_rev": 3,                 # ESP32 revision; < 3: CVE-2019-17391 applies
        "t1_hours": 2.0,               # dump + reflash with a laptop (assumed)
        "t3_hours_rev1": 24.0,         # CVE-2019-17391: < 1 day, < $1,000 (LimitedResults)
        "t3_hours_rev3": 336.0,        # EM fault / power analysis on rev 3: no figure
                                       # published (assumed: two weeks)
        "t4_hours": 4.0,               # mechanical removal by a gunsmith (assumed)
        "key_rotation_days": 30.0,     # authority key rotated this long after a
                                       # compromise (assumed)
    },
    "permits": {
        "max_unlock_s": 900,
        "window_s": 30,                # all-of factor window
        "shift_grace_s": 1800,         # time-limited permits: shift +/- grace
        "long_valid_days": 120,        # validity when the policy has no time limit
        "allowed_zones": ["depot", "patrol"],
        "forbidden_zones": [],
    },
    "config": {},
    "costs": costs.defaults(),       # simulator/data/costs.toml: parts, prices, labour
}

RANGES: dict[str, tuple[float, float]] = {
    "scenario.weapons": (1, 1_000_000), "scenario.days": (1, 366),
    "scenario.start_utc": (1_000_000_000, 4_000_000_000), "scenario.runs": (1, 1000),
    "scenario.seed": (0, 2**63), "duty.holders_per_weapon": (1, 16),
    "duty.shift_hours": (0.5, 24), "duty.tries": (1, 20), "duty.waypoints": (1, 20),
    "permits.max_unlock_s": (1, 65535), "permits.window_s": (1, 65535),
    "adversaries.brute_force_tries": (0, 1000), "battery.full_mv": (1000, 10000),
    "platform.chip_rev": (0, 10),
    "battery.empty_mv": (1000, 10000), "gnss.jammed_sats_max": (0, 64),
}
PROB_SUFFIXES = ("p_", "frr", "far", "read_fail", "issue_prob", "mould_success")
SHARE_TABLES = ("adversaries.mix.", "adversaries.tiers.")
ITEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "zones": {"name": "", "kind": "depot", "polygon": [[0.0, 0.0]]},
    "gnss.jamming": {"zone": "", "start_day": 0.0, "end_day": 1.0, "hours": [0.0, 24.0]},
    "gnss.spoofing": {"zone": "", "start_day": 0.0, "end_day": 1.0, "hours": [0.0, 24.0],
                      "target": [0.0, 0.0]},
}


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names file, line and key."""


class Scenario:
    """A validated scenario: the merged tree `data`, the source text and its SHA-256."""

    def __init__(self, data: dict[str, Any], text: str, path: str) -> None:
        self.data = data
        self.text = text
        self.path = path
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()
        self.overrides: dict[str, Any] = {}
        self.warnings: list[str] = zonefiles.far_zones(data["zones"])

    @property
    def name(self) -> str:
        return str(self.data["scenario"]["name"])

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """Copy with dotted-key overrides applied and validated (for sweeps)."""
        data = copy.deepcopy(self.data)
        for dotted, value in overrides.items():
            set_dotted(data, dotted, value)
        lines = _KeyLines(self.text)
        _validate(data, lines, self.path)
        sc = Scenario(data, self.text, self.path)
        sc.overrides = {**self.overrides, **overrides}
        return sc


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` (list items by index) in `data`; ScenarioError if the path is unknown."""
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"unknown scenario key {dotted!r} (bad index {part!r})")
            key: Any = int(part)
        elif isinstance(node, dict):
            known = part in node or (parts[0] == "config" and i == 1)
            if not known:
                raise ScenarioError(f"unknown scenario key {dotted!r}"
                                    + did_you_mean(part, node))
            key = part
        else:
            raise ScenarioError(f"unknown scenario key {dotted!r}")
        if last:
            node[key] = value
        else:
            node = node[key]


def did_you_mean(key: str, known: Any) -> str:
    """' (did you mean 'x'?)' for the closest known key, or ''."""
    close = difflib.get_close_matches(key, [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load(path: str | Path) -> Scenario:
    """Read, merge over DEFAULTS and validate a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read scenario ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not a scenario text file (not UTF-8)") from None
    return loads(text, str(p))


def loads(text: str, path: str = "<scenario>") -> Scenario:
    """Parse scenario text; ScenarioError with line (and column) on any problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: TOML syntax error: {exc}") from None
    lines = _KeyLines(text)
    data = copy.deepcopy(DEFAULTS)
    _merge(data, raw, "", lines, path)
    _add_zone_files(data, lines, path)
    _validate(data, lines, path)
    return Scenario(data, text, path)


def _add_zone_files(data: dict[str, Any], lines: _KeyLines, path: str) -> None:
    """Append the zones of data['zone_files'] (paths relative to the scenario file)."""
    files = data["zone_files"]
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise _fail(path, lines, "zone_files", "must be an array of file names")
    base = Path(path).parent
    for i, name in enumerate(files):
        try:
            data["zones"] = list(data["zones"]) + zonefiles.load_zone_file(base / name)
        except zonefiles.ZoneFileError as exc:
            raise _fail(path, lines, f"zone_files.{i}", str(exc)) from None


class _KeyLines:
    """Map dotted keys (list items as indices) to the line where the text sets them."""

    _HDR = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"-]+)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\"-]+(?:\s*\.\s*[A-Za-z0-9_\"-]+)*)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        counts: dict[str, int] = {}
        prefix = ""
        for no, line in enumerate(text.splitlines(), 1):
            m = self._HDR.match(line)
            if m:
                name = m.group(2).replace('"', "")
                if m.group(1) == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    prefix = f"{name}.{counts[name]}"
                else:
                    prefix = name
                self.lines.setdefault(prefix, no)
                continue
            m = self._KEY.match(line)
            if m:
                key = re.sub(r"\s*\.\s*", ".", m.group(1)).replace('"', "")
                full = f"{prefix}.{key}" if prefix else key
                self.lines.setdefault(full, no)

    def line(self, dotted: str) -> int | None:
        """Line of `dotted` or of its nearest ancestor the text sets; None if absent."""
        parts = dotted.split(".")
        while parts:
            got = self.lines.get(".".join(parts))
            if got is not None:
                return got
            parts.pop()
        return None


def _fail(path: str, lines: _KeyLines, key: str, msg: str) -> ScenarioError:
    no = lines.line(key)
    where = f"{path}:{no}" if no is not None else path
    return ScenarioError(f"{where}: key {key!r}: {msg}")


def _merge(base: dict[str, Any], raw: dict[str, Any], prefix: str, lines: _KeyLines,
           path: str) -> None:
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if dotted == "config":
            if not isinstance(value, dict):
                raise _fail(path, lines, dotted, "must be a table")
            base[key] = dict(value)
        elif key not in base:
            raise _fail(path, lines, dotted, "unknown key" + did_you_mean(key, base))
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise _fail(path, lines, dotted, "must be a table")
            _merge(base[key], value, dotted + ".", lines, path)
        else:
            base[key] = value


def _type_ok(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    return True


def _check_leaf(dotted: str, default: Any, value: Any, lines: _KeyLines, path: str) -> None:
    if not _type_ok(default, value):
        want = type(default).__name__.replace("float", "number").replace("list", "array")
        raise _fail(path, lines, dotted, f"must be {want}, got {value!r}")
    leaf = dotted.rsplit(".", 1)[-1]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = RANGES.get(dotted, (0, float("inf")))
        if any(leaf.startswith(s) for s in PROB_SUFFIXES) or dotted.startswith(SHARE_TABLES):
            lo, hi = 0, 1
        if not lo <= value <= hi:
            raise _fail(path, lines, dotted, f"must be in [{lo}, {hi}], got {value!r}")


def _walk(data: dict[str, Any], defaults: dict[str, Any], prefix: str, lines: _KeyLines,
          path: str) -> None:
    for key, default in defaults.items():
        dotted = f"{prefix}{key}"
        value = data[key]
        if dotted == "config":
            continue
        if dotted in ITEM_SCHEMAS:
            _check_items(dotted, value, lines, path)
        elif isinstance(default, dict):
            _walk(value, default, dotted + ".", lines, path)
        else:
            _check_leaf(dotted, default, value, lines, path)


def _check_items(dotted: str, items: Any, lines: _KeyLines, path: str) -> None:
    if not isinstance(items, list):
        raise _fail(path, lines, dotted, "must be an array of tables")
    schema = ITEM_SCHEMAS[dotted]
    for i, item in enumerate(items):
        where = f"{dotted}.{i}"
        if not isinstance(item, dict):
            raise _fail(path, lines, where, "must be a table")
        for key in item:
            if key not in schema:
                raise _fail(path, lines, f"{where}.{key}", "unknown key"
                            + did_you_mean(key, schema))
        for key, default in schema.items():
            if key not in item:
                raise _fail(path, lines, where, f"missing key {key!r}")
            _check_leaf(f"{where}.{key}", default, item[key], lines, path)


def _pair(v: Any) -> bool:
    return (isinstance(v, list) and len(v) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v))


def _validate(data: dict[str, Any], lines: _KeyLines, path: str) -> None:
    _walk(data, DEFAULTS, "", lines, path)
    _check_config(data, lines, path)
    names: set[str] = set()
    for i, z in enumerate(data["zones"]):
        where = f"zones.{i}"
        if z["kind"] not in ZONE_KINDS:
            raise _fail(path, lines, where + ".kind", f"must be one of {', '.join(ZONE_KINDS)}")
        poly = z["polygon"]
        if len(poly) < 3 or not all(_pair(v) for v in poly):
            raise _fail(path, lines, where + ".polygon",
                        "needs >= 3 [lat, lon] pairs (inline zones are latitude first)")
        if not all(-90 <= v[0] <= 90 and -180 <= v[1] <= 180 for v in poly):
            raise _fail(path, lines, where + ".polygon", "latitude/longitude out of range")
        if z["name"] in names:
            raise _fail(path, lines, where + ".name", f"duplicate zone {z['name']!r}")
        names.add(z["name"])
    _check_refs(data, names, lines, path)
    _check_lists(data, lines, path)


def _check_refs(data: dict[str, Any], names: set[str], lines: _KeyLines, path: str) -> None:
    refs = [("duty.home_zone", [data["duty"]["home_zone"]])]
    refs += [("duty.patrol_zones", data["duty"]["patrol_zones"])]
    refs += [("permits.allowed_zones", data["permits"]["allowed_zones"])]
    refs += [("permits.forbidden_zones", data["permits"]["forbidden_zones"])]
    for kind in ("jamming", "spoofing"):
        for i, item in enumerate(data["gnss"][kind]):
            refs.append((f"gnss.{kind}.{i}.zone", [item["zone"]]))
    for key, used in refs:
        for name in used:
            if name not in names:
                raise _fail(path, lines, key, f"no zone named {name!r}")
    if not data["duty"]["patrol_zones"]:
        raise _fail(path, lines, "duty.patrol_zones", "needs at least one zone")
    if not data["permits"]["allowed_zones"]:
        raise _fail(path, lines, "permits.allowed_zones", "needs at least one zone")
    if len(data["permits"]["allowed_zones"]) + len(data["permits"]["forbidden_zones"]) > 8:
        raise _fail(path, lines, "permits", "a permit holds at most 8 zones")


def _check_lists(data: dict[str, Any], lines: _KeyLines, path: str) -> None:
    from simulator.policies import parse_policy  # local: keeps scenario import light

    for i, name in enumerate(data["scenario"]["policies"]):
        try:
            parse_policy(name)
        except ValueError as exc:
            raise _fail(path, lines, f"scenario.policies.{i}", str(exc)) from None
    for name in data["scenario"]["profiles"]:
        if name not in ("fail-secure", "fail-enabled"):
            raise _fail(path, lines, "scenario.profiles", f"unknown fail profile {name!r}")
    hours = data["duty"]["shift_start_hours"]
    if not hours or not all(isinstance(h, (int, float)) and 0 <= h < 24 for h in hours):
        raise _fail(path, lines, "duty.shift_start_hours", "needs hours in [0, 24)")
    mix = data["adversaries"]["mix"]
    if set(mix) - set(ADVERSARY_KINDS):
        bad = sorted(set(mix) - set(ADVERSARY_KINDS))[0]
        raise _fail(path, lines, f"adversaries.mix.{bad}", "unknown adversary kind")
    if sum(mix.values()) <= 0:
        raise _fail(path, lines, "adversaries.mix", "shares must not all be 0")
    if sum(data["adversaries"]["tiers"].values()) <= 0:
        raise _fail(path, lines, "adversaries.tiers", "shares must not all be 0")
    if data["battery"]["empty_mv"] >= data["battery"]["full_mv"]:
        raise _fail(path, lines, "battery.empty_mv", "must be below battery.full_mv")
    sats = data["gnss"]["sats_ok"]
    if not (len(sats) == 2 and all(type(v) is int for v in sats) and 0 <= sats[0] <= sats[1]):
        raise _fail(path, lines, "gnss.sats_ok", "needs [min, max] satellites, 0 <= min <= max")
    for i, item in enumerate(data["gnss"]["spoofing"]):
        if not _pair(item["target"]):
            raise _fail(path, lines, f"gnss.spoofing.{i}.target", "must be [lat, lon]")


def _check_config(data: dict[str, Any], lines: _KeyLines, path: str) -> None:
    try:
        from firmware.core.config import DEFAULTS as CORE
    except ImportError:  # pragma: no cover - the core ships with the package
        return
    for key, value in data["config"].items():
        if key not in CORE:
            raise _fail(path, lines, f"config.{key}", "unknown controller config key")
        if type(value) is not type(CORE[key]):
            raise _fail(path, lines, f"config.{key}",
                        f"must be {type(CORE[key]).__name__}, got {value!r}")
