"""Issue 10's defects, each played by the attacker against the core (tests/conftest.py Rig),
and the decisions moved into the core (sensor faults, magnets): every test fails if its
defence is removed."""

from __future__ import annotations

import pytest
from conftest import (
    AUTH,
    DEVICE,
    HOLDER1_FINGER,
    ROGUE,
    T0,
    Rig,
    audit_codes,
    audit_details,
    make_key_update,
    make_permit,
    make_recall,
)

from firmware.core import recovery
from firmware.core import state as states
from protocols import audit, permit


def answers(acts: list[tuple]) -> list[bool]:
    return [a[2] for a in acts if a[0] == "answer"]


# -- defect 1: lockout holds whatever the clock's trust -------------------------------------

def test_lockout_holds_while_time_is_untrusted(ready_rig: Rig) -> None:
    """GNSS 1000 s off the RTC makes time untrusted; nine wrong fingers; the holder's
    finger right after is not evaluated (it used to be answered cred_ok: free guesses)."""
    r = ready_rig
    r.advance(1000)
    r.fix("in", utc=r.utc + 1000)  # GNSS contradicts the RTC by 1000 s: untrusted
    assert r.c.status()["time_trusted"] is False
    for _ in range(9):
        r.advance(100)
        r.send(("finger", 99, 120))
    # the first three lock it out; the other six are not even evaluated (it used to go on
    # to level 3, each guess answered)
    assert r.c.status()["lockout"]["level"] == 1
    r.advance(100)
    acts = r.send(("finger", HOLDER1_FINGER, 120))
    assert answers(acts) == [False]
    assert "cred_ok" not in audit_codes(acts)
    assert audit_details(acts, "cred_reject")[0].startswith("finger ignored:")
    assert "lockout" in r.c.reasons()


def test_a_moved_rtc_does_not_shorten_a_lockout(ready_rig: Rig) -> None:
    r = ready_rig
    for _ in range(3):
        r.advance(100)
        r.send(("finger", 99, 120))
    r.rtc_err += 7200  # the attacker sets the RTC two hours ahead
    r.advance(100)
    acts = r.send(("finger", HOLDER1_FINGER, 120))
    assert answers(acts) == [False] and "cred_ok" not in audit_codes(acts)
    r.advance(31_000)  # the 30 s lockout has passed on the monotonic clock too
    r.rtc_err -= 7200
    assert "cred_ok" in audit_codes(r.send(("finger", HOLDER1_FINGER, 120)))


# -- defect 2: a rollback is audited when it happens ------------------------------------------

def test_rtc_set_behind_the_floor_while_locked_is_audited_at_once(ready_rig: Rig) -> None:
    r = ready_rig
    r.advance(400_000)
    r.send(("tick",))  # the floor advances (floor_interval_s 300)
    floor = r.c.status()["time_floor"]
    r.rtc_err = -86400  # the attacker sets the RTC a day back; the lock is locked
    acts = r.send(("tick",))
    assert audit_details(acts, "time") == [
        "rollback rtc=%d floor=%d" % (r.rtc, floor)]
    assert r.c.status()["time_trusted"] is False
    assert audit_details(r.send(("tick",)), "time") == []  # once per change
    r.rtc_err = 0
    assert audit_details(r.send(("tick",)), "time")[0].startswith("rtc=")


# -- defect 3: junk cannot flush authenticated history ----------------------------------------

def test_junk_tokens_cannot_roll_the_audit_ring() -> None:
    """600 junk tokens (malformed, unknown signer, forged signature) over an hour used to
    write 600 records; now: one per window, windows doubling while the flood lasts."""
    r = Rig()
    r.ready()
    history = list(r.records)
    good = make_permit(2)
    junk = [b"\x00" * 10, make_permit(3, key=ROGUE), good[:-64] + ROGUE.sign(good[:-64]),
            good[:20]]
    m = r.mark()
    for i in range(600):
        r.advance(6000)
        acts = r.send(("permit", junk[i % len(junk)]))
        assert [a for a in acts if a[0] == "result"][0][1] is False
    written = r.codes(m)
    assert set(written) == {"permit_refused"}
    assert len(written) <= 12, written
    counted = sum(int(d.split(" ")[0]) for _, _, c, d, _ in r.audits(m) if " more in " in d)
    firsts = len([1 for _, _, _, d, _ in r.audits(m) if " more in " not in d])
    pending = r.c.status()["refusals_pending"].get("permit", 0)
    assert counted + firsts + pending == 600  # every refusal is accounted for
    assert r.records[:len(history)] == history
    assert audit.verify(r.records, DEVICE) == []


