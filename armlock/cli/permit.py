"""`armlock permit`: issue, inspect, recall and tamper-reset tokens."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from armlock import authority
from armlock.authority import zones
from armlock.authority.checks import FINGER_CAPACITY, check_device_id
from armlock.authority.desk import Desk, issue_permit
from armlock.cli.common import UserError, console, err_console, friendly
from armlock.cli.keys import JSON_OPT, KEY_OPT, key_path
from protocols import permit as P

app = typer.Typer(help="Issue, inspect, recall and tamper-reset permit tokens.",
                  no_args_is_help=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, what: str) -> int:
    """'90s', '10m', '8h', '2d', '1h30m' -> seconds (> 0)."""
    t = text.strip().lower()
    parts = re.findall(r"(\d+)([smhd])", t)
    if not parts or "".join(n + u for n, u in parts) != t:
        raise UserError(f"{what} {text!r}: expected a duration like 30s, 10m, 8h, 2d or 1h30m")
    secs = sum(int(n) * _UNITS[u] for n, u in parts)
    if secs <= 0:
        raise UserError(f"{what} {text!r}: must be longer than 0 s")
    return secs


def parse_start(text: str) -> int:
    """'now' or an ISO 8601 time (no zone = UTC) -> UTC seconds."""
    if text.strip().lower() == "now":
        return int(time.time())
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--start {text!r}: expected 'now' or ISO 8601 like "
                        "2026-01-01T08:00:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def parse_rule(rule: str, factors: str) -> tuple[int, int, int]:
    """--rule any | all | K-of-N and --factors rfid,finger -> (mode, mask, k) by
    protocols.permit.factor_rule; N must be the number of factors."""
    names = [s.strip().lower() for s in factors.split(",") if s.strip()]
    t = rule.strip().lower()
    k = None
    m = re.fullmatch(r"(\d+)-of-(\d+)", t)
    if m:
        k, n = int(m.group(1)), int(m.group(2))
        if n != len(set(names)):
            raise UserError(f"--rule {rule!r}: N is {n} but --factors {factors!r} names "
                            f"{len(set(names))}")
        t = "k-of-n"
    elif t not in ("any", "all"):
        raise UserError(f"--rule {rule!r}: expected any, all or K-of-N (e.g. 1-of-2)")
    try:
        return P.factor_rule(t, names, k)
    except ValueError as exc:
        raise UserError(f"--rule {rule!r} --factors {factors!r}: {exc}") from None


def parse_holder(spec: str) -> tuple[int, tuple[str, ...], tuple[int, ...]]:
    """'ID:rfid=04A1B2C3,finger=3,...' -> (holder id, rfid hex ids, template ids)."""
    head, sep, rest = spec.partition(":")
    where = f"--holder {spec!r}"
    if not sep or not head.strip().isdigit() or int(head) > 0xFFFF:
        raise UserError(f"{where}: expected ID:rfid=HEX,finger=N,... with ID 0..65535")
    rfid: list[str] = []
    finger: list[int] = []
    for item in filter(None, (s.strip() for s in rest.split(","))):
        name, eq, value = item.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name == "rfid" and eq:
            if not re.fullmatch(r"(?:[0-9A-Fa-f]{2}){%d,%d}" % (P.MIN_CRED, P.MAX_CRED), value):
                raise UserError(f"{where}: rfid {value!r} must be {P.MIN_CRED}..{P.MAX_CRED} "
                                "bytes of hex")
            rfid.append(value.upper())
        elif name == "finger" and eq:
            if not value.isdigit() or int(value) > 0xFFFF:
                raise UserError(f"{where}: finger {value!r} must be a template id 0..65535")
            finger.append(int(value))
        else:
            raise UserError(f"{where}: unknown item {item!r} (rfid=HEX or finger=N)")
    if not rfid and not finger:
        raise UserError(f"{where}: holder lists no credential")
    return int(head), tuple(rfid), tuple(finger)


def _check_holders(holders: list[Any], mask: int) -> None:
    for hid, rfid, finger in holders:
        if rfid and not mask & P.F_RFID:
            raise UserError(f"holder {hid} has rfid credentials but --factors excludes rfid")
        if finger and not mask & P.F_FINGER:
            raise UserError(f"holder {hid} has fingerprints but --factors excludes finger")


def write_token(out: Path, blob: bytes) -> None:
    """Write a token atomically (temp file + rename)."""
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, out)


def check_out(out: Path, force: bool) -> None:
    """Refuse an --out whose directory is missing, or that holds a file, unless --force."""
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: directory {out.parent} does not exist")
    if out.is_dir():
        raise UserError(f"--out {out}: is a directory, expected a token file name")
    if out.exists() and not force:
        raise UserError(f"--out {out}: exists (a token issued earlier?); give --force to "
                        "replace it")


def _fail_profile(text: str) -> bool:
    t = text.strip().lower()
    if t not in ("fail-secure", "fail-enabled"):
        raise UserError(f"--fail-profile {text!r}: expected fail-secure or fail-enabled")
    return t == "fail-enabled"


def _u16_duration(text: str, what: str) -> int:
    secs = parse_duration(text, what)
    if secs > 0xFFFF:
        raise UserError(f"{what} {text!r}: at most 65535 s (18h12m15s)")
    return secs


def _zones(paths: list[Path] | None, simplify: float | None) -> zones.ZoneSet | None:
    if not paths:
        if simplify is not None:
            raise UserError("--simplify needs --zone")
        return None
    zs = zones.read_all(paths)
    if simplify is not None:
        if simplify <= 0:
            raise UserError(f"--simplify {simplify:g}: give a tolerance in metres > 0")
        zs, lines = zones.simplified(zs, simplify)
        for line in lines:
            err_console.print(f"simplified {line}", highlight=False, markup=False)
    return zs


FORCE_OPT = typer.Option(False, "--force", help="Replace an existing --out file.")
OUT_OPT = typer.Option(..., "--out", help="Token file to write.")


@app.command("issue")
@friendly
def issue(
    device: str = typer.Option(..., "--device", help="Device id the permit is for (1..32 "
                               "printable ASCII characters)."),
    holder: list[str] = typer.Option(..., "--holder", help="ID:rfid=HEX,finger=N,... "
                                     "(repeatable)."),
    zone: list[Path] = typer.Option(None, "--zone", help="GeoJSON zone file (repeatable; "
                                    "none: the permit does not limit where)."),
    simplify: float = typer.Option(None, "--simplify", metavar="METRES",
                                   help="Simplify zones to within METRES (shapely)."),
    valid: str = typer.Option(..., "--valid", help="Validity, e.g. 8h, 30m, 2d."),
    start: str = typer.Option("now", "--start", help="'now' or ISO 8601 start (UTC)."),
    rule: str = typer.Option("all", "--rule", help="any | all | K-of-N."),
    factors: str = typer.Option("rfid,finger", "--factors", help="rfid,finger"),
    window: str = typer.Option("30s", "--window", help="Time all factors must fall within."),
    max_unlock: str = typer.Option("10m", "--max-unlock", help="Longest single unlock."),
    fail_profile: str = typer.Option("fail-secure", "--fail-profile",
                                     help="fail-secure | fail-enabled."),
    max_validity: str = typer.Option("30d", "--max-validity", help="Refuse a validity "
                                     "longer than this."),
    finger_capacity: int = typer.Option(FINGER_CAPACITY, "--finger-capacity", min=1,
                                        max=0x10000, help="Templates the fingerprint "
                                        "module holds (ids 0..N-1)."),
    out: Path = typer.Option(..., "--out", help="Token file to write."),
    force: bool = FORCE_OPT,
    as_json: bool = JSON_OPT,
    key: Path | None = KEY_OPT,
) -> None:
    """Issue a signed permit for one device (checked as the device will check it)."""
    check_device_id(device)
    mode, mask, k = parse_rule(rule, factors)
    holders = [parse_holder(h) for h in holder]
    _check_holders(holders, mask)
    nb = parse_start(start)
    fields = {
        "kind": P.KIND_PERMIT, "device_id": device, "not_before": nb,
        "not_after": nb + parse_duration(valid, "--valid"),
        "fail_enabled": _fail_profile(fail_profile),
        "max_unlock_s": _u16_duration(max_unlock, "--max-unlock"), "rule_mode": mode,
        "factor_mask": mask, "k": k, "window_s": _u16_duration(window, "--window"),
        "holders": holders,
    }
    check_out(out, force)
    desk = Desk(parse_duration(max_validity, "--max-validity"), finger_capacity)
    zs = _zones(zone, simplify)
    blob, notes = issue_permit(key_path(key), fields, zs, desk,
                               f"--rule {rule} --factors {factors}")
    for note in notes:
        err_console.print(f"note: {note}", highlight=False, markup=False)
    write_token(out, blob)
    _report(out, blob, as_json)


def _report(out: Path, blob: bytes, as_json: bool) -> None:
    d = authority.describe(P.decode(blob, None), int(time.time()))
    d.pop("verified")
    d["file"], d["bytes"] = str(out), len(blob)
    if as_json:
        print(json.dumps(d, indent=1))
        return
    if d["kind"] != "permit":
        console.print(f"wrote {out}: {d['kind']} serial {d['serial']} for {d['device_id']}, "
                      f"issued {d['issued_at']}", highlight=False, soft_wrap=True)
        return
    console.print(
        f"wrote {out}: permit serial {d['serial']} for {d['device_id']}, {d['not_before']} to "
        f"{d['not_after']}, {len(d['holders'])} holder(s), {len(d['zones'])} zone(s), "
        f"{len(blob)} bytes", highlight=False, soft_wrap=True)


def _table(d: dict[str, Any]) -> Table:
    t = Table(title=f"armlock {d['kind']} token", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    status_style = {"valid": "green", "issued": "green"}.get(d["status"], "red")
    for name in ("device_id", "serial", "issued_at", "not_before", "not_after"):
        if name in d:
            t.add_row(name, str(d[name]))
    t.add_row("status", f"[{status_style}]{d['status']}[/] ({d['status_basis']})")
    t.add_row("signature", f"verified (key {d['signer_key_id']})" if d["verified"] else
              f"[yellow]NOT VERIFIED[/] (key {d['signer_key_id']})")
    if d["kind"] == "key-update":
        t.add_row("adds key", d["added_key_id"])
        t.add_row("revokes key", d["revoked_key_id"] or "none")
    if "superseded" in d:
        t.add_row("note", f"[yellow]{d['superseded']}[/]")
    if d["kind"] == "permit":
        t.add_row("fail profile", d["fail_profile"])
        t.add_row("rule", f"{d['rule']} {'+'.join(d['factors'])} (k={d['k']}) within "
                  f"{d['window_s']} s")
        t.add_row("max unlock", f"{d['max_unlock_s']} s")
        for h in d["holders"]:
            creds = [f"rfid {c}" for c in h["rfid"]] + [f"finger {f}" for f in h["finger"]]
            t.add_row(f"holder {h['id']}", ", ".join(creds))
        for i, z in enumerate(d["zones"]):
            b = z["bbox"]
            across = " (across 180)" if b[1] > b[3] else ""
            t.add_row(f"zone {i}", f"{z['kind']}, vertices {z['vertices']}, lat {b[0]:.5f}.."
                      f"{b[2]:.5f}, lon {b[1]:.5f}..{b[3]:.5f}{across}")
    return t


@app.command("inspect")
@friendly
def inspect(
    file: Path = typer.Argument(..., help="Token file."),
    key: Path | None = KEY_OPT,
    device: str | None = typer.Option(None, "--device", help="Fail unless the token is for "
                                      "this device."),
    unverified: bool = typer.Option(False, "--unverified", help="Show a token without the "
                                    "authority keys (signature not checked)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Verify a token's signature with the authority signing key, and show it."""
    try:
        blob = file.read_bytes()
    except OSError as exc:
        raise UserError(f"{file}: cannot read ({exc.strerror})") from None
    try:
        d = authority.inspect(blob, None if unverified else key_path(key), device_id=device)
    except P.PermitError as exc:
        raise UserError(f"{file}: {exc}") from None
    if as_json:
        print(json.dumps(d, indent=1))
    else:
        console.print(_table(d))


