"""Rotating the authority's signing key through the registry, against a virtual board."""

from __future__ import annotations

import time

import pytest

from armlock.registry import db
from armlock.registry import records as R
from armlock.registry.dock import connect, counter_store, dock_one
from armlock.registry.shift import ShiftSpec, issue_shift, read_roster
from armlock.registry.signer import Signer
from armlock.registry.tokens import issue_key_update
from hardware import signing
from hardware.link import DeviceError
from tests.registry.armoury import ACTOR, stock
from tests.registry.boards import virtual_board

ROSTER = read_roster("holder,weapon\nS-0001,SN-0001\n")
DAY = ShiftSpec("day")


def test_after_rotation_the_old_keys_permits_are_refused(factory, signer, key_path, tmp_path):
    signing.save(signing.generate(), tmp_path / "new.pem")
    new = Signer(key_path, tmp_path / "new.pem")
    with db.transaction(factory) as s:
        stock(s, 1, (signer.key_id,), at=int(time.time()) - 3600)
        issue_key_update(s, signer, ACTOR, "AL-0001", new.public, signer.key_id)
    counters = tmp_path / "counters"
    with virtual_board(tmp_path / "b", "AL-0001", signer) as b:
        r = dock_one(factory, new, b.port, ACTOR, counters=counters)
        assert r.ok and "key-update serial 1 delivered" in r.delivered, r
        with factory() as s:
            assert R.get_device(s, "AL-0001").authority_key_ids == [new.key_id]
        with db.transaction(factory) as s:
            _sh, [old_permit] = issue_shift(s, signer, ACTOR, ROSTER, DAY)
        with connect(b.port, signer.device_key("AL-0001"),
                     counter_store(counters, "AL-0001")) as c:
            with pytest.raises(DeviceError, match="revoked"):
                c.load_permit(old_permit.blob)
        with db.transaction(factory) as s:
            issue_shift(s, new, ACTOR, ROSTER, DAY)
        r = dock_one(factory, new, b.port, ACTOR, counters=counters)
        assert "permit serial 3 delivered" in r.delivered, r


def test_a_revoked_key_id_must_be_a_key_id(factory, signer):
    with db.transaction(factory) as s:
        stock(s, 1, (signer.key_id,))
    with pytest.raises(db.RegistryError, match="16 hex digits"), db.transaction(factory) as s:
        issue_key_update(s, signer, ACTOR, "AL-0001", signer.public, "abc")
