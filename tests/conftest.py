"""Shared fixtures for the lock-controller tests: keys, a permit factory and the `Rig`.

The `Rig` plays the host: it owns a world clock (true UTC), a board RTC that may be
wrong (and is corrected when the core emits SET_RTC), the monotonic clock since boot,
and it records every action, the last persisted state blob, the audit records and the
WAKE deadline. `reboot()` builds a new controller from the last persisted blob.
"""

from __future__ import annotations

from typing import Any

import pytest

from armlock.authority.signer import Signer, from_seed
from firmware.core.controller import LockController
from firmware.core.host import Host
from hardware.hil.places import (  # noqa: F401 (box_ring: the tests take it from here)
    FORBID,
    HOLE_A,
    ZONE_A,
    ZONE_B,
    box_ring,
    dlat_e7,
    dlon_e7,
    standard_zones,
)
from protocols import audit, crypto, permit

MASTER = bytes(range(7, 39))
DEVICE = "AL-0001"
OTHER_DEVICE = "AL-0002"
KEY = crypto.device_key(MASTER, DEVICE)       # the device's own key (sealed commands)
AUTH = from_seed(b"armlock test authority")    # the authority key the test locks trust
AUTHORITY = (AUTH.public,)
OTHER_KEY = crypto.device_key(MASTER, OTHER_DEVICE)  # another device's own key
ROGUE = from_seed(b"armlock rogue authority")  # a P-256 key no test lock trusts


def controller(device: str = DEVICE, key: bytes | None = KEY,
               config: dict[str, Any] | None = None, **kw: Any) -> LockController:
    """A LockController that trusts AUTH."""
    return LockController(device, key, config, authority=AUTHORITY, **kw)
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, the true UTC when a Rig's world clock is 0

# Zones are axis-aligned lat/lon boxes near Berlin, (lat_lo, lat_hi, lon_lo, lon_hi) in
# 1e-7 deg: the zones and the helpers over them come from the shipped HIL suite's places.


