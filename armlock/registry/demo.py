"""The registry demo: an armoury of virtual boards through one shift, end to end.

Enrols locks, weapons and holders, issues a shift, docks every board at once (permits
loaded, audit pulled and verified, then acknowledged), lets one lock report a tamper and
one weapon be reported stolen, docks again, and writes a trace and the inventory.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from armlock.registry import db
from armlock.registry import records as R
from armlock.registry.alerts import open_alerts
from armlock.registry.dock import connect, counter_store, dock_all
from armlock.registry.inventory import inventory
from armlock.registry.shift import ShiftSpec, issue_shift, read_roster
from armlock.registry.signer import Signer, create_master_key
from armlock.registry.status import report_loss
from armlock.registry.trace import trace
from hardware.virtual.launcher import VirtualBoard

ACTOR = "demo-armourer"
DEPOT = (524010000, 132015000)  # lat, lon in 1e-7 degrees
DEPOT_ZONE = [(False, [[(523990000, 131990000), (523990000, 132040000),
                        (524030000, 132040000), (524030000, 131990000)]])]


def stock(s: Session, n: int, key_ids: list[str], actor: str = ACTOR,
          at: int | None = None) -> None:
    """n locks AL-0001.., each on a rifle SN-000i, and n holders S-000i with a card and a
    fingerprint template (slot i mod 200) on the lock of the same number."""
    for i in range(1, n + 1):
        dev = f"AL-{i:04d}"
        R.enrol_device(s, actor, dev, "esp32-devkitc", "ab" * 32, key_ids, at=at)
        R.add_weapon(s, actor, manufacturer="Acme Arms", model="AR-7", type="rifle",
                     calibre="5.56x45mm", serial_number=f"SN-{i:04d}", country="BE",
                     year=2020, import_marking="IM-DE-21", device_id=dev, at=at)
        R.add_holder(s, actor, f"S-{i:04d}", f"Holder {i}", unit="1st coy", at=at)
        R.enrol_card(s, actor, f"S-{i:04d}", f"04{i:012X}", at=at)
        R.enrol_finger(s, actor, f"S-{i:04d}", dev, i % 200, at=at)


def _dock(factory: Any, signer: Signer, boards: list[VirtualBoard], counters: Path,
          say: Callable[[str], None]) -> None:
    for r in dock_all(factory, signer, [b.port for b in boards], ACTOR, counters=counters):
        state = r.error or (f"{r.delivered}; audit {r.ingest.new} new, acked up to "
                            f"{r.acked_upto}" if r.ingest else "")
        say(f"  dock {r.device_id or r.port}: {state}")


def run(out: Path, n: int = 3, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo in `out` (created); returns a summary (also written as summary.json)."""
    out.mkdir(parents=True, exist_ok=True)
    key = out / "master.key"
    if not key.exists():
        create_master_key(key)
    signer = Signer(key)
    (out / "registry.db").unlink(missing_ok=True)
    engine = db.connect(f"sqlite:///{out / 'registry.db'}")
    db.init(engine)
    factory = db.sessions(engine)
    with db.transaction(factory) as s:
        stock(s, n, [signer.key_id])
    roster = "holder,weapon\n" + "".join(f"S-{i:04d},SN-{i:04d}\n" for i in range(1, n + 1))
    with db.transaction(factory) as s:
        shift, toks = issue_shift(s, signer, ACTOR, read_roster(roster),
                                  ShiftSpec("demo", zones=DEPOT_ZONE))
    say(f"shift {shift.id}: {len(toks)} permits issued")
    counters = out / "counters"
    with contextlib.ExitStack() as stack:
        boards = []
        for i in range(1, n + 1):
            dev = f"AL-{i:04d}"
            vb = VirtualBoard(out / "boards" / dev, identity=(dev, signer.device_key(dev)),
                              reflash=True)
            boards.append(stack.enter_context(vb.start()))
        _dock(factory, signer, boards, counters, say)
        for i, b in enumerate(boards):
            dev = f"AL-{i + 1:04d}"
            with connect(b.port, signer.device_key(dev), counter_store(counters, dev)) as c:
                c.stimulate("fix", lat_e7=DEPOT[0] + 7000 * (i % 3 - 1),
                            lon_e7=DEPOT[1] + 9000 * (i % 2), hacc_m=4, utc_s=R.now_s())
                if i == 0:
                    c.stimulate("tamper", source="enclosure")
        say("each lock took a GNSS fix in the depot; AL-0001: enclosure opened (tamper)")
        with db.transaction(factory) as s:
            w = R.find_weapon(s, f"SN-{n:04d}")
            report_loss(s, signer, ACTOR, w, "stolen", R.now_s() - 3600, "demo")
        say(f"SN-{n:04d} reported stolen: recall issued")
        _dock(factory, signer, boards, counters, say)
    with factory() as s:
        t = trace(s, "SN-0001")
        inv = inventory(s)
        alerts = [f"{a.kind}: {a.message}" for a in open_alerts(s)]
    (out / "trace-SN-0001.json").write_text(json.dumps(t, indent=1))
    (out / "inventory.json").write_text(json.dumps(inv, indent=1))
    summary = {"permits": len(toks), "alerts": alerts, "intact": t["integrity"]["intact"],
               "discrepancies": inv["discrepancies"], "registry": str(out / "registry.db")}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    for a in alerts:
        say(f"alert {a}")
    return summary
