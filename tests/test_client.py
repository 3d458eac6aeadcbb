"""DeviceClient over the in-process loopback against firmware.app.device.Device."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from hardware.client import CounterStore, DeviceClient, KeyRequired
from hardware.link.base import DeviceError, DeviceTimeout
from hardware.link.loopback import LoopbackTransport
from protocols import audit as A
from protocols import messages as M
from tests import conftest as C
from tests.fakes.ble import make_device


def rig(tmp_path: Path, mode: str = "dev", key: bytes | None = C.KEY,
        counters: str = "c.json", storage: str = "storage") -> tuple[DeviceClient, Any]:
    dev = make_device(tmp_path / storage, mode, C.DEVICE, C.MASTER)
    tr = LoopbackTransport(dev, utc0=C.T0, boot_cause="power_on")
    c = DeviceClient(tr, key=key, counter_store=CounterStore(tmp_path / counters)).open()
    return c, tr


def present_inside(c: DeviceClient, tr: LoopbackTransport) -> None:
    lat, lon = C.POINTS["in"]
    c.stimulate("fix", lat_e7=lat, lon_e7=lon, hacc_m=5, utc_s=tr.rtc)
    c.stimulate("rfid", cred=C.HOLDER1_RFID, rtt_us=1000, strong=True)
    c.stimulate("finger", template=C.HOLDER1_FINGER, score=100)


def test_info_and_status(tmp_path: Path) -> None:
    c, _ = rig(tmp_path)
    info = c.info()
    assert info["device_id"] == C.DEVICE and info["mode"] == "dev" and info["proto"] == 1
    st = c.status()
    assert st["locked"] is True and st["reasons"] == ["no_permit"] and st["permit"] is None


def test_permit_credentials_unlock_event_and_verified_audit(tmp_path: Path) -> None:
    c, tr = rig(tmp_path)
    c.load_permit(C.make_permit(1))
    assert c.status()["permit"]["serial"] == 1
    present_inside(c, tr)
    unlocked = [e for e in c.events(timeout=3.0)
                if e["kind"] == "actuate" and e["locked"] is False]
    assert unlocked and unlocked[0]["reason"] == "authorised"
    assert c.status()["locked"] is False
    recs = c.audit()
    codes = [A.decode(r)[2] for r in recs]
    assert "permit_loaded" in codes and "unlock" in codes
    assert [A.decode(r)[0] for r in recs] == list(range(1, len(recs) + 1))
    assert c.verify_audit(recs) == []
    tampered = list(recs)
    tampered[1] = C.flip_bit(tampered[1], 40)
    assert c.verify_audit(tampered)  # an altered record is reported


def test_recall_relocks(tmp_path: Path) -> None:
    c, tr = rig(tmp_path)
    c.load_permit(C.make_permit(1))
    present_inside(c, tr)
    list(c.events(timeout=2.0))
    c.recall(C.make_recall(2))
    st = c.status()
    assert st["locked"] is True and "recalled" in st["reasons"]


def test_audit_pages_until_more_is_false(tmp_path: Path) -> None:
    c, _ = rig(tmp_path)
    for mv in range(3000, 3000 + 40):  # each battery level change is audited
        c.stimulate("battery", mv=mv if mv % 2 else 3900)
    n = len(c.audit())
    assert n > 24  # more than one AUDIT_RECORDS page
    assert c.verify_audit(c.audit()) == []
    part = c.audit(from_seq=5, count=3)
    assert [A.decode(r)[0] for r in part] == [5, 6, 7]
    assert c.verify_audit(c.audit(from_seq=10)) == []  # a tail verifies from its first hash


def test_refused_token_is_device_error(tmp_path: Path) -> None:
    c, _ = rig(tmp_path)
    bad = C.make_permit(1, key=C.ROGUE)
    with pytest.raises(DeviceError) as e:
        c.load_permit(bad)
    assert e.value.code == M.E_REFUSED and e.value.name == "refused"
    assert e.value.exit_code == 6
    assert str(e.value).startswith("loopback answered error 6 (refused): ")
    assert c.status()["permit"] is None  # nothing changed


def test_stimulus_in_field_mode_is_not_allowed(tmp_path: Path) -> None:
    c, _ = rig(tmp_path, mode="production")
    with pytest.raises(DeviceError) as e:
        c.stimulate("battery", mv=3000)
    assert e.value.code == M.E_MODE


def test_wrong_key_is_auth_failed(tmp_path: Path) -> None:
    c, _ = rig(tmp_path, key=C.OTHER_KEY)
    with pytest.raises(DeviceError) as e:
        c.stimulate("grip", held=True)
    assert e.value.code == M.E_AUTH


def test_sealed_command_without_key(tmp_path: Path) -> None:
    c, _ = rig(tmp_path, key=None)
    with pytest.raises(KeyRequired, match="STIMULUS is sealed"):
        c.stimulate("grip", held=True)


def test_timeout_when_device_is_silent(tmp_path: Path) -> None:
    c, tr = rig(tmp_path)
    c.info()
    tr.dead = True
    c.timeout = 2.0
    with pytest.raises(DeviceTimeout, match=r"no answer from loopback within 2\.0 s") as e:
        c.status()
    assert e.value.exit_code == 5


def test_counters_persist_and_resume(tmp_path: Path) -> None:
    c, tr = rig(tmp_path)
    c.stimulate("battery", mv=3800)
    c.stimulate("battery", mv=3700)
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved == {C.DEVICE: 2}
    # a new session with the same file carries on from it
    c2 = DeviceClient(tr, key=C.KEY, counter_store=CounterStore(tmp_path / "c.json"))
    c2.stimulate("battery", mv=3600)
    assert json.loads((tmp_path / "c.json").read_text()) == {C.DEVICE: 3}
    assert c2.status()["last_counter"] == 3
    # a host that lost its file continues from the device's last_counter
    c3 = DeviceClient(tr, key=C.KEY, counter_store=CounterStore(tmp_path / "new.json"))
    c3.stimulate("battery", mv=3500)
    assert json.loads((tmp_path / "new.json").read_text()) == {C.DEVICE: 4}


def _count_up(path: Path, prefix: str, threads: int, n: int) -> None:
    """`threads` threads, each putting counters 1..n for its own device and for a shared one."""
    def one(t: int) -> None:
        store = CounterStore(path)
        for c in range(1, n + 1):
            store.put(f"{prefix}-{t}", c)
            store.put("shared", c)

    workers = [threading.Thread(target=one, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def test_counter_store_loses_no_update_across_threads_and_processes(tmp_path: Path) -> None:
    path, n = tmp_path / "c.json", 25
    procs = [multiprocessing.get_context("spawn").Process(
        target=_count_up, args=(path, f"P{i}", 3, n)) for i in range(3)]
    for p in procs:
        p.start()
    _count_up(path, "main", 3, n)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    want = {f"{pre}-{t}": n for pre in ("main", "P0", "P1", "P2") for t in range(3)}
    assert json.loads(path.read_text()) == want | {"shared": n}
    assert not list(tmp_path.glob("*.tmp"))


def test_counter_behind_the_device_resyncs_once(tmp_path: Path) -> None:
    c, tr = rig(tmp_path)
    other = DeviceClient(tr, key=C.KEY, counter_store=CounterStore(tmp_path / "o.json"))
    c.stimulate("battery", mv=3800)         # c's counter: 1
    for _ in range(3):
        other.stimulate("grip", held=False)  # the device is now at 4
    c.stimulate("battery", mv=3700)          # c tries 2 -> replayed -> resync -> 5
    assert c.status()["last_counter"] == 5 and c.status()["battery_mv"] == 3700


def test_replayed_frame_is_refused(tmp_path: Path) -> None:
    c, tr = rig(tmp_path)
    frame = M.encode_msg(M.STIMULUS, 77, {"kind": "battery", "mv": 3333}, C.KEY, 1)
    tr.write(frame)
    tr.write(frame)
    got = [M.decode_msg(f) for f in c._dec.feed(tr.read(0.1)) if isinstance(f, tuple)]
    replies = [(t, f) for t, s, f in got if s == 77]
    assert replies[0][0] == M.OK
    assert replies[1][0] == M.ERROR and replies[1][1]["code"] == M.E_REPLAY


def test_events_iterator_ends_after_quiet_timeout(tmp_path: Path) -> None:
    c, tr = rig(tmp_path)
    first = list(c.events(timeout=1.0))
    assert first[0]["kind"] == "boot"
    t = tr.mono_ms
    assert list(c.events(timeout=1.5)) == []
    assert tr.mono_ms - t >= 1500


def test_audit_ack_and_reboot(tmp_path: Path) -> None:
    c, tr = rig(tmp_path)
    n = len(c.audit())
    c.audit_ack(n)
    c.reboot()
    assert tr.device.reboot_requested is True
