"""The core's public face: boot reconciliation, the counter floor and the damaged-state
policy are core calls returning actions, and no firmware host reads core internals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import (
    AUTHORITY,
    DEVICE,
    KEY,
    T0,
    audit_details,
    controller,
    flip_bit,
    make_permit,
)

from firmware.app.store import MemStore
from firmware.core import recovery
from firmware.core.controller import LockController
from firmware.core.host import Host

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {"handle", "status", "reasons", "locked", "audit_seq", "audit_head", "counter",
          "accept_counter", "refused", "card_key"}


class StoreHost(Host):
    """A host that keeps the core's record and log in a MemStore."""

    def __init__(self, store: MemStore) -> None:
        super().__init__(controller(DEVICE, KEY))
        self.store = store

    def persist(self, blob: bytes) -> None:
        self.store.save_state(blob)

    def save_permit(self, slot: int, token: bytes) -> None:
        self.store.save_permit(slot, token)

    def audit(self, record: bytes) -> None:
        self.store.append_audit(record)

    def boot(self, rtc: int = T0) -> list[tuple]:
        s = self.store
        return self.handle(("boot", s.load_state(), "power_on", s.audit_tail(), s.read_audit,
                            s.load_permits()), 0, rtc)


def test_boot_rolls_restrictive_records_ahead_of_the_state_record_forward() -> None:
    store = MemStore()
    h = StoreHost(store)
    h.boot()
    h.handle(("permit", make_permit(1)), 10, T0)
    kept = store.blob
    h.handle(("tamper", "magnet"), 20, T0)  # its record is stored, its state write lost
    store.blob = kept
    h2 = StoreHost(store)
    h2.boot()
    assert h2.ctl.status()["tamper"] == "magnet"
    assert h2.ctl.audit_seq == store.last_seq()  # the chain continues from the log


def test_damaged_record_takes_the_serial_floor_from_the_log() -> None:
    store = MemStore()
    h = StoreHost(store)
    h.boot()
    h.handle(("permit", make_permit(5)), 10, T0)
    store.blob = flip_bit(store.blob, 77)
    h2 = StoreHost(store)
    acts = h2.boot()
    assert "serial_floor=5 from log" in audit_details(acts, "state")[0]
    acts = h2.handle(("permit", make_permit(4)), 10, T0)
    assert ("result", False, "replayed token (serial 4 <= 5)") in acts


def test_a_log_read_failure_at_boot_leaves_the_core_unbooted_refusing_all() -> None:
    def broken(seq: int, n: int) -> list[bytes]:
        raise OSError(5, "EIO")
    c = controller(DEVICE, KEY)
    try:
        c.handle(("boot", None, "power_on", (3, bytes(32)), broken), 0, T0)
    except OSError:
        pass
    assert c.handle(("permit", make_permit(1)), 10, T0) == [("result", False, "not booted")]


def test_accept_counter_persists_the_floor_before_the_host_acts() -> None:
    c = controller(DEVICE, KEY)
    c.handle(("boot", None, "power_on"), 0, T0)
    acts = c.accept_counter(7)
    assert [a[0] for a in acts] == ["persist"]
    assert recovery.decode_state(acts[0][1]).cmd_floor == 7 and c.counter == 7
    assert c.accept_counter(7) == [("result", False, "replayed counter 7 (last 7)")]
    assert c.accept_counter(6)[0][:2] == ("result", False) and c.counter == 7


def test_damaged_state_refuses_every_counter_until_the_authority_reset() -> None:
    c = controller(DEVICE, KEY)
    c.handle(("boot", b"ALST garbage", "power_on"), 0, T0)
    acts = c.accept_counter(1)
    assert acts == [("result", False, "state damaged: only an authority reset "
                     "(TAMPER_RESET) is accepted")]
    assert c.counter == 0


