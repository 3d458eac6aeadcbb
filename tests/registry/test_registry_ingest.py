"""Audit ingest: chains verified on ingest; forged, truncated, reordered, forked and gapped
uploads refused, flagged and kept; re-reads not stored twice."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from armlock.registry import db
from armlock.registry.ingest import ingest
from armlock.registry.models import Alert, AuditRecord, AuditUpload
from armlock.registry.trace import trace
from protocols import audit as A
from tests.registry.armoury import ACTOR, T0, stock

DEV = "AL-0001"


def chain(n: int, device: str = DEV, start: int = 0) -> list[bytes]:
    """n records of a device's chain; `start` records are made first and dropped."""
    c = A.Chain(device)
    recs = [c.append(T0 + i, "unlock" if i % 2 else "relock", f"holder=1 n={i}")
            for i in range(start + n)]
    return recs[start:]


def _records(s, accepted=True):
    return list(s.scalars(select(AuditRecord).where(AuditRecord.accepted == accepted)
                          .order_by(AuditRecord.id)))


@pytest.fixture
def armoury(factory):
    with db.transaction(factory) as s:
        stock(s, 1)
    return factory


def test_good_uploads_continue_the_chain_and_rereads_are_not_stored_twice(armoury):
    recs = chain(10)
    with db.transaction(armoury) as s:
        r1 = ingest(s, DEV, recs[:6], ACTOR, at=T0)
    assert r1.accepted and r1.new == 6 and r1.ack_upto == 6
    with db.transaction(armoury) as s:  # not acknowledged: the device sends 1..10 again
        r2 = ingest(s, DEV, recs, ACTOR, at=T0)
    assert r2.accepted and (r2.new, r2.duplicates, r2.ack_upto) == (4, 6, 10)
    with db.transaction(armoury) as s:  # acknowledged up to 10: only new records come
        r3 = ingest(s, DEV, chain(3, start=10), ACTOR, head_seq=13, at=T0)
    assert r3.accepted and r3.new == 3
    with armoury() as s:
        assert [r.seq for r in _records(s)] == list(range(1, 14))
        assert A.verify([r.raw for r in _records(s)], DEV) == []
        events = trace(s, "SN-0001")["lock_events"]
        assert events[1]["code"] == "unlock" and events[1]["holder"] == "S-0001"


def _forged(recs):
    seq, t, code, detail, _h = A.decode(recs[3])
    body = recs[3][:-32]
    fake = body.replace(b"holder=1", b"holder=9") + recs[3][-32:]
    return recs[:3] + [fake] + recs[4:]


def _rechained(recs):
    # an attacker who knows the format rewrites record 4 and re-chains the rest
    c = A.Chain(DEV)
    out = []
    for r in recs:
        seq, t, code, detail, _h = A.decode(r)
        out.append(c.append(t, code, "holder=9" if seq == 4 else detail))
    return out


CASES = {
    "forged": (_forged, None, "forged"),
    "reordered": (lambda r: r[:3] + [r[4], r[3]] + r[5:], None, "reordered"),
    "gap": (lambda r: r[:3] + r[4:], None, "gap"),
    "truncated": (lambda r: r[:5], 8, "truncated"),
    "malformed": (lambda r: r[:3] + [r[3][:20]] + r[4:], None, "malformed"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_uploads_are_refused_flagged_and_kept(armoury, case):
    mangle, head, flag = CASES[case]
    good = chain(8)
    bad = mangle(list(good))
    with db.transaction(armoury) as s:
        res = ingest(s, DEV, bad, ACTOR, head_seq=head, at=T0)
    assert not res.accepted and res.ack_upto is None
    assert any(flag in p for p in res.problems)
    with armoury() as s:
        assert _records(s) == []  # nothing joined the chain
        kept = _records(s, accepted=False)
        assert [r.raw for r in kept] == bad  # every byte kept as evidence
        if flag != "truncated":
            assert flag in {r.flag for r in kept}
        up = s.scalar(select(AuditUpload))
        assert not up.accepted and up.problems == res.problems
        assert s.scalar(select(Alert).where(Alert.kind == "audit")) is not None
    with db.transaction(armoury) as s:  # the genuine log is still accepted afterwards
        assert ingest(s, DEV, good, ACTOR, head_seq=8, at=T0).accepted


def test_a_fork_of_stored_history_is_refused(armoury):
    good = chain(8)
    with db.transaction(armoury) as s:
        assert ingest(s, DEV, good, ACTOR, at=T0).accepted
    with db.transaction(armoury) as s:  # the device now tells another story for 4..8
        res = ingest(s, DEV, _rechained(good), ACTOR, at=T0)
    assert not res.accepted and any("fork" in p for p in res.problems)
    with armoury() as s:
        assert len(_records(s)) == 8
        assert {r.flag for r in _records(s, accepted=False)} == {"duplicate", "fork"}


def test_a_chain_from_another_device_is_refused(armoury):
    with db.transaction(armoury) as s:
        res = ingest(s, DEV, chain(3, device="AL-0002"), ACTOR, at=T0)
    assert not res.accepted


def test_accepted_records_raise_alerts_once(armoury):
    c = A.Chain(DEV)
    recs = [c.append(T0, "boot", "cause=power_on"), c.append(T0, "tamper",
                                                             "source=magnet latched"),
            c.append(T0, "lockout", "level=1 seconds=30"), c.append(T0, "fault", "rfid ok"),
            c.append(T0, "fault", "gnss failed")]
    for _ in range(2):
        with db.transaction(armoury) as s:
            assert ingest(s, DEV, recs, ACTOR, at=T0).accepted
    with armoury() as s:
        kinds = list(s.scalars(select(Alert.kind).order_by(Alert.id)))
        assert kinds == ["tamper", "lockout", "fault"]  # a sensor back to ok is no alert
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == 5
