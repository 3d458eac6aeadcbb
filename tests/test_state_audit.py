"""Persistent state record (firmware/core/state.py) and audit hash chain (protocols/audit.py).

The record must round-trip and its CRC must catch every single-bit flip and every
truncation; the host verifier must find any removed, reordered or altered audit record.
"""

from __future__ import annotations

import zlib
from functools import cache

import pytest
from conftest import (
    DEVICE,
    HOLDER1_RFID,
    Rig,
    flip_bit,
    make_permit,
    make_recall,
    make_reset,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import crc, recovery, state
from protocols import audit

u32 = st.integers(0, 2**32 - 1)


@st.composite
def states(draw: st.DrawFn) -> state.State:
    s = state.State()
    s.recalled = draw(st.booleans())
    s.tamper = draw(st.sampled_from(state.SOURCES))
    s.fails = draw(st.integers(0, 255))
    s.lock_level = draw(st.integers(0, 255))
    s.lockout_until = draw(u32)
    s.serial_floor = draw(u32)
    s.cmd_floor = draw(u32)
    s.time_floor = draw(u32)
    s.audit_seq = draw(u32)
    s.audit_head = draw(st.binary(min_size=32, max_size=32))
    s.trusted = draw(st.lists(st.binary(min_size=65, max_size=65), max_size=3))
    s.revoked = draw(st.lists(st.binary(min_size=8, max_size=8), max_size=4))
    s.slot = draw(st.integers(0, 1))
    s.plen = draw(st.integers(0, 2**16 - 1))
    s.pcrc = draw(u32)
    return s


FIELDS = ("recalled", "tamper", "fails", "lock_level", "lockout_until", "serial_floor",
          "cmd_floor", "time_floor", "audit_seq", "audit_head", "trusted", "revoked", "slot",
          "plen", "pcrc")


def test_decoder_bounds_match_the_encoders_layout() -> None:
    import struct
    assert recovery.HEAD_LEN == struct.calcsize(state.HEAD)
    assert recovery.REF_LEN == struct.calcsize(state.REF)
    assert len(state.encode(state.State())) == recovery.HEAD_LEN + 2 + 7 + 4 == 74


def test_the_record_does_not_grow_with_the_permit() -> None:
    """The token lives in a permit slot: the record is at most 301 bytes (3 keys added,
    4 revoked), far below the store's limit, whatever the permit."""
    from firmware.app.store_format import MAX_STATE
    s = state.State()
    s.trusted, s.revoked = [bytes(65)] * 3, [bytes(8)] * 4
    s.plen = 2**16 - 1
    assert len(state.encode(s)) == 301 <= MAX_STATE


@given(states())
def test_state_record_round_trips(s: state.State) -> None:
    back = recovery.decode_state(state.encode(s))
    assert {f: getattr(back, f) for f in FIELDS} == {f: getattr(s, f) for f in FIELDS}
    assert back.migrated == 0 and back.permit == b""


@given(st.binary(max_size=600))
def test_crc32_equals_zlib(data: bytes) -> None:
    assert state.crc32(data) == zlib.crc32(data)


@given(st.binary(max_size=100), st.binary(max_size=100))
def test_crc32_continues_from_the_crc_of_the_bytes_before(a: bytes, b: bytes) -> None:
    whole = zlib.crc32(a + b)
    assert state.crc32(b, state.crc32(a)) == whole
    assert crc.crc32_slow(b, crc.crc32_slow(a)) == whole


def plain_record(s: state.State, version: int = state.VERSION, token: bytes = b"") -> bytes:
    """The record layout of state.py's header, written out field by field; version 2:
    the token inline instead of the permit reference (the layout recovery migrates)."""
    import struct
    out = struct.pack(state.HEAD, state.MAGIC, version,
                      (1 if s.recalled else 0) | (2 if s.tamper else 0),
                      state.SOURCES.index(s.tamper), s.fails, s.lock_level, s.lockout_until,
                      s.serial_floor, s.cmd_floor, s.time_floor, s.audit_seq, s.audit_head)
    out += bytes([len(s.trusted), len(s.revoked)]) + b"".join(s.trusted) + b"".join(s.revoked)
    if version == 2:
        out += struct.pack(">H", len(token)) + token
    else:
        out += struct.pack(">BHI", s.slot, s.plen, s.pcrc)
    return out + struct.pack(">I", zlib.crc32(out))


@given(states())
def test_encode_gives_the_plain_layout(s: state.State) -> None:
    assert state.encode(s) == plain_record(s)


@given(states(), st.binary(max_size=400))
def test_a_version_2_record_decodes_with_its_token_for_migration(
        s: state.State, token: bytes) -> None:
    back = recovery.decode_state(plain_record(s, 2, token))
    assert back.migrated == 2 and back.permit == token
    assert {f: getattr(back, f) for f in FIELDS[:-3]} == {f: getattr(s, f) for f in FIELDS[:-3]}
    assert recovery.permit_token(back, None) == token  # the slots play no part


def test_a_permit_slot_out_of_range_is_damage() -> None:
    s = state.State()
    s.slot = 2
    with pytest.raises(ValueError, match="permit slot 2 out of range"):
        recovery.decode_state(plain_record(s))


def test_the_referenced_token_must_match_length_and_crc() -> None:
    tok = make_permit(7)
    s = state.State()
    s.slot, s.plen, s.pcrc = 1, len(tok), zlib.crc32(tok)
    assert recovery.permit_token(s, (None, tok)) == tok
    for slots in [None, (None, None), (tok, None), (None, tok[:-1]), (None, tok + b"\0"),
                  (None, flip_bit(tok, 9)), (None, make_permit(6))]:
        assert recovery.permit_token(s, slots) is None, slots
    s.plen = s.pcrc = 0
    assert recovery.permit_token(s, (tok, tok)) == b""  # references none


def realistic_blob() -> bytes:
    s = state.State()
    s.tamper = "magnet"
    s.fails = 2
    s.serial_floor = 7
    s.time_floor = 1_767_225_600
    s.audit_seq = 42
    s.audit_head = bytes(range(32))
    s.trusted, s.revoked = [bytes(range(65))], [bytes(8)]
    s.slot, s.plen, s.pcrc = 1, 1544, 0x1234ABCD
    return state.encode(s)


def test_crc_detects_every_single_bit_flip() -> None:
    blob = realistic_blob()
    for bit in range(8 * len(blob)):
        with pytest.raises(ValueError):
            recovery.decode_state(flip_bit(blob, bit))


def test_every_truncation_and_extension_is_detected() -> None:
    blob = realistic_blob()
    for n in range(len(blob)):
        with pytest.raises(ValueError):
            recovery.decode_state(blob[:n])
    with pytest.raises(ValueError):
        recovery.decode_state(blob + b"\x00")


def test_damage_message_is_one_line() -> None:
    with pytest.raises(ValueError, match="CRC mismatch"):
        recovery.decode_state(flip_bit(realistic_blob(), 3))
    with pytest.raises(ValueError, match="truncated"):
        recovery.decode_state(b"ALST")


# -- audit chain -----------------------------------------------------------------------------

@cache
def controller_run() -> tuple[tuple[bytes, ...], bytes]:
    """Audit records and final chain head of a run with unlocks, failures, reboots."""
    r = Rig()
    r.ready()
    r.unlock()
    r.send(("grip", True))
    r.at(500, ("grip", False))
    for _ in range(3):
        r.at(200, ("rfid", "04000000", 900, True))
    r.at(1000, ("gnss", 200, 40_000, 1, -1))  # jammed
    r.at(1000, ("battery", 3400))
    r.advance(1000)
    r.reboot()                           # records after the last persist must still chain
    r.fix("in")
    r.at(40_000, ("tamper", "enclosure"))
    r.send(("permit", make_reset(2)))
    r.fix("in")
    r.unlock()
    r.at(100, ("fix", 480000000, 115000000, 5, None))
    r.send(("permit", make_recall(3)))
    r.advance(2000)
    r.reboot()
    r.send(("rfid", HOLDER1_RFID, 1000, True))
    return tuple(r.records), r.c.audit_head


def test_controller_chain_verifies_clean_across_reboots() -> None:
    records, head = controller_run()
    assert len(records) > 20
    assert audit.verify(list(records), DEVICE, head) == []
    seqs = [audit.decode(x)[0] for x in records]
    assert seqs == list(range(1, len(records) + 1))


def test_chain_is_bound_to_the_device() -> None:
    records, head = controller_run()
    assert audit.verify(list(records), "AL-0002", head) != []


@settings(max_examples=60)
@given(st.data())
def test_removed_record_is_found(data: st.DataObject) -> None:
    records, head = controller_run()
    i = data.draw(st.integers(0, len(records) - 1))
    mutated = list(records[:i] + records[i + 1:])
    assert audit.verify(mutated, DEVICE, head) != []


@settings(max_examples=60)
@given(st.data())
def test_removed_tail_is_found_given_the_head(data: st.DataObject) -> None:
    records, head = controller_run()
    n = data.draw(st.integers(1, len(records)))
    mutated = list(records[:len(records) - n])
    assert audit.verify(mutated, DEVICE, head) != []
    assert audit.verify(mutated, DEVICE) == []  # without the head a cut tail is invisible


@settings(max_examples=60)
@given(st.data())
def test_reordered_records_are_found(data: st.DataObject) -> None:
    records, head = controller_run()
    i = data.draw(st.integers(0, len(records) - 2))
    j = data.draw(st.integers(i + 1, len(records) - 1))
    mutated = list(records)
    mutated[i], mutated[j] = mutated[j], mutated[i]
    assert audit.verify(mutated, DEVICE, head) != []


@settings(max_examples=100)
@given(st.data())
def test_altered_record_is_found(data: st.DataObject) -> None:
    records, head = controller_run()
    i = data.draw(st.integers(0, len(records) - 1))
    rec = bytearray(records[i])
    k = data.draw(st.integers(0, len(rec) - 1))
    rec[k] ^= data.draw(st.integers(1, 255))
    mutated = list(records)
    mutated[i] = bytes(rec)
    assert audit.verify(mutated, DEVICE, head) != []


@settings(max_examples=40)
@given(st.data())
def test_altered_and_rehashed_chain_is_found_given_the_head(data: st.DataObject) -> None:
    """An attacker who rewrites a detail and recomputes every later hash is caught by the head."""
    records, head = controller_run()
    i = data.draw(st.integers(0, len(records) - 1))
    seq, t, code, detail, _ = audit.decode(records[i])
    prev = audit.genesis(DEVICE) if i == 0 else audit.decode(records[i - 1])[4]
    forged = []
    for j, rec in enumerate(records[i:]):
        s, tt, c, d, _ = audit.decode(rec)
        if j == 0:
            d = detail + "x" if len(detail) < audit.MAX_DETAIL else detail[:-1]
        enc, prev = audit.encode(s, tt, c, d, prev)
        forged.append(enc)
    mutated = list(records[:i]) + forged
    assert audit.verify(mutated, DEVICE) == []  # a consistent rewrite ...
    assert audit.verify(mutated, DEVICE, head) != []  # ... does not reach the device's head


def test_verify_from_the_middle_with_first_prev() -> None:
    records, head = controller_run()
    k = len(records) // 2
    prev = audit.decode(records[k - 1])[4]
    assert audit.verify(list(records[k:]), DEVICE, head, first_prev=prev) == []
    assert audit.verify(list(records[k + 1:]), DEVICE, head, first_prev=prev) != []


def test_persisted_head_follows_the_chain() -> None:
    """After every event the last persisted record names the chain's current head."""
    r = Rig()
    r.ready()
    r.unlock()
    for ev in [("gnss", 5000, 5000, 0, -1), ("gnss", 100, 100, 9, 40), ("battery", 3400),
               ("grip", True),
               ("grip", False), ("permit", make_permit(1))]:
        r.at(300, ev)
        assert r.blob is not None
        st_ = recovery.decode_state(r.blob)
        assert (st_.audit_seq, st_.audit_head) == (r.c.audit_seq, r.c.audit_head), ev