# Named points (lat_e7, lon_e7); "edge" points are at mid-edge, far from corners.
_MID_LAT_A = (ZONE_A[0] + ZONE_A[1]) // 2
POINTS: dict[str, tuple[int, int]] = {
    "in": (523150000, 130120000),
    "in_edge": (_MID_LAT_A, ZONE_A[3] - dlon_e7(15, _MID_LAT_A)),
    "out_near": (_MID_LAT_A, ZONE_A[3] + dlon_e7(20, _MID_LAT_A)),
    "out_beyond": (_MID_LAT_A, ZONE_A[3] + dlon_e7(150, _MID_LAT_A)),
    "out_far": (522700000, 130700000),
    "hole_deep": ((HOLE_A[0] + HOLE_A[1]) // 2, (HOLE_A[2] + HOLE_A[3]) // 2),
    "hole_edge": ((HOLE_A[0] + HOLE_A[1]) // 2, HOLE_A[2] + dlon_e7(20, HOLE_A[0])),
    "forbid_deep": ((FORBID[0] + FORBID[1]) // 2, (FORBID[2] + FORBID[3]) // 2),
    "forbid_edge": (FORBID[1] - dlat_e7(20), (FORBID[2] + FORBID[3]) // 2),
    "in_b": (523450000, 130050000),
    "spoof": (480000000, 115000000),  # Munich, ~500 km away
}

HOLDER1_RFID = "04A1B2C3D4E5F6"
HOLDER1_FINGER = 3
HOLDER2_RFID = "04112233445566"
HOLDER2_FINGER = 7


def permit_fields(serial: int, **over: Any) -> dict[str, Any]:
    """Fields of a two-factor (RFID and fingerprint, 30 s window) permit valid around T0."""
    f: dict[str, Any] = dict(
        kind=permit.KIND_PERMIT, device_id=DEVICE, serial=serial,
        not_before=T0 - 3600, not_after=T0 + 8 * 3600, fail_enabled=False, max_unlock_s=600,
        rule_mode=permit.MODE_ALL, factor_mask=3, k=2, window_s=30,
        holders=[(1, (HOLDER1_RFID,), (HOLDER1_FINGER,)), (2, (HOLDER2_RFID,), (HOLDER2_FINGER,))],
        zones=standard_zones(),
    )
    f.update(over)
    return f


def make_permit(serial: int, key: Signer = AUTH, **over: Any) -> bytes:
    """A signed permit token (see permit_fields for the defaults)."""
    return permit.encode(permit_fields(serial, **over), key)


def any_time_permit(device_id: str, key: Signer = AUTH) -> bytes:
    """A one-factor (RFID card 04A1B2C3) permit for `device_id` valid at any time, no zones:
    for boards whose clock the test does not set."""
    return permit.encode(dict(kind=permit.KIND_PERMIT, device_id=device_id, serial=1,
                              not_before=0, not_after=2**32 - 1, fail_enabled=False,
                              max_unlock_s=60, rule_mode=permit.MODE_ANY,
                              factor_mask=permit.F_RFID, k=1, window_s=0,
                              holders=[(1, ("04A1B2C3",), ())], zones=[]), key)


def make_recall(serial: int, key: Signer = AUTH, device: str = DEVICE, at: int = T0) -> bytes:
    """A signed recall token."""
    return permit.encode(dict(kind=permit.KIND_RECALL, device_id=device, serial=serial,
                              not_before=at), key)


def make_reset(serial: int, key: Signer = AUTH, device: str = DEVICE, at: int = T0) -> bytes:
    """A signed authority reset token."""
    return permit.encode(dict(kind=permit.KIND_RESET, device_id=device, serial=serial,
                              not_before=at), key)


def make_key_update(serial: int, added: bytes, revoked: bytes | None = None,
                    key: Signer = AUTH, device: str = DEVICE, at: int = T0) -> bytes:
    """A signed key-update token: trust `added` (65-byte point), revoke key id `revoked`."""
    return permit.encode(dict(kind=permit.KIND_KEYS, device_id=device, serial=serial,
                              not_before=at, added=added, revoked=revoked), key)


def flip_bit(blob: bytes, bit: int) -> bytes:
    """`blob` with one bit inverted (bit index counted from the first byte's LSB)."""
    b = bytearray(blob)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


class Rig(Host):
    """Drives one lock like a host would (a Host: the one action carrier) and remembers
    what it was told.

    World time `t_ms` is milliseconds since T0 (true UTC = T0 + t_ms // 1000). The board
    RTC reads true UTC + `rtc_err`; SET_RTC actions set `rtc_err` so the RTC reads the
    value given. The monotonic clock restarts at 0 on every boot.
    """

    def __init__(self, config: dict[str, Any] | None = None, key: bytes = KEY,
                 device: str = DEVICE, t_ms: int = 0, rtc_err: int = 0) -> None:
        super().__init__(controller(device, key, config))
        self.config = config
        self.key = key
        self.device = device
        self.t_ms = t_ms
        self.rtc_err = rtc_err
        self.boot_ms = t_ms
        self.blob: bytes | None = None
        self.permits: list[bytes | None] = [None, None]  # the permit slots (SAVE_PERMIT)
        self.records: list[bytes] = []
        self.log: list[tuple[int, tuple, list[tuple]]] = []

    @property
    def c(self) -> LockController:
        """The lock controller (a new one after each reboot)."""
        return self.ctl

    @c.setter
    def c(self, ctl: LockController) -> None:
        self.ctl = ctl

    # -- clocks ---------------------------------------------------------------------
    @property
    def mono(self) -> int:
        return self.t_ms - self.boot_ms

    @property
    def utc(self) -> int:
        return T0 + self.t_ms // 1000

    @property
    def rtc(self) -> int:
        return self.utc + self.rtc_err

    def advance(self, ms: int) -> None:
        """Let `ms` of world time pass without any event."""
        self.t_ms += ms

    # -- driving --------------------------------------------------------------------
    def send(self, ev: tuple) -> list[tuple]:
        """Feed one event now; carry out and record the actions; return them."""
        acts = self.handle(ev, self.mono, self.rtc)
        self.log.append((self.t_ms, ev, acts))
        return acts

    # -- Host: what this rig does with the actions -----------------------------------
    def persist(self, blob: bytes) -> None:
        self.blob = blob

    def save_permit(self, slot: int, token: bytes) -> None:
        self.permits[slot] = token

    def audit(self, record: bytes) -> None:
        self.records.append(record)

    def set_rtc(self, utc_s: int, rtc_s: int) -> None:
        self.rtc_err = utc_s - self.utc  # the board RTC itself reads utc_s from now on

    def at(self, ms: int, ev: tuple) -> list[tuple]:
        """Advance `ms` then send `ev`."""
        self.advance(ms)
        return self.send(ev)

    def boot(self, blob: bytes | None = None, cause: str = "power_on") -> list[tuple]:
        """BOOT with `blob` and the permit slots the rig holds (no audit log)."""
        return self.send(("boot", blob, cause, None, None, tuple(self.permits)))

    def reboot(self, blob: bytes | None | str = "last", cause: str = "power_on") -> list[tuple]:
        """Power-cycle: a new controller booted from the last persisted blob (or `blob`)."""
        self.c = controller(self.device, self.key, self.config)
        self.boot_ms = self.t_ms
        self.wake_at = None
        self.locked = True
        if blob != "last":
            self.blob = blob if isinstance(blob, bytes) else None  # what storage now holds
        return self.boot(self.blob, cause)

    def tick_to_wake(self) -> list[tuple]:
        """Jump to the announced WAKE deadline and tick there."""
        assert self.wake_at is not None, "no WAKE pending"
        self.t_ms = self.boot_ms + max(self.wake_at, self.mono)
        return self.send(("tick",))

    # -- convenience events ---------------------------------------------------------
    def fix(self, name_or_pt: str | tuple[int, int], hacc: int = 5,
            utc: int | None | str = "true") -> list[tuple]:
        lat, lon = POINTS[name_or_pt] if isinstance(name_or_pt, str) else name_or_pt
        u = self.utc if utc == "true" else utc
        return self.send(("fix", lat, lon, hacc, u))

    def present(self, holder: int = 1, rtt: int = 1000, score: int = 100) -> list[tuple]:
        """Both factors of a holder, 1 s apart; returns the second call's actions."""
        rfid, finger = ((HOLDER1_RFID, HOLDER1_FINGER) if holder == 1
                        else (HOLDER2_RFID, HOLDER2_FINGER))
        self.send(("rfid", rfid, rtt, True))
        return self.at(1000, ("finger", finger, score))

    def settle_answer(self) -> list[tuple]:
        """Tick at the last ANSWER deadline (when a pending unlock is due)."""
        ans = [a for _, _, acts in self.log for a in acts if a[0] == "answer"]
        at = ans[-1][1]
        self.t_ms = self.boot_ms + max(at, self.mono)
        return self.send(("tick",))

    def ready(self, token: bytes | None = None, where: str = "in") -> None:
        """Boot, load a permit (serial 1 by default), take a fix at `where`."""
        self.boot()
        self.send(("permit", token if token is not None else make_permit(1)))
        self.fix(where)

    def unlock(self, holder: int = 1) -> list[tuple]:
        """Present both factors and tick at the answer deadline; returns the tick's actions."""
        self.present(holder)
        return self.settle_answer()

    # -- inspection -----------------------------------------------------------------
    def audits(self, since: int = 0) -> list[tuple[int, int, str, str, bytes]]:
        """Decoded audit records (seq, time, code, detail, hash) from index `since`."""
        return [audit.decode(r) for r in self.records[since:]]

    def codes(self, since: int = 0) -> list[str]:
        return [r[2] for r in self.audits(since)]

    def mark(self) -> int:
        """Index to pass as `since` for records from now on."""
        return len(self.records)


def actuations(acts: list[tuple]) -> list[bool]:
    """The lock commands (True locked) in a list of actions."""
    return [a[1] for a in acts if a[0] == "actuate"]


def kinds(acts: list[tuple]) -> list[str]:
    return [a[0] for a in acts]


def audit_codes(acts: list[tuple]) -> list[str]:
    return [audit.decode(a[1])[2] for a in acts if a[0] == "audit"]


def audit_details(acts: list[tuple], code: str) -> list[str]:
    return [audit.decode(a[1])[3] for a in acts if a[0] == "audit"
            and audit.decode(a[1])[2] == code]


@pytest.fixture
def rig() -> Rig:
    """A fresh, not yet booted rig with the default config."""
    return Rig()


@pytest.fixture
def ready_rig() -> Rig:
    """Booted, permit serial 1 loaded (fail-secure, two factors), fix inside zone A."""
    r = Rig()
    r.ready()
    return r
