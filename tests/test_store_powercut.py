"""FileStore (firmware/app/store.py): slots, ring, identity, and power cuts at every write.

`CutFS` is the real filesystem with a power cut injected at its Nth write, rename or
remove call: a write stores a random prefix of its bytes first, a rename or remove may or
may not have happened. A scripted device session (with a reboot in the middle) runs until
the cut; then a fresh FileStore and Device boot from the same directory and must hold the
old or the new state record, an audit log that verifies and is exactly what was stored,
and a locked lock.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest
from conftest import DEVICE, HOLDER1_FINGER, T0, make_permit, make_recall, make_reset
from test_device_app import Host

from firmware.app import store as S
from firmware.app.store import FileStore, OsFS
from firmware.core import recovery
from protocols import audit
from protocols import messages as m


class PowerCut(BaseException):
    """The board lost power (BaseException: nothing in the firmware may swallow it)."""


class CutFile:
    def __init__(self, fs: CutFS, f: Any) -> None:
        self.fs = fs
        self.f = f

    def write(self, data: bytes) -> int:
        if self.fs.due():
            k = self.fs.rng.randrange(len(data)) if len(data) else 0
            self.f.write(bytes(data[:k]))
            self.f.close()
            raise PowerCut(f"write cut after {k} of {len(data)} bytes")
        return self.f.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)


class CutFS(OsFS):
    """OsFS with a power cut at call number `cut_at` (0: never) of write/rename/remove."""

    def __init__(self, cut_at: int = 0, seed: int = 0) -> None:
        self.cut_at = cut_at
        self.ops = 0
        self.rng = random.Random(seed)

    def due(self) -> bool:
        self.ops += 1
        return self.ops == self.cut_at

    def open(self, path: str, mode: str) -> Any:
        return CutFile(self, super().open(path, mode))

    def rename(self, a: str, b: str) -> None:
        if self.due():
            if self.rng.random() < 0.5:
                super().rename(a, b)
            raise PowerCut("rename cut")
        super().rename(a, b)

    def remove(self, path: str) -> None:
        if self.due():
            if self.rng.random() < 0.5:
                super().remove(path)
            raise PowerCut("remove cut")
        super().remove(path)


class Tracker:
    """What the firmware asked storage to keep, and what completed."""

    def __init__(self) -> None:
        self.saving: bytes | None = None
        self.saved: list[bytes] = []
        self.appended: list[bytes] = []


def tracked_store(root: str, fs: OsFS, tr: Tracker, capacity: int) -> FileStore:
    class Rec(FileStore):
        def save_state(self, blob: bytes) -> None:
            tr.saving = bytes(blob)
            super().save_state(blob)
            tr.saved.append(bytes(blob))
            tr.saving = None

        def append_audit(self, rec: bytes) -> None:
            super().append_audit(rec)
            tr.appended.append(bytes(rec))

    return Rec(root, fs=fs, capacity=capacity)


def session(root: str, fs: OsFS, tr: Tracker, capacity: int) -> None:
    """A device's life: permit, unlock, relock, lockout, tamper, ack, recall, reboot, reset."""
    h = Host(tracked_store(root, fs, tr, capacity))
    assert h.cmd(m.LOAD_PERMIT, {"token": make_permit(1)})[0] == m.OK
    h.fix("in_edge")
    h.unlock()
    h.advance(3000)
    h.fix("out_beyond")
    for _ in range(3):
        h.stim("finger", template=HOLDER1_FINGER + 50, score=100)
        h.advance(300)
    h.stim("tamper", source="enclosure")
    h.cmd(m.AUDIT_ACK, {"upto_seq": 4})
    h.cmd(m.RECALL, {"token": make_recall(2)})
    h2 = Host(tracked_store(root, fs, tr, capacity), rtc=h.rtc + 5)
    h2.counter = h.counter
    h2.cmd(m.TAMPER_RESET, {"token": make_reset(3)})
    h2.cmd(m.LOAD_PERMIT, {"token": make_permit(4)})
    h2.stim("grip", held=True)
    h2.stim("battery", mv=3400)


def count_ops(tmp: Path, capacity: int) -> int:
    fs = CutFS()
    session(str(tmp / "count"), fs, Tracker(), capacity)
    return fs.ops


def _stored_records(st: FileStore) -> list[bytes]:
    return st.read_audit(1, 100_000)


def _permit_referenced(blob: bytes) -> bool:
    try:
        return recovery.decode_state(blob).plen > 0
    except ValueError:
        return False


def check_after_cut(root: str, tr: Tracker, capacity: int) -> None:
    st = FileStore(root, capacity=capacity)
    blob = st.load_state()
    old = tr.saved[-1] if tr.saved else None
    assert blob == old or (tr.saving is not None and blob == tr.saving), \
        "state is neither the old nor the new record"
    recs = _stored_records(st)
    want = tr.appended[-capacity:]
    assert recs == want, "stored audit differs from what was appended"
    first_prev = None
    if recs and audit.decode(recs[0])[0] > 1:
        first_prev = audit.decode(recs[0])[4]
        recs = recs[1:]
    assert audit.verify(recs, DEVICE, first_prev=first_prev) == []
    # reboot on the real filesystem: locked, and the chain continues
    h = Host(st, rtc=T0 + 100)
    assert h.actuator[0] is True and h.dev.locked and h.status()["locked"]
    after = _stored_records(st)
    by_seq = {audit.decode(r)[0]: r for r in want}
    assert all(by_seq.get(audit.decode(r)[0], r) == r for r in after)
    assert audit.decode(after[-1])[2] == "boot"
    # a cut while a permit slot is written leaves the record's own token (the core writes
    # the slot the stored record does not reference): never dropped as not matching
    assert not [r for r in after if "does not match" in audit.decode(r)[3]]
    booted = st.load_state()  # as the boot rolled it forward and persisted it
    if booted and _permit_referenced(booted):
        assert h.status()["permit"] is not None
    fp = None
    if audit.decode(after[0])[0] > 1:
        fp = audit.decode(after[0])[4]
        after = after[1:]
    assert audit.verify(after, DEVICE, first_prev=fp, head=h.dev.ctl.audit_head) == []


