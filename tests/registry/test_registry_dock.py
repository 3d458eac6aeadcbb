"""Shift issue, docking against virtual boards, trace and inventory, end to end."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from armlock.registry import db
from armlock.registry import records as R
from armlock.registry.dock import connect, counter_store, dock_all, dock_one
from armlock.registry.inventory import inventory
from armlock.registry.models import Alert, AuditRecord, Token
from armlock.registry.shift import ShiftSpec, issue_shift, read_roster
from armlock.registry.trace import export_weapon, trace
from tests.registry.armoury import ACTOR, stock
from tests.registry.boards import virtual_board

ROSTER = "holder,weapon\nS-0001,SN-0001\nS-0002,SN-0002\nS-0003,SN-0002\n"


@pytest.fixture
def armoury(factory):
    with db.transaction(factory) as s:
        stock(s, 3, at=int(time.time()) - 3600)
        R.enrol_finger(s, ACTOR, "S-0003", "AL-0002", 50)
    return factory


def test_roster_errors_name_the_line():
    with pytest.raises(db.RegistryError, match="header"):
        read_roster("name,gun\na,b\n")
    with pytest.raises(db.RegistryError, match="line 3"):
        read_roster("holder,weapon\nS-1,SN-1\n,SN-2\n")


def test_shift_is_all_or_nothing(armoury, signer):
    bad = ROSTER + "S-0001,SN-9999\n"
    with pytest.raises(db.RegistryError, match="SN-9999"), db.transaction(armoury) as s:
        issue_shift(s, signer, ACTOR, read_roster(bad), ShiftSpec("day"))
    with armoury() as s:
        assert s.scalars(select(Token)).all() == []
    with db.transaction(armoury) as s:
        _shift, toks = issue_shift(s, signer, ACTOR, read_roster(ROSTER), ShiftSpec("day"))
    assert [(t.device_id, [h[0] for h in t.holders]) for t in toks] == [
        ("AL-0001", [1]), ("AL-0002", [2, 3])]
    # each holder's fingerprint template is the one enrolled on that lock
    assert toks[1].holders[1] == [3, ["04000000000003"], [50]]


def test_dock_loads_pulls_commits_then_acknowledges(armoury, signer, tmp_path):
    with db.transaction(armoury) as s:
        _shift, toks = issue_shift(s, signer, ACTOR, read_roster(ROSTER), ShiftSpec("day"))
    counters = tmp_path / "counters"
    with virtual_board(tmp_path / "b1", "AL-0001", signer) as b1, \
            virtual_board(tmp_path / "b2", "AL-0002", signer) as b2:
        results = dock_all(armoury, signer, [b1.port, b2.port], ACTOR, counters=counters)
        assert [r.error for r in results] == ["", ""]
        assert all(r.ok and r.delivered.endswith("delivered") for r in results)
        assert [r.status["permit"]["serial"] for r in results] == [t.serial for t in toks]
        with connect(b1.port, signer.device_key("AL-0001"),
                          counter_store(counters, "AL-0001")) as c:
            c.stimulate("tamper", source="magnet")
        again = dock_one(armoury, signer, b1.port, ACTOR, counters=counters)
        assert again.ok and "already loaded" in again.delivered
    with armoury() as s:
        codes = list(s.scalars(select(AuditRecord.code).where(
            AuditRecord.device_id == "AL-0001").order_by(AuditRecord.seq)))
        assert codes[:2] == ["boot", "permit_loaded"] and codes[-1] == "tamper"
        assert len(codes) == len(set(s.scalars(select(AuditRecord.seq).where(
            AuditRecord.device_id == "AL-0001"))))
        alert = s.scalar(select(Alert).where(Alert.kind == "tamper"))
        assert alert.device_id == "AL-0001" and "magnet" in alert.message
        t = trace(s, "SN-0002")
        assert t["status"] == "issued"
        assert [h["service_number"] for h in t["holdings"][-1]["holders"]] == [
            "S-0002", "S-0003"]
        assert t["integrity"]["intact"] and t["last_seen"]["dock_port"] == b2.port
        assert {"boot", "permit_loaded"} <= {e["code"] for e in t["lock_events"]}
        full = export_weapon(s, "SN-0001")
        assert full["tokens"][0]["token_hex"] == toks[0].blob.hex()
        assert full["retention_years"]["weapon markings"] >= 30
        inv = inventory(s)
        assert inv["expected_in_armoury"] == 1  # SN-0003 was not issued
        assert any("SN-0003" in p and "not docked" in p for p in inv["discrepancies"])


def test_an_unenrolled_lock_is_reported_not_docked(armoury, signer, tmp_path):
    with virtual_board(tmp_path / "b", "AL-0099", signer) as b:
        r = dock_one(armoury, signer, b.port, ACTOR, counters=tmp_path / "counters")
    assert "not enrolled" in r.error and not r.ok


@pytest.mark.parametrize("rule,k,ok", [("all", None, False), ("any", None, True),
                                       ("k-of-n", 1, True), ("k-of-n", 2, False)])
def test_shift_needs_the_factors_the_rule_asks_for(armoury, signer, rule, k, ok):
    with db.transaction(armoury) as s:  # a holder with a card but no fingerprint
        R.add_holder(s, ACTOR, "S-0100", "Card Only")
        R.enrol_card(s, ACTOR, "S-0100", "04AABBCCDD")
    rows = read_roster("holder,weapon\nS-0100,SN-0003\n")
    spec = ShiftSpec("x", rule=rule, k=k)
    if not ok:
        with pytest.raises(db.RegistryError, match="S-0100 has no fingerprint on AL-0003"), \
                db.transaction(armoury) as s:
            issue_shift(s, signer, ACTOR, rows, spec)
        return
    with db.transaction(armoury) as s:
        _sh, [tok] = issue_shift(s, signer, ACTOR, rows, spec)
    assert tok.holders[0][1:] == [["04AABBCCDD"], []]


def test_a_dock_whose_audit_read_lost_the_tail_is_refused(armoury, signer, tmp_path,
                                                          monkeypatch):
    with db.transaction(armoury) as s:
        issue_shift(s, signer, ACTOR, read_roster(ROSTER), ShiftSpec("day"))
    counters = tmp_path / "counters"
    key = signer.device_key("AL-0001")
    with virtual_board(tmp_path / "b", "AL-0001", signer) as b:
        with connect(b.port, key, counter_store(counters, "AL-0001")) as c:
            c.stimulate("tamper", source="magnet")
        # the dock loads the permit (the lock announces its permit_loaded record), and the
        # audit read then comes back without its newest record
        client_cls = type(connect(b.port, key, counter_store(counters, "AL-0001")))
        real = client_cls.audit
        monkeypatch.setattr(client_cls, "audit", lambda self, *a: real(self, *a)[:-1])
        r = dock_one(armoury, signer, b.port, ACTOR, counters=counters)
        assert not r.ok and r.acked_upto is None
        assert any("truncated" in p for p in r.ingest.problems)
        monkeypatch.setattr(client_cls, "audit", real)
        assert dock_one(armoury, signer, b.port, ACTOR, counters=counters).ok  # kept on device
    with armoury() as s:
        assert s.scalar(select(Alert).where(Alert.kind == "tamper")) is not None
        assert "permit_loaded" in s.scalars(select(AuditRecord.code)).all()