def _simple(kind: str, device: str, out: Path, key: Path | None, force: bool,
            as_json: bool) -> None:
    check_device_id(device)
    check_out(out, force)
    make = authority.issue_recall if kind == "recall" else authority.issue_reset
    blob = make(key_path(key), device)
    write_token(out, blob)
    _report(out, blob, as_json)


@app.command("recall")
@friendly
def recall(
    device: str = typer.Option(..., "--device", help="Device id."),
    out: Path = typer.Option(..., "--out", help="Token file to write."),
    force: bool = FORCE_OPT,
    as_json: bool = JSON_OPT,
    key: Path | None = KEY_OPT,
) -> None:
    """Issue a recall: the device drops its permit and stays locked."""
    _simple("recall", device, out, key, force, as_json)


@app.command("reset-tamper")
@friendly
def reset_tamper(
    device: str = typer.Option(..., "--device", help="Device id."),
    out: Path = typer.Option(..., "--out", help="Token file to write."),
    force: bool = FORCE_OPT,
    as_json: bool = JSON_OPT,
    key: Path | None = KEY_OPT,
) -> None:
    """Issue an authority tamper reset: clears the device's tamper latch."""
    _simple("tamper-reset", device, out, key, force, as_json)


@app.command("key-update")
@friendly
def key_update(
    device: str = typer.Option(..., "--device", help="Device id."),
    add: Path = typer.Option(..., "--add", help="Public key the device will trust: a PEM "
                             "(public or private key file) or a file of 130 hex digits."),
    revoke: str = typer.Option(None, "--revoke", help="Key id (16 hex digits) the device "
                               "stops trusting (default: none)."),
    out: Path = OUT_OPT,
    force: bool = FORCE_OPT,
    as_json: bool = JSON_OPT,
    key: Path | None = KEY_OPT,
) -> None:
    """Issue a key update: the device trusts one more authority key and may revoke one."""
    check_device_id(device)
    check_out(out, force)
    revoked = None
    if revoke is not None:
        try:
            revoked = bytes.fromhex(revoke)
        except ValueError:
            revoked = b""
        if len(revoked) != P.KID_LEN:
            raise UserError(f"--revoke {revoke!r}: a key id is 16 hex digits")
    blob = authority.issue_key_update(key_path(key), device, _public_point(add), revoked)
    write_token(out, blob)
    _report(out, blob, as_json)


def _public_point(path: Path) -> bytes:
    """The 65-byte point of a PEM key file or a hex file."""
    from cryptography.hazmat.primitives import serialization

    from hardware import signing
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--add {path}: cannot read ({exc.strerror})") from None
    text = data.decode("ascii", "replace").strip()
    if "PUBLIC KEY" in text:
        return signing.public_bytes(serialization.load_pem_public_key(data))  # type: ignore[arg-type]
    if "PRIVATE KEY" in text:
        return signing.public_bytes(signing.load(path))
    try:
        pt = bytes.fromhex(text)
    except ValueError:
        pt = b""
    if len(pt) != P.POINT_LEN or pt[0] != 4:
        raise UserError(f"--add {path}: expected a PEM key or 130 hex digits (04 || X || Y)")
    return pt
