"""Docking locks: deliver each one's pending token, pull and verify its audit log, commit,
and only then acknowledge the records on the device (so a crash loses nothing: records
not acknowledged are read again at the next dock and recognised as already stored).

Several ports are docked at once, each in its own thread, session and transaction.
Sealed-command counters are kept in one file per lock under `counters` (a directory), so
concurrent docks never write the same counter file.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from armlock.registry.db import RegistryError, transaction
from armlock.registry.ingest import IngestResult, ingest
from armlock.registry.models import Dock, Position, Token, Weapon
from armlock.registry.records import attribute, get_device, now_s
from armlock.registry.signer import Signer
from armlock.registry.status import current, set_status
from hardware.client import CounterStore, DeviceClient, default_counter_path
from hardware.link import LinkError, Transport, open_target

Opener = Callable[[str], Transport]
DEFAULT_OPENER: Opener = open_target  # serial, pty or ble:ADDRESS


def connect(port: str, key: bytes | None, store: CounterStore,
            opener: Opener = DEFAULT_OPENER) -> DeviceClient:
    """A client for the lock on `port` (not yet opened; use as a context manager)."""
    return DeviceClient(opener(port), key, store)


@dataclass
class DockResult:
    port: str
    device_id: str = ""
    delivered: str = ""  # what token was delivered, or why not
    ingest: IngestResult | None = None
    acked_upto: int | None = None
    error: str = ""
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error and self.ingest is not None and self.ingest.accepted


def pending_token(s: Session, device_id: str, now: int) -> Token | None:
    """The device's newest token, unless it is a permit that has already expired."""
    tok = s.scalar(select(Token).where(Token.device_id == device_id)
                   .order_by(Token.serial.desc()).limit(1))
    if tok is None or (tok.kind == "permit" and (tok.not_after or 0) < now):
        return None
    return tok


def _deliver(client: DeviceClient, tok: Token | None, status: dict[str, Any]) -> str:
    if tok is None:
        return "nothing to deliver"
    loaded = (status.get("permit") or {}).get("serial")
    if tok.kind == "permit" and loaded is not None and loaded >= tok.serial:
        return f"permit serial {loaded} already loaded"
    send = {"permit": client.load_permit, "recall": client.recall,
            "reset": client.reset_tamper}[tok.kind]
    try:
        send(tok.blob)
    except LinkError as exc:
        return f"{tok.kind} serial {tok.serial} refused: {exc}"
    return f"{tok.kind} serial {tok.serial} delivered"


def _announced_head(client: DeviceClient) -> int | None:
    """The newest audit seq the lock announced in EVENT frames so far (None: none)."""
    seqs = [e["seq"] for e in client.drain_events() if e.get("kind") == "audit"]
    return max(seqs) if seqs else None


def _record(s: Session, actor: str, port: str, did: str, st: dict[str, Any],
            records: list[bytes], tok: Token | None, delivered: str, now: int,
            head: int | None) -> IngestResult:
    res = ingest(s, did, records, actor, head_seq=head, at=now)
    fix = st.get("last_fix")
    if fix:
        s.add(Position(device_id=did, fix_utc=fix.get("utc_s"), lat_e7=fix["lat_e7"],
                       lon_e7=fix["lon_e7"], hacc_m=fix.get("hacc_m"), source="dock status",
                       at=now))
    s.add(Dock(device_id=did, port=port, at=now, by=actor,
               token_id=tok.id if tok and delivered.endswith("delivered") else None,
               upload_id=res.upload_id, acked_upto=res.ack_upto, status=st,
               outcome=delivered if res.accepted else "audit refused; " + delivered))
    w = s.scalar(select(Weapon).where(Weapon.device_id == did))
    permit = st.get("permit") or {}
    cur = current(s, w.id) if w is not None else None
    if w is not None and cur is not None and cur.status == "issued" and \
            permit.get("not_after", 0) < now:
        set_status(s, actor, w, "in_store", [], now, f"docked at {port}", at=now)
    attribute(s, actor, "dock", did, now, port=port, upload=res.upload_id,
              accepted=res.accepted, delivered=delivered)
    return res


def counter_store(counters: Path | None, device_id: str) -> CounterStore:
    """The sealed-command counter file of one lock (default ~/.armlock/registry-counters)."""
    folder = counters if counters is not None else (
        default_counter_path().parent / "registry-counters")
    return CounterStore(Path(folder) / f"{device_id}.json")


def dock_one(factory: sessionmaker[Session], signer: Signer, port: str, actor: str,
             opener: Opener = DEFAULT_OPENER, counters: Path | None = None,
             now: int | None = None) -> DockResult:
    """Dock the lock on `port` (see the module doc); errors are reported, not raised."""
    out = DockResult(port)
    try:
        with DeviceClient(opener(port)) as client:
            out.device_id = did = client.info()["device_id"]
            client.key = signer.device_key(did)
            client.counters = counter_store(counters, did)
            at = now_s() if now is None else now
            with factory() as s:
                get_device(s, did)
                tok = pending_token(s, did, at)
                out.status = client.status()
                out.delivered = _deliver(client, tok, out.status)
            out.status = client.status()
            head = _announced_head(client)  # before the read: every one of these is readable
            records = client.audit(1)
            for attempt in (1, 2):  # a concurrent ingest of the same lock: read again
                try:
                    with transaction(factory) as s:
                        out.ingest = _record(s, actor, port, did, out.status, records,
                                             tok, out.delivered, at, head)
                    break
                except IntegrityError:
                    if attempt == 2:
                        raise
            if out.ingest and out.ingest.ack_upto:
                client.audit_ack(out.ingest.ack_upto)  # only after the commit
                out.acked_upto = out.ingest.ack_upto
    except (LinkError, RegistryError, OSError) as exc:
        out.error = str(exc) or type(exc).__name__
    except ValueError as exc:  # a record too short to page on: nothing was acknowledged
        out.error = f"malformed reply from the lock: {exc}"
    return out


def dock_all(factory: sessionmaker[Session], signer: Signer, ports: list[str], actor: str,
             opener: Opener = DEFAULT_OPENER, counters: Path | None = None,
             now: int | None = None) -> list[DockResult]:
    """Dock every port at once; results in the order of `ports`."""
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(ports)))) as pool:
        futs = [pool.submit(dock_one, factory, signer, p, actor, opener, counters, now)
                for p in ports]
        return [f.result() for f in futs]
