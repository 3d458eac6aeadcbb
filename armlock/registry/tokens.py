"""Issuing tokens (permit, recall, reset, key update): allocate a serial, have the authority sign,
record the token. All in the caller's transaction: nothing is issued unless recorded."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from armlock.registry.db import RegistryError
from armlock.registry.models import Token
from armlock.registry.position import zone_warnings
from armlock.registry.records import attribute, now_s
from armlock.registry.serials import allocate
from armlock.registry.signer import AuthorityError, PermitError, Signer
from protocols import permit as P

KINDS = {"permit": P.KIND_PERMIT, "recall": P.KIND_RECALL, "reset": P.KIND_RESET,
         "key-update": P.KIND_KEYS}


def _jsonable(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def issue_token(s: Session, signer: Signer, actor: str, kind: str, device_id: str,
                fields: dict[str, Any] | None = None, at: int | None = None,
                shift_id: int | None = None, reason: str | None = None) -> Token:
    """Sign and record one token of `kind` for `device_id`."""
    if kind not in KINDS:
        raise RegistryError(f"token kind {kind!r}: one of {', '.join(KINDS)}")
    at = now_s() if at is None else at
    f = dict(fields or {}, kind=KINDS[kind], device_id=device_id)
    f.setdefault("not_before", at)
    f["serial"] = allocate(s, device_id)
    try:
        blob = signer.sign(f)
    except (PermitError, AuthorityError) as exc:
        raise RegistryError(f"{kind} for {device_id}: {exc}") from None
    notes = zone_warnings(s, device_id, blob) if kind == "permit" else []
    tok = Token(kind=kind, device_id=device_id, serial=f["serial"],
                signer_key_id=signer.key_id, not_before=f["not_before"],
                not_after=f.get("not_after"), zones=_jsonable(f.get("zones") or []),
                holders=_jsonable(f.get("holders") or []), blob=blob, shift_id=shift_id,
                reason=reason, issued_at=at, issued_by=actor)
    s.add(tok)
    s.flush()
    attribute(s, actor, f"token {kind}", device_id, at, serial=f["serial"], token=tok.id,
              reason=reason, **({"warnings": notes} if notes else {}))
    tok.notes = tuple(notes)
    return tok


def issue_recall(s: Session, signer: Signer, actor: str, device_id: str, reason: str,
                 at: int | None = None) -> Token:
    """A recall: the lock drops its permit and refuses every older one."""
    return issue_token(s, signer, actor, "recall", device_id, at=at, reason=reason)


def issue_reset(s: Session, signer: Signer, actor: str, device_id: str, reason: str,
                at: int | None = None) -> Token:
    """An authority tamper reset for a lock that was inspected."""
    return issue_token(s, signer, actor, "reset", device_id, at=at, reason=reason)


def issue_key_update(s: Session, signer: Signer, actor: str, device_id: str, added: bytes,
                     revoked: str | None, at: int | None = None) -> Token:
    """A key update, signed by the current key: the lock trusts the public point `added`
    from now on and no longer the key id `revoked` (hex; None: revoke none)."""
    try:
        rev = bytes.fromhex(revoked) if revoked else None
    except ValueError:
        rev = b""
    if rev is not None and len(rev) != P.KID_LEN:
        raise RegistryError(f"revoke {revoked!r}: a key id is {2 * P.KID_LEN} hex digits")
    why = f"trust {P.key_id(added).hex()}" + (f", revoke {revoked}" if revoked else "")
    return issue_token(s, signer, actor, "key-update", device_id,
                       {"added": added, "revoked": rev}, at=at, reason=why)
