"""Issuing and inspecting tokens (permit, recall, tamper reset, key update): signed with
the authority's P-256 signing key; card keys wrapped to the device with the master key."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from armlock.authority.cards import wrap_holders
from armlock.authority.checks import iso
from armlock.authority.keys import AuthorityError, load_master_key, signing_key_path
from armlock.authority.ledger import next_serial, read_ledger
from armlock.authority.signer import Signer, load_signer
from firmware.core import events as E
from firmware.core import rules
from hardware import fastverify
from hardware.signing import SigningError
from protocols import permit as P

KIND_NAMES = {P.KIND_PERMIT: "permit", P.KIND_RECALL: "recall", P.KIND_RESET: "tamper-reset",
              P.KIND_KEYS: "key-update"}
MODE_NAMES = {P.MODE_ANY: "any-of", P.MODE_ALL: "all-of", P.MODE_KOFN: "k-of-n"}


def issue(key_path: Path, fields: dict[str, Any]) -> bytes:
    """Sign a token (any kind) for fields["device_id"] with the next serial from the ledger.

    The fields are validated before a serial is reserved; a token once returned has its
    serial recorded, so the next one for the device is larger.
    """
    master = load_master_key(key_path)
    signer = signer_for(key_path)
    device_id = fields["device_id"]
    if fields.get("holders"):
        fields = dict(fields, holders=wrap_holders(master, device_id, list(fields["holders"])))
    P.encode(dict(fields, serial=1), signer)  # validate first: a bad request burns no serial
    return P.encode(dict(fields, serial=next_serial(key_path, device_id)), signer)


def signer_for(key_path: Path) -> Signer:
    """The signing key next to the master key file (AuthorityError if missing)."""
    try:
        return load_signer(signing_key_path(key_path))
    except SigningError as exc:
        raise AuthorityError(f"{exc} (create it with `armlock keys init`)") from None


def issue_key_update(key_path: Path, device_id: str, added: bytes, revoked: bytes | None,
                     now: int | None = None) -> bytes:
    """A key-update token: the device trusts the public point `added` from now on and no
    longer key id `revoked` (None: revoke none)."""
    return issue(key_path, {"kind": P.KIND_KEYS, "device_id": device_id, "added": added,
                            "revoked": revoked,
                            "not_before": int(time.time()) if now is None else now})


def issue_recall(key_path: Path, device_id: str, now: int | None = None) -> bytes:
    """A recall token: the device drops its permit and refuses older ones."""
    return issue(key_path, {"kind": P.KIND_RECALL, "device_id": device_id,
                            "not_before": int(time.time()) if now is None else now})


def issue_reset(key_path: Path, device_id: str, now: int | None = None) -> bytes:
    """An authority tamper-reset token: clears a latched tamper on the device."""
    return issue(key_path, {"kind": P.KIND_RESET, "device_id": device_id,
                            "not_before": int(time.time()) if now is None else now})


# -- inspecting -------------------------------------------------------------------------------

STATUS_BASIS = ("the core's own check (firmware.core.rules.validity) at this computer's "
                "clock; the device applies it at its trusted time")
STATUS = {None: "valid", E.R_NOT_YET: "not yet valid", E.R_EXPIRED: "expired"}


def _status(p: P.Permit, now: int) -> str:
    if p.kind != P.KIND_PERMIT:
        return "issued"
    return STATUS[rules.validity(p, now)]


def _lon_span(lons: list[int]) -> tuple[int, int]:
    """West and east edge of a ring's longitudes, edges the short way round as the device
    reads them; west > east when the ring crosses the antimeridian (RFC 7946 5.2)."""
    half, full = 1800000000, 3600000000
    run, lo, hi = lons[0], lons[0], lons[0]
    for a, b in zip(lons, lons[1:], strict=False):
        run += (b - a + half) % full - half
        lo, hi = min(lo, run), max(hi, run)
    wrap = lambda v: (v + half) % full - half if abs(v) > half else v  # noqa: E731
    return wrap(lo), wrap(hi)


def _zone_dict(forbidden: bool, rings: list[Any]) -> dict[str, Any]:
    outer = rings[0]
    lats = outer[0::2]
    west, east = _lon_span(list(outer[1::2]))
    return {
        "kind": "forbidden" if forbidden else "allowed",
        "vertices": [len(r) // 2 for r in rings],
        "bbox": [min(lats) / 1e7, west / 1e7, max(lats) / 1e7, east / 1e7],
        "rings": [[[r[i] / 1e7, r[i + 1] / 1e7] for i in range(0, len(r), 2)] for r in rings],
    }


def describe(p: P.Permit, now: int, ledger_last: int | None = None) -> dict[str, Any]:
    """A JSON-ready description of a decoded token, with status relative to `now`."""
    d: dict[str, Any] = {
        "kind": KIND_NAMES[p.kind], "device_id": p.device_id, "serial": p.serial,
        "verified": p.verified, "status": _status(p, now), "status_basis": STATUS_BASIS,
        "signer_key_id": p.key_id.hex(), "signature": p.signature.hex(),
    }
    if p.kind == P.KIND_KEYS:
        d["added_key_id"] = P.key_id(p.added).hex()
        d["revoked_key_id"] = None if p.revoked == P.NO_KID else p.revoked.hex()
    if p.kind != P.KIND_PERMIT:
        d["issued_at"] = iso(p.not_before)
    else:
        factors = [n for bit, n in ((P.F_RFID, "rfid"), (P.F_FINGER, "finger"))
                   if p.factor_mask & bit]
        d.update({
            "not_before": iso(p.not_before), "not_after": iso(p.not_after),
            "fail_profile": "fail-enabled" if p.fail_enabled else "fail-secure",
            "max_unlock_s": p.max_unlock_s, "rule": MODE_NAMES[p.rule_mode], "k": p.k,
            "factors": factors, "window_s": p.window_s,
            "holders": [{"id": h, "rfid": list(c), "finger": list(t),
                         "card_keys": sum(1 for x in c if x in p.card_keys)}
                        for h, c, t in p.holders],
            "zones": [_zone_dict(f, r) for f, r in p.zones],
        })
    if ledger_last is not None and p.serial < ledger_last:
        d["superseded"] = (f"serial {p.serial} < last issued {ledger_last}: a device that "
                           "loaded a newer token refuses this one")
    return d


def inspect(blob: bytes, key_path: Path | None, now: int | None = None,
            device_id: str | None = None) -> dict[str, Any]:
    """Verify (with the signing key next to the master key at key_path) and describe a
    token; key_path None skips verification. Raises PermitError/AuthorityError with one
    line on any problem."""
    now = int(time.time()) if now is None else now
    target = P.peek_device_id(blob)
    if device_id is not None and target != device_id:
        raise AuthorityError(f"token is for device {target}, not {device_id}")
    if key_path is None:
        return describe(P.decode(blob, None), now)
    signer = signer_for(key_path)
    keys = {signer.key_id: fastverify.PublicKey(signer.public)}
    p = P.decode(blob, keys, fastverify.verify)
    return describe(p, now, read_ledger(key_path).get(target))
