"""A walk through the firmware core: keys, a permit, and a day at a depot.

Issues an authority key and a permit with the real authority code, then feeds a
realistic event sequence to the real `LockController` through the one action carrier
(`firmware.core.host.Host`: audit, persist, WAKE and SET_RTC carried out as on a board;
a WAKE due before the next scripted event runs the core's TICK then) and returns every
decision and the audit trail. `armlock demo --core` prints it as tables.
"""

from __future__ import annotations

import binascii
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from armlock import authority
from firmware.core.controller import LockController
from firmware.core.host import Host
from protocols import audit
from protocols import permit as P

DEVICE = "AL-0001"
# A depot compound near Gao, Mali (lat 16.27, lon -0.04), with a forbidden armoury
# annex, and the town centre outside it. Coordinates in 1e-7 degrees.
DEPOT = [(162650000, -450000), (162750000, -450000), (162750000, -350000),
         (162650000, -350000)]
ANNEX = [(162735000, -380000), (162745000, -380000), (162745000, -370000),
         (162735000, -370000)]
YARD = (162700000, -400000)
GATE = (162650200, -400000)        # 2 m inside the southern fence
ROAD = (162640000, -400000)        # 111 m south of the fence
TOKEN, FINGER = "04A1B2C3D4E5F6", 3
WAKE_LABEL = "the core's timer (WAKE) runs its tick"
FIX_EVERY_MS = 5_000  # the receiver reports the current position this often
RTC_SLOW_S = 600  # the board's RTC at boot is this far behind GNSS time


@dataclass
class Step:
    """One event fed to the controller and what it answered."""

    t_ms: int
    label: str
    event: tuple
    actions: list = field(default_factory=list)
    locked: bool = True
    reasons: list = field(default_factory=list)


@dataclass
class Walk:
    """The result of a walkthrough."""

    steps: list[Step]
    records: list[bytes]
    head: bytes
    permit: dict[str, Any]


def _script(t0: int, tokens: dict[str, bytes]) -> list[tuple[int, str, tuple]]:
    fix = lambda p, hacc=4: ("fix", p[0], p[1], hacc, None)  # noqa: E731
    return [
        (0, "power on", ("boot", None, "power_on")),
        (200, "authority loads the shift permit", ("permit", tokens["permit"])),
        (400, "GNSS fix in the depot yard; the board's RTC is 10 min slow", fix(YARD)),
        (700, "second fix, its GNSS time agrees", fix(YARD)),
        (1_000, "third fix: the core trusts GNSS time and sets the RTC", fix(YARD)),
        (2_000, "sergeant presents RFID token", ("rfid", TOKEN, 1_800, True)),
        (2_600, "sergeant presents fingerprint", ("finger", FINGER, 142)),
        (3_000, "grip held", ("grip", True)),
        (60_000, "walks to the gate", fix(GATE)),
        (62_000, "steps 1 m past the fence (hysteresis)", fix((GATE[0] - 300, GATE[1]))),
        (66_000, "walks out onto the road", fix(ROAD)),
        (120_000, "thief with a stolen token, back in the yard", fix(YARD)),
        (121_000, "stolen token", ("rfid", TOKEN, 1_700, True)),
        (122_000, "thief's finger", ("finger", 11, 150)),
        (123_000, "a finger nobody enrolled", ("finger_fail", "no match")),
        (124_000, "relay attack on the token", ("rfid", TOKEN, 41_000, True)),
        (125_000, "tries again during lockout", ("finger", FINGER, 150)),
        (130_000, "magnet against the actuator", ("tamper", "magnet")),
        (200_000, "GNSS jammed: receiver talks, no fix for 40 s, 1 satellite at 22 dB-Hz",
         ("gnss", 0, 40_000, 1, 22)),
        (260_000, "authority tamper reset", ("permit", tokens["reset"])),
        (300_000, "authority recall", ("permit", tokens["recall"])),
        (301_000, "replay of the old permit", ("permit", tokens["permit"])),
    ]


class WalkHost(Host):
    """Carries the core's actions for the walkthrough: keeps the audit records and the
    state record and the permit slots (WAKE and SET_RTC as the base class carries them)."""

    def __init__(self, ctl: LockController) -> None:
        super().__init__(ctl)
        self.records: list[bytes] = []
        self.state: bytes | None = None
        self.permits: list[bytes | None] = [None, None]

    def audit(self, record: bytes) -> None:
        self.records.append(record)

    def persist(self, blob: bytes) -> None:
        self.state = blob

    def save_permit(self, slot: int, token: bytes) -> None:
        self.permits[slot] = token


def issue_tokens(key_path: Path, t0: int) -> dict[str, bytes]:
    """Create the authority keys (if absent) and issue the permit, reset and recall."""
    authority.create_keys(key_path)
    fields = dict(kind=P.KIND_PERMIT, device_id=DEVICE, not_before=t0 - 60,
                  not_after=t0 + 8 * 3600, fail_enabled=False, max_unlock_s=900,
                  rule_mode=P.MODE_ALL, factor_mask=P.F_RFID | P.F_FINGER, k=2, window_s=30,
                  holders=[(7, (TOKEN,), (FINGER,)), (8, ("0455667788AA",), (4,))],
                  zones=[(False, [DEPOT]), (True, [ANNEX])])
    return {"permit": authority.issue(key_path, fields),
            "reset": authority.issue_reset(key_path, DEVICE, t0),
            "recall": authority.issue_recall(key_path, DEVICE, t0)}