def _ctl_attributes(path: Path) -> set[str]:
    """Attributes read or written on `*.ctl` / `*.c` objects in one source file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and node.value.attr in ("ctl", "c"):
            names.add(node.attr)
    return names


def test_no_firmware_host_touches_core_internals() -> None:
    hosts = [p for p in (ROOT / "firmware").rglob("*.py") if "core" not in p.parts[-2:-1]]
    hosts += [ROOT / "firmware" / "core" / "trace.py", ROOT / "firmware" / "core" / "host.py"]
    bad = {str(p.relative_to(ROOT)): _ctl_attributes(p) - PUBLIC for p in hosts}
    assert {k: v for k, v in bad.items() if v} == {}


MIRRORS = {"audit_seq", "audit_head", "counter"}  # public copies the core never reads


def test_controller_state_is_private() -> None:
    c = controller(DEVICE, KEY)
    public = {n for n in vars(c) if not n.startswith("_")}
    assert public == {"locked"} | MIRRORS


def test_core_decides_on_its_own_state_not_on_the_public_mirrors() -> None:
    """audit_seq, audit_head and counter are plain attributes (no property: on
    MicroPython one makes every store on the controller slow) that a host could
    overwrite: the core only writes them, its decisions read the chain and the record."""
    reads = set()
    for p in (ROOT / "firmware" / "core").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in MIRRORS \
                    and isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name) \
                    and node.value.id in ("self", "c"):
                reads.add("%s:%d" % (p.name, node.lineno))
    assert reads == set()


def test_validity_is_the_cores_own_check_with_both_bounds_included() -> None:
    """Host code (the authority's status) calls this instead of copying it: valid from
    not_before to not_after inclusive; the lock agrees at each bound."""
    from types import SimpleNamespace

    from firmware.core import rules
    p = SimpleNamespace(not_before=100, not_after=200)
    assert [rules.validity(p, t) for t in (99, 100, 200, 201)] == \
        ["permit_not_yet_valid", None, None, "permit_expired"]


def test_the_lock_follows_validity_at_the_expiry_bound() -> None:
    from conftest import Rig
    r = Rig()
    r.ready(make_permit(1, not_before=T0, not_after=T0 + 100))
    r.advance(100_000 - r.t_ms)            # true UTC = not_after: still valid
    r.fix("in")
    assert "permit_expired" not in r.c.reasons(r.mono, r.rtc)
    r.advance(1000)                         # not_after + 1
    assert "permit_expired" in r.c.reasons(r.mono, r.rtc)


def test_an_unprovisioned_core_refuses_tokens_and_counters_and_audits_it() -> None:
    c = LockController("UNPROVISIONED", None)
    c.handle(("boot", None, "power_on"), 0, T0)
    acts = c.handle(("permit", make_permit(1)), 10, T0)
    assert ("result", False, "device not provisioned") in acts
    assert audit_details(acts, "permit_refused") == ["device not provisioned"]
    assert c.accept_counter(1) == [("result", False, "device not provisioned")]
    assert c.locked and "no_permit" in c.reasons()


@pytest.mark.parametrize("loss", ["damaged", "erased"])
def test_a_revoked_key_stays_revoked_when_the_state_record_is_lost(loss: str) -> None:
    """A captor who can corrupt (or erase) the state record must not bring back the
    provisioned key that a key update revoked: the log proves the revocation, and a
    board whose provisioned keys are all revoked trusts none (re-provision it)."""
    from conftest import AUTH, ROGUE, make_key_update, make_reset

    store = MemStore()
    h = StoreHost(store)
    h.boot()
    acts = h.handle(("permit", make_key_update(1, ROGUE.public, AUTH.key_id)), 10, T0)
    assert ("result", True, "key update 1 applied: 1 trusted key(s)") in acts
    store.blob = flip_bit(store.blob, 77) if loss == "damaged" else None
    h2 = StoreHost(store)
    h2.boot()
    assert h2.ctl.status()["trusted_keys"] == []
    res = [a for a in h2.handle(("permit", make_reset(2)), 10, T0) if a[0] == "result"]
    assert res[0][1] is False and "revoked key " + AUTH.key_id.hex() in res[0][2]


def test_a_reboot_builds_each_trusted_key_once() -> None:
    """A key's verifier form (its comb table) costs ~0.5-0.9 s on an ESP32: a reboot with a
    stored record builds it once, not once for the anchors and again for the record."""
    from protocols import p256

    built: list[bytes] = []

    class Counting:
        verify = staticmethod(p256.verify)

        @staticmethod
        def PublicKey(pt: bytes) -> object:  # noqa: N802  (the verifier's interface)
            built.append(pt)
            return p256.PublicKey(pt)

    store = MemStore()
    h = StoreHost(store)
    h.boot()
    h.handle(("permit", make_permit(1)), 10, T0)
    h2 = Host(controller(DEVICE, KEY, verify=Counting()))
    acts = h2.handle(("boot", store.load_state(), "power_on", store.audit_tail(),
                      store.read_audit, store.load_permits()), 0, T0)
    assert built == list(AUTHORITY), built
    assert h2.ctl.status()["permit"] is not None and acts
