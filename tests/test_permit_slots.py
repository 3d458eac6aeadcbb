"""The permit token lives in two permit slots, not in the state record (record v3,
firmware/core/state.py): the core writes a new token (SAVE_PERMIT) to the slot the
stored record does not reference, before the PERSIST of the record that references it
(slot, length, CRC-32). A cut between the two keeps the old record and its token; a slot
that does not hold exactly the referenced token is no permit (audited, locked, the rest
of the record kept); a version-2 record (token inline) is migrated at boot."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from conftest import Rig, audit_details, flip_bit, make_permit, make_recall
from test_state_audit import plain_record

from firmware.app.store import MAX_STATE, FileStore, MemStore
from firmware.core import recovery, state
from protocols import audit

DROPPED = "permit slot %d does not match the record: permit dropped, re-issue it"


def kinds(acts: list[tuple]) -> list[str]:
    return [a[0] for a in acts]


def serial(r: Rig) -> int | None:
    p = r.c.status()["permit"]
    return None if p is None else p["serial"]


def loaded(*serials: int) -> Rig:
    r = Rig()
    r.boot()
    for s in serials:
        r.send(("permit", make_permit(s)))
    return r


def test_a_permit_goes_to_a_slot_before_the_record_that_references_it() -> None:
    r = Rig()
    r.boot()
    tok = make_permit(1)
    acts = r.send(("permit", tok))
    k = kinds(acts)
    assert k.count("save_permit") == 1 and k.index("save_permit") < k.index("persist")
    assert ("save_permit", 1, tok) in acts
    blob = [a[1] for a in acts if a[0] == "persist"][-1]
    assert len(blob) == 74 and tok not in blob  # the token is not in the record
    st = recovery.decode_state(blob)
    assert (st.slot, st.plen, st.pcrc) == (1, len(tok), zlib.crc32(tok))
    acts = r.reboot()
    assert "save_permit" not in kinds(acts) and audit_details(acts, "state") == []
    assert serial(r) == 1
    r.fix("in")
    assert ("actuate", False, "authorised") in r.unlock()


def test_each_new_permit_goes_to_the_slot_the_record_does_not_reference() -> None:
    r = loaded(1)
    for s, slot in [(2, 0), (3, 1), (4, 0)]:
        before = recovery.decode_state(r.blob).slot
        acts = r.send(("permit", make_permit(s)))
        assert [a[1] for a in acts if a[0] == "save_permit"] == [slot] != [before]
        assert recovery.decode_state(r.blob).slot == slot
    r.reboot()
    assert serial(r) == 4


def test_events_that_do_not_change_the_permit_write_no_slot() -> None:
    r = loaded(1)
    r.fix("in")
    acts = r.log[-1][2] + r.unlock() + r.send(("tamper", "magnet"))
    assert "persist" in kinds(acts) and "save_permit" not in kinds(acts)


def test_a_recall_only_drops_the_reference() -> None:
    r = loaded(1)
    acts = r.send(("permit", make_recall(2)))
    assert "save_permit" not in kinds(acts)
    st = recovery.decode_state(r.blob)
    assert (st.plen, st.pcrc, st.recalled) == (0, 0, True)
    r.reboot()
    assert serial(r) is None and "recalled" in r.c.reasons()


def test_a_cut_between_the_slot_and_the_record_boots_the_old_permit() -> None:
    r = loaded(1)
    kept = r.blob
    old, new = r.permits[1], make_permit(2)
    acts = r.send(("permit", new))
    assert ("save_permit", 0, new) in acts  # written; then the power went
    acts = r.reboot(kept)                   # the PERSIST never happened
    assert serial(r) == 1 and audit_details(acts, "state") == []
    assert r.permits == [new, old]


@pytest.mark.parametrize("damage", ["flip", "truncate", "erase"])
def test_a_damaged_referenced_slot_is_no_permit_and_the_rest_is_kept(damage: str) -> None:
    r = loaded(1)
    r.send(("tamper", "magnet"))
    tok = r.permits[1]
    assert tok is not None
    r.permits[1] = {"flip": flip_bit(tok, 100), "truncate": tok[:-1], "erase": None}[damage]
    before = recovery.decode_state(r.blob)
    acts = r.reboot()
    assert audit_details(acts, "state") == [DROPPED % 1]
    assert r.locked and serial(r) is None
    reasons = r.c.reasons()
    assert "no_permit" in reasons and "state_damaged" not in reasons
    s = r.c.status()
    assert s["tamper"] == "magnet" and s["audit_seq"] > before.audit_seq
    after = recovery.decode_state(r.blob)  # the record now says: no permit
    assert (after.plen, after.serial_floor, after.tamper) == (0, 1, "magnet")
    assert audit.verify(r.records, r.device) == []
    acts = r.reboot()
    assert audit_details(acts, "state") == []  # said once
    res = [a for a in r.send(("permit", make_permit(1))) if a[0] == "result"]
    assert res == [("result", False, "replayed token (serial 1 <= 1)")]
    r.send(("permit", make_permit(2)))  # a re-issued permit loads
    assert serial(r) == 2


def test_an_older_signed_token_written_into_the_slot_is_refused() -> None:
    """A captor who writes flash puts the older, validly signed permit 1 (same length)
    into the slot that holds permit 2: the record's CRC reference refuses it at boot and
    the serial floor refuses it as a token."""
    r = loaded(1, 2)
    cur, old = r.permits
    assert old is not None and cur is not None and len(old) == len(cur)
    r.permits[0] = old
    acts = r.reboot()
    assert audit_details(acts, "state") == [DROPPED % 0]
    assert serial(r) is None and r.locked
    res = [a for a in r.send(("permit", old)) if a[0] == "result"]
    assert res == [("result", False, "replayed token (serial 1 <= 2)")]


def test_the_slot_the_record_does_not_reference_plays_no_part() -> None:
    r = loaded(1, 2)
    r.permits[1] = b"garbage"
    acts = r.reboot()
    assert audit_details(acts, "state") == [] and serial(r) == 2


def version_2_record(r: Rig, token: bytes) -> bytes:
    """The record r persisted, written as version 2 with `token` inline."""
    return plain_record(recovery.decode_state(r.blob), 2, token)


def test_a_version_2_record_is_migrated_to_a_slot_and_version_3() -> None:
    r = loaded(5)
    r.send(("tamper", "enclosure"))
    tok = r.permits[1]
    assert tok is not None
    v2 = version_2_record(r, tok)
    r.permits = [None, None]  # a board updated from v2 firmware has no slots
    acts = r.reboot(v2)
    k = kinds(acts)
    assert ("save_permit", 0, tok) in acts and k.index("save_permit") < k.index("persist")
    assert audit_details(acts, "state") == ["migrated from record v2: permit moved to slot 0"]
    st = recovery.decode_state(r.blob)
    assert (st.slot, st.plen, st.pcrc, st.migrated) == (0, len(tok), zlib.crc32(tok), 0)
    assert (st.serial_floor, st.tamper) == (5, "enclosure")
    assert serial(r) == 5
    acts = r.reboot()
    assert audit_details(acts, "state") == [] and serial(r) == 5
    assert audit.verify(r.records, r.device) == []
    r.send(("permit", make_permit(6)))  # the next permit goes to slot 1
    assert recovery.decode_state(r.blob).slot == 1


def test_a_version_2_record_without_a_permit_is_migrated() -> None:
    r = loaded()
    acts = r.reboot(version_2_record(r, b""))
    assert "save_permit" not in kinds(acts)
    assert audit_details(acts, "state") == ["migrated from record v2: no permit"]
    assert recovery.decode_state(r.blob).migrated == 0 and serial(r) is None


def test_a_cut_during_the_migration_keeps_the_version_2_record() -> None:
    r = loaded(5)
    v2 = version_2_record(r, make_permit(5))
    r.permits = [None, None]
    r.reboot(v2)
    acts = r.reboot(v2)  # its PERSIST was lost: the v2 record is migrated again
    assert audit_details(acts, "state") == ["migrated from record v2: permit moved to slot 0"]
    assert serial(r) == 5


@pytest.mark.parametrize("name", ["core_lockout", "core_tamper_battery", "core_time"])
def test_the_trace_runner_reboots_with_the_slots(name: str) -> None:
    """Vectors that reboot with a permit loaded get it back from the slot SAVE_PERMIT
    wrote (test_parity runs the same on MicroPython)."""
    import json

    from firmware.core import trace
    vec = json.loads((Path(__file__).resolve().parent.parent / "protocols" / "vectors"
                      / (name + ".json")).read_text())
    lines = [json.loads(x) for x in trace.run(vec)]
    assert any(x[1] == "save_permit" for x in lines[:-1])
    details = [audit.decode(bytes.fromhex(x[2]))[3] for x in lines[:-1] if x[1] == "audit"]
    assert not [d for d in details if "does not match the record" in d]


# -- stores ------------------------------------------------------------------------------------
def test_filestore_keeps_two_permit_slots(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    assert st.load_permits() == (None, None)
    st.save_permit(1, b"tok1")
    st.save_permit(0, bytearray(b"tok0"))
    (tmp_path / "permit1.new").write_bytes(b"half")  # a write cut before its rename
    again = FileStore(str(tmp_path))
    assert again.load_permits() == (b"tok0", b"tok1")
    assert not (tmp_path / "permit1.new").exists()
    for bad in (2, -1):
        with pytest.raises(ValueError, match="permit slot"):
            st.save_permit(bad, b"x")
    with pytest.raises(ValueError, match="permit too long"):
        st.save_permit(0, bytes(65536))
    assert again.load_permits() == (b"tok0", b"tok1")


def test_memstore_keeps_two_permit_slots() -> None:
    st = MemStore()
    assert st.load_permits() == (None, None)
    st.save_permit(1, bytearray(b"t"))
    assert st.load_permits() == (None, b"t")


def test_filestore_takes_the_largest_record_and_a_v2_record_still_loads(tmp_path: Path) -> None:
    s = state.State()
    s.trusted, s.revoked = [bytes(65)] * 3, [bytes(8)] * 4
    st = FileStore(str(tmp_path))
    st.save_state(state.encode(s))
    v2 = plain_record(s, 2, make_permit(1))  # written by v2 firmware (bigger than MAX_STATE)
    assert len(v2) > MAX_STATE
    slot = b"ALSL" + struct.pack(">II", 9, len(v2)) + v2
    (tmp_path / "state.b").write_bytes(slot + struct.pack(">I", zlib.crc32(slot)))
    assert FileStore(str(tmp_path)).load_state() == v2


def test_the_device_app_keeps_the_permit_in_a_filestore_slot(tmp_path: Path) -> None:
    from test_device_app import Host as Link

    from protocols import messages as m
    tok = make_permit(1)
    h = Link(FileStore(str(tmp_path)))
    assert h.cmd(m.LOAD_PERMIT, {"token": tok})[0] == m.OK
    assert (tmp_path / "permit1").read_bytes() == tok and not (tmp_path / "permit0").exists()
    assert (tmp_path / "state.a").stat().st_size < 100  # 16 bytes of slot + a 74 B record
    h2 = Link(FileStore(str(tmp_path)), rtc=h.rtc + 5)
    assert h2.status()["permit"]["serial"] == 1
    (tmp_path / "permit1").write_bytes(tok[:-1] + bytes([tok[-1] ^ 1]))  # flash damage
    h3 = Link(FileStore(str(tmp_path)), rtc=h.rtc + 10)
    s = h3.status()
    assert s["permit"] is None and s["locked"] and "state_damaged" not in s["reasons"]


def test_a_permit_slot_read_failure_at_boot_leaves_the_core_unbooted() -> None:
    from test_device_app import Host as Link

    class Unreadable(MemStore):
        def load_permits(self) -> tuple[bytes | None, bytes | None]:
            raise OSError(5, "EIO")

    h = Link(Unreadable())
    logs = [e["text"] for e in h.events if e["kind"] == "log"]
    assert logs == ["fault: [Errno 5] EIO"] and h.dev.faults == 1
    assert h.dev.locked and h.actuator == [True]
    assert h.dev.ctl.handle(("permit", make_permit(1)), 10, 0) == [
        ("result", False, "not booted")]
