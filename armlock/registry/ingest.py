"""Audit ingest: verify a lock's uploaded records against the stored chain, keep everything.

An upload is accepted only if, appended to the records already accepted for the device,
the hash chain holds (`protocols.audit.verify`), sequence numbers continue without a
gap, and nothing is missing at the end. Records already stored (a re-read after a dock
that was not acknowledged) are recognised and not stored twice. A refused upload is
kept record by record as evidence, each flagged (malformed, fork, gap, reordered,
forged, truncated), and raises an alert. The caller acknowledges the device only after
the transaction that holds an accepted upload committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from armlock.registry.alerts import raise_alert
from armlock.registry.models import AuditRecord, AuditUpload
from armlock.registry.records import get_device, now_s
from protocols import audit as A

# records whose code (with this word in the detail) the armourer is alerted to
ALERT_CODES = {"tamper": "", "lockout": "", "fix_implausible": "jump", "fault": "failed",
               "time": "rollback"}


@dataclass
class Checked:
    raw: bytes
    seq: int | None = None
    time_s: int | None = None
    code: str | None = None
    detail: str | None = None
    hash: bytes | None = None
    flag: str | None = None  # None: fine; "duplicate": already stored; else a problem


@dataclass
class IngestResult:
    upload_id: int
    accepted: bool
    new: int
    duplicates: int
    problems: list[str] = field(default_factory=list)
    ack_upto: int | None = None  # acknowledge the device up to this seq once committed


def chain_tail(s: Session, device_id: str) -> tuple[int, bytes] | None:
    """(seq, hash) of the newest accepted record of a device, or None."""
    row = s.execute(select(AuditRecord.seq, AuditRecord.hash)
                    .where(AuditRecord.device_id == device_id, AuditRecord.accepted)
                    .order_by(AuditRecord.seq.desc()).limit(1)).first()
    return (int(row[0]), bytes(row[1])) if row else None


def _stored_hashes(s: Session, device_id: str, lo: int, hi: int) -> dict[int, bytes]:
    rows = s.execute(select(AuditRecord.seq, AuditRecord.hash)
                     .where(AuditRecord.device_id == device_id, AuditRecord.accepted,
                            AuditRecord.seq >= lo, AuditRecord.seq <= hi))
    return {int(q): bytes(h) for q, h in rows}


def _decode_all(records: list[bytes]) -> list[Checked]:
    out = []
    for raw in records:
        c = Checked(bytes(raw))
        try:
            c.seq, c.time_s, c.code, c.detail, c.hash = A.decode(c.raw)
        except (ValueError, UnicodeDecodeError):
            c.flag = "malformed"
        out.append(c)
    return out


def _classify(s: Session, device_id: str, checked: list[Checked],
              tail: tuple[int, bytes] | None) -> tuple[list[str], bytes | None]:
    """Flag each record; return the problems and the hash the new run chains from."""
    problems: list[str] = []
    tail_seq, prev = tail if tail else (0, A.genesis(device_id))
    seqs = [c.seq for c in checked if c.seq is not None and c.seq <= tail_seq]
    stored = _stored_hashes(s, device_id, min(seqs), max(seqs)) if seqs else {}
    run_prev = prev
    expect = tail_seq + 1
    for i, c in enumerate(checked):
        if c.flag == "malformed":
            problems.append(f"record #{i}: malformed")
            continue
        assert c.seq is not None and c.hash is not None
        if c.seq <= tail_seq:
            c.flag = "duplicate" if stored.get(c.seq) == c.hash else "fork"
        elif c.seq < expect:
            c.flag = "reordered"
        elif c.seq > expect:
            c.flag = "gap"
        elif A.verify([c.raw], device_id, first_prev=prev):
            c.flag = "forged"
        if c.flag not in (None, "duplicate"):
            problems.append(f"record #{i} seq {c.seq}: {c.flag}")
        if c.flag != "duplicate":
            prev, expect = c.hash, max(expect, c.seq + 1)
    return problems, run_prev


def ingest(s: Session, device_id: str, records: list[bytes], actor: str,
           head_seq: int | None = None, at: int | None = None) -> IngestResult:
    """Check and store an upload of `records` from `device_id` (see the module doc).

    `head_seq`: the newest seq the device says it has (records missing at the end of
    the upload are then found)."""
    get_device(s, device_id)
    at = now_s() if at is None else at
    tail = chain_tail(s, device_id)
    checked = _decode_all(records)
    problems, run_prev = _classify(s, device_id, checked, tail)
    new = [c for c in checked if c.flag != "duplicate"]
    last = max([c.seq for c in checked if c.seq is not None] + [tail[0] if tail else 0])
    if head_seq is not None and last < head_seq:
        problems.append(f"upload ends at seq {last}, the device's head is {head_seq} "
                        "(truncated)")
    if not problems and new:
        first_prev = run_prev if tail else None
        problems = A.verify([c.raw for c in new], device_id, first_prev=first_prev)
    accepted = not problems
    up = AuditUpload(device_id=device_id, received_at=at, received_by=actor,
                     count=len(records), accepted=accepted, problems=problems)
    s.add(up)
    s.flush()
    keep = new if accepted else checked
    if keep:
        s.execute(insert(AuditRecord), [
            dict(device_id=device_id, upload_id=up.id, seq=c.seq, time_s=c.time_s,
                 code=c.code, detail=c.detail, hash=c.hash, raw=c.raw, accepted=accepted,
                 flag=c.flag if not accepted else None) for c in keep])
    _alerts(s, device_id, up, new, accepted, problems, at)
    ack = last if accepted and last else None
    return IngestResult(up.id, accepted, len(new) if accepted else 0,
                        len(checked) - len(new), problems, ack)


def _alerts(s: Session, device_id: str, up: AuditUpload, new: list[Checked],
            accepted: bool, problems: list[str], at: int) -> None:
    if not accepted:
        raise_alert(s, "audit", f"{device_id}: audit upload {up.id} refused: "
                    + "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else ""),
                    device_id, at=at)
        return
    for c in new:
        want = ALERT_CODES.get(c.code or "")
        if want is None or want not in (c.detail or ""):
            continue
        raise_alert(s, c.code or "", f"{device_id} reported {c.code} {c.detail} "
                    f"(audit seq {c.seq})", device_id, key=f"rec:{device_id}:{c.seq}", at=at)
