"""Host authority: key files, serial ledger, GeoJSON zones and the `keys`/`permit` commands."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from armlock import authority
from armlock.authority import zones as geojson
from armlock.authority.signer import from_seed
from armlock.cli import app
from armlock.cli import permit as cli_permit
from armlock.cli.common import UserError
from protocols import p256
from protocols import permit as P
from protocols.crypto import device_key

ROOT = Path(__file__).resolve().parents[1]
ZONES = ROOT / "examples" / "zones"
runner = CliRunner()


class Result:
    """CliRunner result with stderr unwrapped (rich wraps long lines at 80 columns here)."""

    def __init__(self, res: Any) -> None:
        self.exit_code = res.exit_code
        self.stdout = res.stdout
        self.stderr = res.stderr.replace("\n", "")
        self.output = res.output


def run(*args: str | Path) -> Result:
    return Result(runner.invoke(app, [str(a) for a in args]))


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    path = tmp_path / "master.key"
    assert run("keys", "init", "--key", path).exit_code == 0
    return path


def issue_args(key: Path, out: Path, *extra: str) -> list[str]:
    return ["permit", "issue", "--device", "LOCK-0001",
            "--holder", "1:rfid=04A1B2C3D4E5F6,finger=3",
            "--holder", "2:rfid=04a1b2c3d4e5f7,finger=7,finger=8",
            "--zone", str(ZONES / "range.geojson"), "--valid", "8h",
            "--out", str(out), "--key", str(key), *extra]


def inspect_json(path: Path, key: Path, *extra: str | Path) -> dict[str, Any]:
    res = run("permit", "inspect", path, "--key", key, "--json", *extra)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


# -- keys -------------------------------------------------------------------------------------

def test_keys_init_creates_0600_hex_key_and_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k"
    res = run("keys", "init", "--key", path)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text().strip()
    assert len(bytes.fromhex(text)) == 32
    again = run("keys", "init", "--key", path)
    assert again.exit_code != 0
    assert "refusing to overwrite" in again.stderr
    assert path.read_text().strip() == text


def test_keys_init_uses_env_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARMLOCK_KEY", str(tmp_path / "env.key"))
    assert run("keys", "init").exit_code == 0
    assert (tmp_path / "env.key").exists()


def test_two_keys_differ(tmp_path: Path) -> None:
    a = authority.create_master_key(tmp_path / "a")
    b = authority.create_master_key(tmp_path / "b")
    assert a != b


def test_group_readable_key_is_refused(key: Path) -> None:
    os.chmod(key, 0o640)
    with pytest.raises(authority.AuthorityError, match="chmod 600"):
        authority.load_master_key(key)
    res = run("permit", "recall", "--device", "X1", "--out", key.parent / "r.bin", "--key", key)
    assert res.exit_code != 0 and "group/others" in res.stderr
    assert not (key.parent / "r.bin").exists()


@pytest.mark.parametrize("content,msg", [("zz\n", "not hex"), ("00" * 31, "31 bytes")])
def test_bad_key_file(tmp_path: Path, content: str, msg: str) -> None:
    path = tmp_path / "k"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(authority.AuthorityError, match=msg):
        authority.load_master_key(path)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(authority.AuthorityError, match="keys init"):
        authority.load_master_key(tmp_path / "none")


@settings(max_examples=50, deadline=None)
@given(master=st.binary(min_size=32, max_size=32),
       device=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                      max_size=32))
def test_host_device_key_equals_firmware_derivation(master: bytes, device: str) -> None:
    assert authority.derive_device_key(master, device) == device_key(master, device)


def test_keys_derive_writes_device_key(key: Path) -> None:
    out = key.parent / "dev.key"
    res = run("keys", "derive", "--device", "LOCK-7", "--out", out, "--key", key)
    assert res.exit_code == 0, res.output
    master = authority.load_master_key(key)
    assert bytes.fromhex(out.read_text().strip()) == device_key(master, "LOCK-7")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert run("keys", "derive", "--device", "LOCK-7", "--out", out, "--key", key).exit_code != 0


# -- issue / inspect / recall / reset ---------------------------------------------------------

def test_issue_inspect_round_trip(key: Path) -> None:
    out = key.parent / "p.bin"
    res = run(*issue_args(key, out, "--rule", "1-of-2", "--window", "45s", "--max-unlock", "2m",
                          "--fail-profile", "fail-enabled"))
    assert res.exit_code == 0, res.output
    signer = authority.signer_for(key)
    p = P.decode(out.read_bytes(), {signer.key_id: p256.PublicKey(signer.public)})
    assert p.verified and p.key_id == signer.key_id
    assert (p.serial, p.rule_mode, p.k, p.factor_mask) == (1, P.MODE_KOFN, 1, 3)
    assert (p.window_s, p.max_unlock_s, p.fail_enabled) == (45, 120, True)
    assert p.not_after - p.not_before == 8 * 3600
    assert p.holders == [(1, ("04A1B2C3D4E5F6",), (3,)), (2, ("04A1B2C3D4E5F7",), (7, 8))]
    d = inspect_json(out, key)
    assert d["verified"] and d["status"] == "valid" and d["kind"] == "permit"
    assert d["fail_profile"] == "fail-enabled" and d["rule"] == "k-of-n"
    assert [z["kind"] for z in d["zones"]] == ["allowed", "forbidden"]
    assert d["zones"][0]["vertices"] == [4, 4]
    table = run("permit", "inspect", out, "--key", key)
    assert table.exit_code == 0 and "LOCK-0001" in table.stdout and "verified" in table.stdout


def test_serials_strictly_increase_across_kinds(key: Path) -> None:
    d = key.parent
    assert run(*issue_args(key, d / "p1.bin")).exit_code == 0
    assert run("permit", "recall", "--device", "LOCK-0001", "--out", d / "r.bin",
               "--key", key).exit_code == 0
    assert run("permit", "reset-tamper", "--device", "LOCK-0001", "--out", d / "t.bin",
               "--key", key).exit_code == 0
    assert run(*issue_args(key, d / "p2.bin")).exit_code == 0
    assert run("permit", "recall", "--device", "OTHER", "--out", d / "o.bin",
               "--key", key).exit_code == 0
    kinds = [(inspect_json(d / f, key)["kind"], inspect_json(d / f, key)["serial"])
             for f in ("p1.bin", "r.bin", "t.bin", "p2.bin", "o.bin")]
    assert kinds == [("permit", 1), ("recall", 2), ("tamper-reset", 3), ("permit", 4),
                     ("recall", 1)]
    assert authority.read_ledger(key) == {"LOCK-0001": 4, "OTHER": 1}
    assert "superseded" in inspect_json(d / "p1.bin", key)
    assert "superseded" not in inspect_json(d / "p2.bin", key)


def test_refused_request_burns_no_serial(key: Path) -> None:
    res = run(*issue_args(key, key.parent / "p.bin", "--factors", "rfid"))
    assert res.exit_code != 0 and "excludes finger" in res.stderr
    assert authority.read_ledger(key) == {}
    with pytest.raises(P.PermitError):
        authority.issue(key, {"kind": 1, "device_id": "LOCK-0001", "not_before": 0,
                              "not_after": 1})
    assert authority.read_ledger(key) == {}


def test_expired_and_future_status(key: Path) -> None:
    d = key.parent
    res = run(*issue_args(key, d / "old.bin", "--start", "2020-01-01T00:00:00Z"))
    assert res.exit_code == 2 and "validity ended 2020-01-01T08:00:00Z, before now" in res.stderr
    old = authority.issue(key, {"kind": P.KIND_PERMIT, "device_id": "LOCK-0001",
                                "not_before": 1577836800, "not_after": 1577865600,
                                "max_unlock_s": 60, "rule_mode": P.MODE_ANY,
                                "factor_mask": P.F_RFID, "k": 1, "window_s": 30,
                                "holders": [(1, ("04A1B2C3",), ())]})
    (d / "old.bin").write_bytes(old)
    assert inspect_json(d / "old.bin", key)["status"] == "expired"
    assert run(*issue_args(key, d / "new.bin", "--start", "2099-01-01T00:00")).exit_code == 0
    j = inspect_json(d / "new.bin", key)
    assert j["status"] == "not yet valid" and j["not_before"] == "2099-01-01T00:00:00Z"


def _flip(path: Path, i: int) -> None:
    b = bytearray(path.read_bytes())
    b[i] ^= 0x01
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("damage,msg", [
    (lambda p: _flip(p, 30), "signature does not verify"),
    (lambda p: _flip(p, -1), "signature does not verify"),
    (lambda p: _flip(p, 8), "signed by unknown key"),
    (lambda p: p.write_bytes(p.read_bytes()[:-40]), "truncated at byte"),
    (lambda p: p.write_bytes(p.read_bytes() + b"\0"), "trailing bytes"),
    (lambda p: p.write_bytes(b"GIF89a" + bytes(100)), "bad magic"),
    (lambda p: p.write_bytes(b""), "too short"),
])
def test_inspect_refuses_damaged_token(key: Path, damage: Any, msg: str) -> None:
    out = key.parent / "p.bin"
    assert run(*issue_args(key, out)).exit_code == 0
    damage(out)
    res = run("permit", "inspect", out, "--key", key)
    assert res.exit_code != 0
    assert msg in res.stderr and str(out) in res.stderr
    assert res.stdout == ""


def test_inspect_wrong_device_and_wrong_master(key: Path, tmp_path: Path) -> None:
    out = key.parent / "p.bin"
    assert run(*issue_args(key, out)).exit_code == 0
    res = run("permit", "inspect", out, "--key", key, "--device", "LOCK-0002")
    assert res.exit_code != 0 and "for device LOCK-0001, not LOCK-0002" in res.stderr
    other = tmp_path / "other.key"
    assert run("keys", "init", "--key", other).exit_code == 0
    res = run("permit", "inspect", out, "--key", other)
    assert res.exit_code != 0 and "signed by unknown key" in res.stderr


def test_inspect_unverified_without_key(key: Path) -> None:
    out = key.parent / "p.bin"
    assert run(*issue_args(key, out)).exit_code == 0
    res = run("permit", "inspect", out, "--unverified", "--json")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["verified"] is False


def test_error_is_one_line_from_the_real_command(key: Path) -> None:
    """Piped stderr (80 columns by default) must still get the error as one line."""
    out = key.parent / "p.bin"
    assert run(*issue_args(key, out)).exit_code == 0
    _flip(out, 30)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    res = subprocess.run([sys.executable, "-c", "from armlock.cli import main; main()",
                          "permit", "inspect", str(out), "--key", str(key)],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "signature does not verify" in lines[0]
    assert "Traceback" not in res.stderr


# -- option parsing ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec,msg", [
    ("x:rfid=04A1B2C3", "ID 0..65535"),
    ("1", "ID 0..65535"),
    ("70000:rfid=04A1B2C3", "ID 0..65535"),
    ("1:rfid=04A1B2", "4..16 bytes of hex"),
    ("1:rfid=04A1B2CZ", "4..16 bytes of hex"),
    ("1:finger=x", "template id"),
    ("1:pin=1234", "unknown item"),
    ("1:", "no credential"),
])
def test_bad_holder_spec(spec: str, msg: str) -> None:
    with pytest.raises(UserError, match=msg):
        cli_permit.parse_holder(spec)


def test_holder_spec() -> None:
    assert cli_permit.parse_holder("12:rfid=04a1b2c3, finger=3,finger=65535") == (
        12, ("04A1B2C3",), (3, 65535))


@pytest.mark.parametrize("text,secs", [("30s", 30), ("10m", 600), ("8h", 28800),
                                       ("2d", 172800), ("1h30m", 5400)])
def test_durations(text: str, secs: int) -> None:
    assert cli_permit.parse_duration(text, "--valid") == secs


@pytest.mark.parametrize("text", ["", "8", "h", "0s", "5x", "1h 30m", "-3m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UserError, match="--valid"):
        cli_permit.parse_duration(text, "--valid")


@pytest.mark.parametrize("rule,factors,want", [
    ("any", "rfid,finger", (0, 3, 1)), ("all", "rfid,finger", (1, 3, 2)),
    ("all", "rfid", (1, 1, 1)), ("2-of-2", "rfid,finger", (2, 3, 2)),
    ("1-of-2", "finger, rfid", (2, 3, 1))])
def test_rules(rule: str, factors: str, want: tuple[int, int, int]) -> None:
    assert cli_permit.parse_rule(rule, factors) == want


@pytest.mark.parametrize("rule,factors", [("2-of-3", "rfid,finger"), ("3-of-2", "rfid,finger"),
                                          ("0-of-2", "rfid,finger"), ("most", "rfid,finger"),
                                          ("2-of-2", "rfid"), ("any", "rfid,pin"), ("any", "")])
def test_bad_rules(rule: str, factors: str) -> None:
    with pytest.raises(UserError, match="--rule"):
        cli_permit.parse_rule(rule, factors)


@pytest.mark.parametrize("args,msg", [
    (("--factors", "rfid,pin"), "unknown factor 'pin'"),
    (("--fail-profile", "open"), "fail-secure or fail-enabled"),
    (("--max-unlock", "19h"), "at most 65535 s"),
    (("--start", "yesterday"), "ISO 8601"),
])
def test_issue_option_errors(key: Path, args: tuple[str, ...], msg: str) -> None:
    res = run(*issue_args(key, key.parent / "p.bin", *args))
    assert res.exit_code != 0 and msg in res.stderr
    assert not (key.parent / "p.bin").exists()


def test_issue_into_missing_directory(key: Path) -> None:
    res = run(*issue_args(key, key.parent / "nope" / "p.bin"))
    assert res.exit_code != 0 and "does not exist" in res.stderr
    assert authority.read_ledger(key) == {}


# -- GeoJSON ----------------------------------------------------------------------------------

def test_examples_load() -> None:
    zones = geojson.load_zones(ZONES / "range.geojson")
    assert [f for f, _ in zones] == [False, True]
    allowed = zones[0][1]
    assert len(allowed) == 2  # outer ring and one hole, closing vertex dropped
    assert allowed[0] == [(523000000, 130000000), (523000000, 131000000),
                          (523600000, 131000000), (523600000, 130000000)]
    patrol = geojson.load_zones(ZONES / "patrol.geojson")
    assert [len(z[1][0]) for z in patrol] == [3, 4] and not any(f for f, _ in patrol)
    assert geojson.load_zones(ZONES / "school-no-go.geojson")[0][0] is True
    assert len(geojson.load_zones(ZONES / "depot.geojson")) == 1
    for p in ZONES.glob("*.geojson"):
        geojson.load_zones(p)


def _poly(*rings: list[list[Any]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]


def test_exact_decimal_conversion_and_open_ring() -> None:
    doc = json.loads(json.dumps(_poly([[13.0000001, 52.12345675], [-9.9999999, -89.9999999],
                                       [99.9999999, 90]])), parse_float=Decimal)
    ring = geojson.parse_zones(doc)[0][1][0]
    assert ring == [(521234568, 130000001), (-899999999, -99999999), (900000000, 999999999)]


@pytest.mark.parametrize("doc,msg", [
    ({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": _poly(SQUARE)},
        {"type": "Feature", "properties": {}, "geometry": _poly([[0, 0], [1, 1], [0, 0]])}]},
     "z.geojson: zone 1 ring 0 (features[1].geometry.coordinates[0]): ring has 2 distinct "
     "vertices, need >= 3"),
    (_poly([[0, 0], [1, 91], [1, 1]]),
     "z.geojson: zone 0 ring 0 vertex 1 (coordinates[0][1]): latitude 91 is outside -90..90"),
    (_poly([[361, 0], [1, 1], [1, 2]]), "(coordinates[0][0]): longitude 361 is outside -360..360"),
    (_poly([[0, 0], [1], [1, 1]]), "vertex 1 (coordinates[0][1]): position must be [lon, lat]"),
    (_poly([["0", 0], [1, 0], [1, 1]]), "(coordinates[0][0]): longitude must be a number"),
    (_poly([[True, 0], [1, 0], [1, 1]]), "longitude must be a number"),
    (_poly(*[SQUARE] * 9), "polygon has 9 rings"),
    ({"type": "Point", "coordinates": [0, 0]}, "'Point' is not Polygon"),
    ({"type": "Feature", "properties": None, "geometry": None}, "geometry: feature has no"),
    ({"type": "Feature", "properties": [], "geometry": _poly(SQUARE)},
     "properties: properties must be an object"),
    ({"type": "FeatureCollection", "features": []}, "features: must be a non-empty array"),
    ({"type": "FeatureCollection", "features": [{"type": "Polygon"}]},
     "features[0]: expected a Feature"),
    ({"type": "MultiPolygon", "coordinates": [[SQUARE], [[[0, 0], [1, 1]]]]},
     "zone 1 ring 0 (coordinates[1][0]): ring has 2 distinct vertices"),
    ([], "top level must be a GeoJSON object"),
])
def test_geojson_errors_name_file_and_path(doc: Any, msg: str) -> None:
    with pytest.raises(geojson.GeoJSONError, match=None) as exc:
        geojson.parse_zones(json.loads(json.dumps(doc), parse_float=Decimal), "z.geojson")
    assert msg in str(exc.value)


def test_forbidden_markers() -> None:
    def feat(props: Any) -> dict[str, Any]:
        return {"type": "Feature", "properties": props, "geometry": _poly(SQUARE)}
    coll = {"type": "FeatureCollection", "features": [
        feat({"forbidden": True}), feat({"kind": "No-Go"}), feat({"kind": "forbidden"}),
        feat({"forbidden": "yes"}), feat(None), feat({"kind": "allowed"})]}
    assert [f for f, _ in geojson.parse_zones(coll)] == [True, True, True, False, False, False]


def test_geojson_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Polygon",\n "coordinates": [}')
    with pytest.raises(geojson.GeoJSONError, match=r"bad.geojson: line 2 column"):
        geojson.load_zones(bad)
    with pytest.raises(geojson.GeoJSONError, match="cannot read"):
        geojson.load_zones(tmp_path / "missing.geojson")
    nine = tmp_path / "nine.geojson"
    nine.write_text(json.dumps({"type": "MultiPolygon", "coordinates": [[SQUARE]] * 9}))
    with pytest.raises(geojson.GeoJSONError, match="at most 8"):
        geojson.load_all([nine])
    with pytest.raises(geojson.GeoJSONError, match="school-no-go.geojson is forbidden"):
        geojson.load_all([ZONES / "school-no-go.geojson"])


def test_issue_reports_bad_zone_file(key: Path, tmp_path: Path) -> None:
    z = tmp_path / "z.geojson"
    z.write_text(json.dumps(_poly([[0, 0], [1, 1]])))
    args = issue_args(key, tmp_path / "p.bin")
    args[args.index("--zone") + 1] = str(z)
    res = run(*args)
    assert res.exit_code != 0
    assert "z.geojson: zone 0 ring 0 (coordinates[0]): ring has 2 distinct vertices" in res.stderr


@pytest.mark.parametrize("t,status,core", [(999, "not yet valid", ["permit_not_yet_valid"]),
                                           (1000, "valid", []),
                                           (2000, "valid", []),
                                           (2001, "expired", ["permit_expired"])])
def test_status_is_the_cores_validity_at_the_window_edges(t: int, status: str,
                                                          core: list[str]) -> None:
    """inspect's status calls the core's rules.validity: what the lock decides at t."""
    from firmware.core.controller import LockController

    key = device_key(bytes(32), "D1")
    signer = from_seed(b"edge")
    blob = P.encode({"kind": 1, "device_id": "D1", "serial": 1, "not_before": 1000,
                     "not_after": 2000, "max_unlock_s": 60, "rule_mode": 0, "factor_mask": 1,
                     "k": 1, "window_s": 30, "holders": [(1, ("04A1B2C3",), ())]}, signer)
    ctl = LockController("D1", key, authority=(signer.public,))  # the lock, at trusted time t
    ctl.handle(("boot", None, "power_on"), 0, 900)
    ctl.handle(("permit", blob), 10, 900)
    assert ctl.reasons(20, t) == core
    d = authority.describe(P.decode(blob, None), t)
    assert d["status"] == status and "firmware.core.rules.validity" in d["status_basis"]


def test_desk_applies_the_devices_own_zone_check(key: Path) -> None:
    """A zone that slipped past the reader is still refused: the desk calls admin.check_zones."""
    from armlock.authority import desk
    from armlock.authority.zones import Source, ZoneSet

    zs = ZoneSet()
    zs.add(False, [[(0, 0), (0, 0), (100, 100), (0, 100)]], Source("z.geojson", "coordinates", 0))
    fields = {"kind": P.KIND_PERMIT, "device_id": "LOCK-0001", "not_before": 1_800_000_000,
              "not_after": 1_800_003_600, "max_unlock_s": 60, "rule_mode": P.MODE_ANY,
              "factor_mask": P.F_RFID, "k": 1, "window_s": 30,
              "holders": [(1, ("04A1B2C3",), ())]}
    with pytest.raises(authority.AuthorityError) as exc:
        desk.issue_permit(key, fields, zs, now=1_800_000_000)
    assert str(exc.value) == ("z.geojson: zone 0 ring 0: vertex 0 repeats the next one (the "
                              "device would refuse it)")
    assert authority.read_ledger(key) == {}


def test_zone_across_the_antimeridian_issues_and_inspects_west_to_east(key: Path,
                                                                       tmp_path: Path) -> None:
    z = tmp_path / "am.geojson"
    z.write_text(json.dumps(_poly([[170, 0], [190, 0], [190, 1], [170, 1], [170, 0]])))
    args = issue_args(key, tmp_path / "p.bin")
    args[args.index("--zone") + 1] = str(z)
    assert run(*args).exit_code == 0
    zone = inspect_json(tmp_path / "p.bin", key)["zones"][0]
    assert zone["bbox"] == [0.0, 170.0, 1.0, -170.0]  # west > east: across 180 (RFC 7946 5.2)
    assert zone["rings"][0] == [[0.0, 170.0], [0.0, -170.0], [1.0, -170.0], [1.0, 170.0]]


def _convex(n: int, lon0: float, lat0: float, r: float, turn: float) -> list[list[float]]:
    import math

    pts = [[round(lon0 + r * math.cos(turn + 2 * math.pi * i / n), 7),
            round(lat0 + r * math.sin(turn + 2 * math.pi * i / n), 7)] for i in range(n)]
    return [*pts, pts[0]]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(4, 40), lon0=st.floats(-179, 179), lat0=st.floats(-80, 80),
       r=st.floats(0.001, 0.9), turn=st.floats(0, 6.28), i=st.integers(0, 39))
def test_convex_rings_load_and_a_swapped_pair_is_a_bow_tie(n: int, lon0: float, lat0: float,
                                                           r: float, turn: float,
                                                           i: int) -> None:
    ring = _convex(n, lon0, lat0, r, turn)
    doc = json.loads(json.dumps(_poly(ring)), parse_float=Decimal)
    zones = geojson.parse_zones(doc, "c.geojson")
    assert len(zones[0][1][0]) == n  # nothing dropped, nothing refused
    i %= n - 1
    bow = ring[:-1]
    bow[i], bow[i + 1] = bow[i + 1], bow[i]  # two neighbours swapped: the ring crosses itself
    doc = json.loads(json.dumps(_poly([*bow, bow[0]])), parse_float=Decimal)
    with pytest.raises(geojson.GeoJSONError, match=r"c.geojson: zone 0 ring 0 vertex \d+ .*"
                       r"crosses the edge from vertex \d+ to vertex \d+ \(a bow-tie"):
        geojson.parse_zones(doc, "c.geojson")


@settings(max_examples=30, deadline=None)
@given(lat0=st.floats(-70, 70), metres=st.floats(5, 300), n=st.integers(60, 400))
def test_simplify_keeps_within_its_tolerance_and_reports_it(lat0: float, metres: float,
                                                             n: int) -> None:
    """--simplify METRES: the largest displacement it reports is measured on the sphere and
    stays within the tolerance, at any latitude (the projection stretches up to a few %)."""
    from armlock.authority import shapes

    ring = _convex(n, 13.4, lat0, 0.05, 0.3)
    doc = json.loads(json.dumps(_poly(ring)), parse_float=Decimal)
    zs = geojson.ZoneSet()
    geojson.read_doc(doc, "c.geojson", zs)
    out, lines = geojson.simplified(zs, metres)
    left = len(out.zones[0][1][0])
    moved = shapes.simplify(zs.written[0], metres)[1]
    assert 3 <= left <= n and moved <= metres
    assert lines == [f"c.geojson: zone 0 (coordinates): {n} -> {left} vertices, largest "
                     f"displacement {moved:,.0f} m"]


# -- signing key, key updates -----------------------------------------------------------------

def test_keys_init_makes_a_p256_signing_key_and_public_shows_its_id(key: Path) -> None:
    spath = authority.signing_key_path(key)
    assert stat.S_IMODE(spath.stat().st_mode) == 0o600
    res = run("keys", "public", "--key", key, "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    signer = authority.signer_for(key)
    assert d == {"key_id": signer.key_id.hex(), "public": signer.public.hex()}
    assert P.key_id(signer.public) == signer.key_id
    again = run("keys", "init", "--key", key)
    assert again.exit_code != 0 and "refusing to overwrite" in again.stderr


def test_key_update_cli_rotates_what_a_lock_trusts(key: Path, tmp_path: Path) -> None:
    """Issue a key update adding a new authority key and revoking the old one; a lock
    applies it and then refuses the old key's permits and accepts the new key's."""
    from firmware.core.controller import LockController
    new = tmp_path / "new" / "master.key"
    new.parent.mkdir()
    assert run("keys", "init", "--key", new).exit_code == 0
    old_s, new_s = authority.signer_for(key), authority.signer_for(new)
    out = tmp_path / "k.bin"
    res = run("permit", "key-update", "--device", "LOCK-0001", "--key", key, "--out", out,
              "--add", authority.signing_key_path(new), "--revoke", old_s.key_id.hex(),
              "--json")
    assert res.exit_code == 0, res.output
    d = inspect_json(out, key)
    assert d["kind"] == "key-update" and d["added_key_id"] == new_s.key_id.hex()
    assert d["revoked_key_id"] == old_s.key_id.hex() and d["verified"]
    ctl = LockController("LOCK-0001", bytes(32), authority=(old_s.public,))
    ctl.handle(("boot", None, "power_on"), 0, 1_900_000_000)
    acts = ctl.handle(("permit", out.read_bytes()), 10, 1_900_000_000)
    assert ("result", True, "key update 1 applied: 1 trusted key(s)") in acts
    assert ctl.status()["trusted_keys"] == [new_s.key_id.hex()]
    bad = run("permit", "key-update", "--device", "LOCK-0001", "--key", key, "--out",
              tmp_path / "x.bin", "--add", authority.signing_key_path(new), "--revoke", "zz")
    assert bad.exit_code != 0 and "16 hex digits" in bad.stderr