def test_authenticated_refusals_are_each_audited_but_repeats_are_counted(ready_rig: Rig) -> None:
    r = ready_rig
    r.send(("permit", make_permit(5)))
    stale = make_permit(3)  # genuine, but below the serial floor now
    expired = make_permit(6, not_before=T0 - 7200, not_after=T0 - 1)
    m = r.mark()
    r.send(("permit", stale))
    r.send(("permit", expired))
    assert [d.split(" ")[0] for _, _, _, d, _ in r.audits(m)] == ["replayed", "permit"]
    for _ in range(50):  # the same captured token, replayed again and again
        r.send(("permit", expired))
    assert len(r.records) == m + 2


def test_aggregation_window_is_core_config() -> None:
    r = Rig(config={"refusal_window_s": 0, "refusal_window_max_s": 0})
    r.boot()
    m = r.mark()
    for _ in range(5):
        r.advance(10)
        r.send(("permit", b"junk"))
    assert r.codes(m) == ["permit_refused"] * 5  # no window: every refusal written


# -- defect 5: a fix with an old timestamp is not fresh ---------------------------------------

def test_a_fix_whose_own_time_is_old_is_not_fresh_and_does_not_move_the_clock(
        ready_rig: Rig) -> None:
    r = ready_rig
    r.advance(20_000)  # the good fix is now stale
    r.send(("tick",))
    before = r.c.status()["time"]
    acts = r.fix("in", utc=r.utc - 60)  # a replayed/delayed fix, 60 s old
    assert audit_details(acts, "fix_implausible") == [
        "fix time %d is older than 15 s" % (r.utc - 60)]
    assert r.c.status()["time"] == before  # not moved back 60 s
    assert "fix_stale" in r.c.reasons()
    assert r.c.status()["fix"] is not None
    r.fix("in")  # a current fix is fresh again
    assert "fix_stale" not in r.c.reasons()


# -- item 0: the core classifies what drivers observe --------------------------------------

@pytest.mark.parametrize("fail_after", [1, 3, 5])
def test_read_errors_make_a_sensor_faulty_at_the_cores_threshold(fail_after: int) -> None:
    r = Rig(config={"sensor_fail_after": fail_after})
    r.boot()
    for n in range(1, fail_after):
        assert audit_codes(r.send(("read_errors", "finger", n))) == []
    assert audit_details(r.send(("read_errors", "finger", fail_after)), "fault") == \
        ["finger failed"]
    assert audit_details(r.send(("read_errors", "finger", 0)), "fault") == ["finger ok"]


@pytest.mark.parametrize("threshold", [500, 2000])
def test_magnet_latches_above_the_cores_threshold(threshold: int) -> None:
    r = Rig(config={"magnet_threshold": threshold})
    r.boot()
    assert audit_codes(r.send(("magnet", threshold))) == []
    assert r.c.status()["tamper"] == ""
    assert audit_details(r.send(("magnet", threshold + 1)), "tamper") == [
        "source=magnet latched"]


# -- trust store: key updates, revoked and unknown signers ------------------------------------

def test_key_update_rotates_the_authority_and_survives_reboot(ready_rig: Rig) -> None:
    r = ready_rig
    new = ROGUE
    acts = r.send(("permit", make_key_update(2, new.public, AUTH.key_id)))
    assert ("result", True, "key update 2 applied: 1 trusted key(s)") in acts
    assert r.c.status()["permit"] is None  # the permit the revoked key signed is dropped
    assert audit_details(acts, "key_update")[0].endswith("permit dropped")
    acts = r.send(("permit", make_permit(3)))  # signed by the revoked key
    assert ("result", False, "token signed by revoked key %s" % AUTH.key_id.hex()) in acts
    assert audit_details(acts, "permit_refused") == [
        "token signed by revoked key %s" % AUTH.key_id.hex()]
    r.reboot()
    assert r.c.status()["trusted_keys"] == [new.key_id.hex()]
    assert ("result", True, "permit 4 loaded") in r.send(("permit", make_permit(4, key=new)))
    st = recovery.decode_state(r.blob)
    assert st.trusted == [new.public] and st.revoked == [AUTH.key_id]