def run(out: Path, t0: int | None = None) -> Walk:
    """Run the walkthrough, writing key, permit and audit log under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = int(time.time()) if t0 is None else t0
    key_path = out / "master.key"
    tokens = issue_tokens(key_path, t0)
    (out / "permit.bin").write_bytes(tokens["permit"])
    key = authority.derive_device_key(authority.load_master_key(key_path), DEVICE)
    host = WalkHost(LockController(DEVICE, key,
                                   authority=(authority.signer_for(key_path).public,)))
    steps: list[Step] = []

    def feed(t_ms: int, label: str, ev: tuple) -> None:
        if ev[0] == "fix":
            ev = (*ev[:4], t0 + t_ms // 1000)  # GNSS time with every fix
        acts = host.handle(ev, t_ms, t0 - RTC_SLOW_S + t_ms // 1000)
        steps.append(Step(t_ms, label, ev, acts, host.locked, host.ctl.reasons()))

    script = _script(t0, tokens)
    route = _route(script)
    next_fix = route[0][0] + FIX_EVERY_MS if route else None
    for t_ms, label, ev in script:
        while True:  # the receiver's fix every FIX_EVERY_MS and the core's WAKEs, in order
            due = [t for t in (host.wake_at, next_fix) if t is not None and t < t_ms]
            if not due:
                break
            at = min(due)
            if at == host.wake_at:
                feed(at, WAKE_LABEL, ("tick",))
                continue
            feed(at, "GNSS fix (the receiver's periodic report)", _fix_at(route, at))
            if all(a[0] == "wake" for a in steps[-1].actions):
                steps.pop()  # only moved the fix-freshness timer: keep the table short
            next_fix = at + FIX_EVERY_MS if at + FIX_EVERY_MS < route[-1][0] + 60_000 else None
        feed(t_ms, label, ev)
        if ev[0] == "fix":
            next_fix = t_ms + FIX_EVERY_MS if ev is not route[-1][1] else None
    (out / "audit.log").write_bytes(b"".join(_frame(r) for r in host.records))
    trace = [{"t_ms": s.t_ms, "label": s.label, "locked": s.locked, "reasons": s.reasons,
              "actions": [_plain(a) for a in s.actions]} for s in steps]
    (out / "trace.json").write_text(json.dumps(trace, indent=1) + "\n")
    permit = authority.describe(P.decode(tokens["permit"], None), t0)
    return Walk(steps, host.records, host.ctl.audit_head, permit)


def _route(script: list[tuple[int, str, tuple]]) -> list[tuple[int, tuple]]:
    """The scripted fixes until the GNSS is jammed: where the weapon is, and when."""
    route = []
    for t_ms, _label, ev in script:
        if ev[0] == "gnss":
            break
        if ev[0] == "fix":
            route.append((t_ms, ev))
    return route


def _fix_at(route: list[tuple[int, tuple]], t_ms: int) -> tuple:
    """The receiver's fix at t_ms: walking in a straight line between scripted fixes."""
    (ta, a), (tb, b) = route[0], route[0]
    for (t1, f1), (t2, f2) in zip(route, route[1:], strict=False):
        if t1 <= t_ms <= t2:
            (ta, a), (tb, b) = (t1, f1), (t2, f2)
            break
        if t_ms > t2:
            (ta, a), (tb, b) = (t2, f2), (t2, f2)
    w = 0.0 if tb == ta else (t_ms - ta) / (tb - ta)
    return ("fix", round(a[1] + w * (b[1] - a[1])), round(a[2] + w * (b[2] - a[2])), a[3], None)


def _frame(rec: bytes) -> bytes:
    return len(rec).to_bytes(2, "big") + rec


def _plain(action: tuple) -> list:
    return [binascii.hexlify(x).decode() if isinstance(x, bytes) else x for x in action]


def describe_event(ev: tuple) -> str:
    """Short human text for an event tuple."""
    kind = ev[0]
    if kind == "permit":
        return "token %d bytes" % len(ev[1])
    if kind == "boot":
        return "boot (%s)" % ev[2]
    if kind == "fix":
        return "fix %.5f, %.5f ±%d m" % (ev[1] / 1e7, ev[2] / 1e7, ev[3])
    return " ".join(str(x) for x in ev)


def describe_actions(actions: list) -> str:
    """The actions a host must carry out, without persist/audit noise."""
    parts = []
    for a in actions:
        if a[0] == "actuate":
            parts.append(("LOCK (%s)" % a[2]) if a[1] else "UNLOCK")
        elif a[0] == "answer":
            parts.append("answer %s at +%d ms" % ("ok" if a[2] else "no", a[1]))
        elif a[0] == "wake":
            parts.append("wake %s" % ("cancelled" if a[1] is None else "at +%d ms" % a[1]))
        elif a[0] in ("indicate", "result", "set_rtc"):
            parts.append("%s %s" % (a[0], " ".join(str(x) for x in a[1:])))
    return "; ".join(parts)


def audit_rows(records: list[bytes]) -> list[tuple[int, int, str, str]]:
    """(seq, time, code, detail) for each record."""
    rows = []
    for r in records:
        seq, t, code, detail, _h = audit.decode(r)
        rows.append((seq, t, code, detail))
    return rows
