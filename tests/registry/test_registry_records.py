"""Registry data model: enrolment, append-only history, tokens, loss reports."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from armlock.registry import db
from armlock.registry import records as R
from armlock.registry.models import (
    HISTORY_TABLES,
    RETENTION_YEARS,
    Alert,
    Change,
    Token,
    WeaponStatus,
)
from armlock.registry.signer import inspect
from armlock.registry.status import current, report_loss, set_status
from armlock.registry.tokens import issue_token
from tests.registry.armoury import ACTOR, T0, stock


def test_init_is_idempotent_and_states_retention(engine):
    db.init(engine)  # a second run upgrades nothing and breaks nothing
    assert db.is_initialised(engine)
    assert RETENTION_YEARS["weapons"] >= 30
    assert all(RETENTION_YEARS[t] >= 20 for t in HISTORY_TABLES)
    assert {"tokens", "audit_records", "weapon_status", "changes"} <= set(HISTORY_TABLES)


def test_enrolment_is_attributed_and_checked(factory):
    with db.transaction(factory) as s:
        stock(s, 2)
    with factory() as s:
        actions = [c.action for c in s.scalars(select(Change).order_by(Change.id))]
        assert actions.count("weapon add") == 2 and actions.count("device enrol") == 2
        assert all(c.actor == ACTOR for c in s.scalars(select(Change)))
        assert current(s, R.find_weapon(s, "SN-0001").id).status == "in_store"
    for bad in (
        lambda s: R.add_weapon(s, ACTOR, manufacturer="Acme Arms", model="x", type="rifle",
                               calibre="9mm", serial_number="SN-0001", country="BE"),
        lambda s: R.add_weapon(s, ACTOR, manufacturer="Other", model="x", type="rifle",
                               calibre="9mm", serial_number="X1", country="BE",
                               device_id="AL-0001"),
        lambda s: R.enrol_card(s, ACTOR, "S-0001", "nothex"),
        lambda s: R.enrol_finger(s, ACTOR, "S-0002", "AL-0001", 1),
        lambda s: R.attribute(s, "", "x", "y"),
    ):
        with pytest.raises(db.RegistryError), db.transaction(factory) as s:
            bad(s)


def test_history_cannot_be_changed_through_the_orm(factory, signer):
    with db.transaction(factory) as s:
        stock(s, 1)
        issue_token(s, signer, ACTOR, "recall", "AL-0001", at=T0)
    with pytest.raises(db.AppendOnlyError), db.transaction(factory) as s:
        tok = s.scalar(select(Token))
        tok.serial = 99
    with pytest.raises(db.AppendOnlyError), db.transaction(factory) as s:
        s.delete(s.scalar(select(WeaponStatus)))
    with pytest.raises(db.AppendOnlyError), db.transaction(factory) as s:
        s.execute(update(Token).values(serial=5))
    with pytest.raises(db.AppendOnlyError), db.transaction(factory) as s:
        s.execute(delete(Change))
    with factory() as s:
        assert s.scalar(select(Token)).serial == 1


@pytest.mark.parametrize("sql", ["UPDATE tokens SET serial = 7", "DELETE FROM changes"])
def test_history_cannot_be_changed_in_sql(engine, factory, signer, sql):
    with db.transaction(factory) as s:
        stock(s, 1)
        issue_token(s, signer, ACTOR, "recall", "AL-0001", at=T0)
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"), \
            engine.begin() as c:
        c.execute(text(sql))


def test_tokens_are_signed_by_the_authority_with_registry_serials(factory, signer, key_path):
    with db.transaction(factory) as s:
        R.enrol_device(s, ACTOR, "AL-0009", "esp32", "00" * 32, [signer.key_id],
                       serial_floor=41, at=T0)
        t1 = issue_token(s, signer, ACTOR, "recall", "AL-0009", at=T0)
        t2 = issue_token(s, signer, ACTOR, "reset", "AL-0009", at=T0, reason="inspected")
    assert (t1.serial, t2.serial) == (42, 43)  # continues above the old ledger's floor
    d = inspect(t2.blob, key_path, now=T0)
    assert d["verified"] and d["kind"] == "tamper-reset" and d["serial"] == 43
    # the key id devices name the signer by: SHA-256 of its public point, first 8 bytes
    assert t1.signer_key_id == signer.key_id == hashlib.sha256(signer.public).hexdigest()[:16]


def test_a_bad_token_burns_no_serial(factory, signer):
    with db.transaction(factory) as s:
        stock(s, 1)
    with pytest.raises(db.RegistryError, match="permit for AL-0001"), \
            db.transaction(factory) as s:
        issue_token(s, signer, ACTOR, "permit", "AL-0001", {"not_after": T0 - 1}, at=T0)
    with db.transaction(factory) as s:
        assert issue_token(s, signer, ACTOR, "recall", "AL-0001", at=T0).serial == 1


@pytest.mark.parametrize("hours,late", [(3, False), (30, True)])
def test_loss_report_raises_alert_and_recall(factory, signer, key_path, hours, late):
    now = T0 + 10 * 3600
    with db.transaction(factory) as s:
        stock(s, 1)
        w = R.find_weapon(s, "SN-0001")
        set_status(s, ACTOR, w, "issued", [1], at=T0)
        report_loss(s, signer, ACTOR, w, "stolen", now - hours * 3600, "patrol", at=now)
    with factory() as s:
        st = current(s, w.id)
        assert st.status == "stolen" and st.holder_ids == [1]
        tok = s.get(Token, st.token_id)
        assert tok.kind == "recall"
        assert inspect(tok.blob, key_path, now=now)["kind"] == "recall"
        alert = s.scalar(select(Alert).where(Alert.kind == "loss"))
        assert ("LATE" in alert.message) is late
        with pytest.raises(db.RegistryError, match="cannot become issued"):
            set_status(s, ACTOR, w, "issued")


def test_a_lock_not_docked_when_due_is_listed_until_it_docks(factory, signer):
    from armlock.registry.alerts import overdue
    from armlock.registry.inventory import inventory
    from armlock.registry.models import Dock
    from armlock.registry.shift import ShiftSpec, issue_shift

    with db.transaction(factory) as s:
        stock(s, 2)
        issue_shift(s, signer, ACTOR, [{"holder": "S-0001", "weapon": "SN-0001"}],
                    ShiftSpec("day", hours=8, start=T0), at=T0)
    with factory() as s:
        assert overdue(s, T0 + 7 * 3600) == []
        late = overdue(s, T0 + 9 * 3600)
        assert [o.device_id for o in late] == ["AL-0001"] and late[0].due_at == T0 + 8 * 3600
        assert any("AL-0001 not docked" in p
                   for p in inventory(s, now=T0 + 9 * 3600)["discrepancies"])
    with db.transaction(factory) as s:
        s.add(Dock(device_id="AL-0001", port="p", at=T0 + 8 * 3600 + 60, by=ACTOR,
                   status={}, outcome="docked"))
    with factory() as s:
        assert overdue(s, T0 + 9 * 3600) == []


def test_the_migrations_build_exactly_the_models_schema(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from armlock.registry.models import Base

    with engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []


@pytest.mark.parametrize("swapped", [False, True])
def test_a_zone_far_from_the_locks_last_position_is_warned(factory, signer, swapped):
    from armlock.registry.demo import DEPOT, DEPOT_ZONE
    from armlock.registry.models import Position
    from armlock.registry.shift import ShiftSpec, issue_shift

    zones = [(f, [[(b, a) if swapped else (a, b) for a, b in r] for r in rings])
             for f, rings in DEPOT_ZONE]
    with db.transaction(factory) as s:
        stock(s, 1)
        s.add(Position(device_id="AL-0001", fix_utc=T0, lat_e7=DEPOT[0], lon_e7=DEPOT[1],
                       hacc_m=5, source="dock status", at=T0))
        _sh, [tok] = issue_shift(s, signer, ACTOR, [{"holder": "S-0001", "weapon": "SN-0001"}],
                                 ShiftSpec("day", zones=zones), at=T0)
    if swapped:
        assert len(tok.notes) == 1 and "latitude and longitude swapped?" in tok.notes[0]
    else:
        assert tok.notes == ()