@pytest.mark.parametrize("case,words", [
    ("readd_revoked", "was revoked: it cannot be trusted again"),
    ("already", "is already trusted"),
    ("untrusted_revoke", "which is not trusted"),
    ("too_many", "would trust 4 keys (at most 3)"),
])
def test_bad_key_updates_are_refused(case: str, words: str) -> None:
    from armlock.authority.signer import from_seed
    r = Rig()
    r.boot()
    k2, k3, k4 = (from_seed(b"k%d" % i) for i in (2, 3, 4))
    serial = 1
    if case == "readd_revoked":
        r.send(("permit", make_key_update(serial, k2.public, AUTH.key_id)))
        tok = make_key_update(serial + 1, AUTH.public, key=k2)
    elif case == "already":
        tok = make_key_update(serial, AUTH.public)
    elif case == "untrusted_revoke":
        tok = make_key_update(serial, k2.public, k3.key_id)
    else:
        r.send(("permit", make_key_update(1, k2.public)))
        r.send(("permit", make_key_update(2, k3.public)))
        tok = make_key_update(3, k4.public)
    acts = r.send(("permit", tok))
    res = [a for a in acts if a[0] == "result"][0]
    assert res[1] is False and words in res[2], res


def test_a_board_trusting_no_key_refuses_every_token() -> None:
    from conftest import KEY

    from firmware.core.controller import LockController
    c = LockController(DEVICE, KEY)
    c.handle(("boot", None, "power_on"), 0, T0)
    acts = c.handle(("permit", make_permit(1)), 10, T0)
    res = [a for a in acts if a[0] == "result"]
    assert res[0][1] is False and "no trusted authority key" in res[0][2]


def test_a_version_1_state_record_is_migrated_dropping_its_hmac_permit(rig: Rig) -> None:
    """A board updated from format-1 firmware keeps its floors, latch, lockout and audit
    chain; its HMAC permit is dropped (audited) and it stays locked until re-issued."""
    import struct
    rig.boot()
    rig.send(("permit", make_permit(7)))
    rig.send(("tamper", "enclosure"))
    st = recovery.decode_state(rig.blob)
    v1_permit = bytes.fromhex("414c504d010107414c2d30303031") + struct.pack(">III", 7, 1, 2)
    head = struct.pack(">4sBBBBBIIIII32sH", b"ALST", 1, 2, 1, 0, 0, 0, st.serial_floor, 0,
                       st.time_floor, st.audit_seq, st.audit_head, len(v1_permit))
    body = head + v1_permit
    blob = body + struct.pack(">I", states.crc32(body))
    acts = rig.reboot(blob)
    assert audit_details(acts, "state") == [
        "migrated from record v1: format-1 permit serial=7 dropped (re-issue it signed)"]
    s = rig.c.status()
    assert s["permit"] is None and s["tamper"] == "enclosure"
    assert recovery.decode_state(rig.blob).serial_floor == 7
    assert audit.verify(rig.records, DEVICE) == []


def test_recall_signed_by_an_unknown_key_is_refused(ready_rig: Rig) -> None:
    acts = ready_rig.send(("permit", make_recall(2, key=ROGUE)))
    res = [a for a in acts if a[0] == "result"]
    assert res[0][1] is False and "unknown key" in res[0][2]
    assert ready_rig.c.status()["permit"]["serial"] == 1


def test_the_permit_carries_card_keys_wrapped_to_the_device(ready_rig: Rig) -> None:
    wrapped = bytes(range(16))
    tok = permit.encode(dict(make_fields(), holders=[(1, (("04A1B2C3D4E5F6", wrapped),), (3,))]),
                        AUTH)
    ready_rig.send(("permit", tok))
    assert ready_rig.c.card_key("04a1b2c3d4e5f6") == wrapped
    assert ready_rig.c.card_key("04A1B2C3D4E5F7") is None


def make_fields() -> dict:
    from conftest import permit_fields
    return permit_fields(2)