@pytest.mark.parametrize("capacity", [512, 16])
def test_power_cut_at_every_write_rename_remove(tmp_path: Path, capacity: int) -> None:
    n = count_ops(tmp_path, capacity)
    assert n > 40
    for cut in range(1, n + 1):
        root = str(tmp_path / ("c%d" % cut))
        tr = Tracker()
        with pytest.raises(PowerCut):
            session(root, CutFS(cut, seed=cut), tr, capacity)
        check_after_cut(root, tr, capacity)


# -- plain behaviour ---------------------------------------------------------------------------

def _rec(seq: int, prev: bytes = b"\x00" * 32, detail: str = "x") -> bytes:
    return audit.encode(seq, T0, "boot", detail, prev)[0]


def test_state_slots_alternate_and_newest_wins(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    assert st.load_state() is None
    for i in range(5):
        st.save_state(b"rec%d" % i)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.a", "state.b"]
    assert FileStore(str(tmp_path)).load_state() == b"rec4"


def test_state_slot_file_layout(tmp_path: Path) -> None:
    """The slot is written in pieces (header, record, CRC): the file is still
    b"ALSL" | slot_seq | len | record | CRC-32 of every byte before it."""
    import zlib
    s = FileStore(str(tmp_path))
    s.save_state(b"first")
    s.save_state(b"second record")
    data = (tmp_path / "state.b").read_bytes()
    body = b"ALSL" + struct.pack(">II", 2, 13) + b"second record"
    assert data == body + struct.pack(">I", zlib.crc32(body))


def test_damaged_newest_slot_falls_back_and_is_reported(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    st.save_state(b"old")
    st.save_state(b"new")  # in state.b
    p = tmp_path / "state.b"
    p.write_bytes(p.read_bytes()[:-1] + b"\x00")
    st2 = FileStore(str(tmp_path))
    assert st2.load_state() == b"old"
    assert st2.problems == ["state.b: CRC mismatch"]
    st2.save_state(b"newer")  # overwrites the damaged slot, keeps "old" until it is safe
    assert FileStore(str(tmp_path)).load_state() == b"newer"


def test_all_slots_damaged_is_not_a_first_boot(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    st.save_state(b"only")
    (tmp_path / "state.a").write_bytes(b"ALSL\x00")
    assert FileStore(str(tmp_path)).load_state() == b""


def test_leftover_new_file_is_removed(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    st.save_state(b"good")
    (tmp_path / "state.b.new").write_bytes(b"torn")
    assert FileStore(str(tmp_path)).load_state() == b"good"
    assert not (tmp_path / "state.b.new").exists()


def test_ring_wraps_reads_and_counts_loss(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path), capacity=4)
    prev = b"\x00" * 32
    recs = []
    for s in range(1, 11):
        r = _rec(s, prev)
        prev = r[-32:]
        recs.append(r)
        st.append_audit(r)
    assert (tmp_path / "audit.ring").stat().st_size == 4 * S.SLOT
    st2 = FileStore(str(tmp_path), capacity=4)
    assert st2.audit_tail() == (10, recs[-1][-32:])
    assert st2.read_audit(1, 100) == recs[6:]
    assert st2.read_audit(8, 2) == recs[7:9]
    assert st2.lost() == 6
    st2.ack_audit(99)  # clamped to the newest record
    assert st2.ack == 10 and st2.lost() == 0
    assert FileStore(str(tmp_path), capacity=4).ack == 10


def test_torn_slot_is_ignored(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    st.append_audit(_rec(1))
    st.append_audit(_rec(2))
    p = tmp_path / "audit.ring"
    p.write_bytes(p.read_bytes()[:S.SLOT + 30])
    st2 = FileStore(str(tmp_path))
    assert st2.last_seq() == 1 and len(st2.read_audit(1, 10)) == 1
    st2.append_audit(_rec(2, detail="again"))
    assert [audit.decode(r)[3] for r in FileStore(str(tmp_path)).read_audit(1, 9)] == \
        ["x", "again"]


def test_misplaced_record_is_ignored(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    st.append_audit(_rec(1))
    st.append_audit(_rec(2))
    p = tmp_path / "audit.ring"
    data = p.read_bytes()
    p.write_bytes(data[S.SLOT:] + data[:S.SLOT])  # slots swapped
    assert FileStore(str(tmp_path)).audit_tail() is None


def test_append_refuses_bad_records(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    with pytest.raises(ValueError, match="length 5"):
        st.append_audit(b"\x00" * 5)
    with pytest.raises(ValueError, match="seq 0"):
        st.append_audit(struct.pack(">IIBB", 0, 0, 1, 0) + bytes(32))


def test_identity_roundtrip_and_damage(tmp_path: Path) -> None:
    st = FileStore(str(tmp_path))
    assert st.load_identity() is None
    st.save_identity("AL-9", bytes(range(32)))
    assert FileStore(str(tmp_path)).load_identity() == ("AL-9", bytes(range(32)), ())
    (tmp_path / "identity.json").write_text('{"device_id": "AL-9", "key": "00"}')
    with pytest.raises(ValueError, match="32-byte"):
        FileStore(str(tmp_path)).load_identity()
