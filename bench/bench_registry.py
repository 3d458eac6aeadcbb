"""Benchmark the registry: shift issue, audit ingest, trace at scale (SQLite, PostgreSQL).

Figures (never pass/fail), each with a baseline timed in the same process:
- shift issue for --holders holders (one transaction; baseline: signing the same permits
  without the database);
- audit ingest in records/s (uploads of --upload records; baseline: protocols.audit.verify
  of the same records alone);
- trace query time (median, p99) on a registry of --weapons weapons with --records audit
  records each (baseline: fetching the weapon row by primary key).

    .venv/bin/python bench/bench_registry.py                 # 2,000 weapons x 50 records
    .venv/bin/python bench/bench_registry.py --full          # 100,000 weapons x 100 (10 M)
    .venv/bin/python bench/bench_registry.py --db sqlite     # or postgresql, or both

PostgreSQL: --pg-url URL, else a throwaway server is started if Debian's postgresql is
installed (tests/registry_pg.py); without either the PostgreSQL leg is skipped.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from armlock.registry import db  # noqa: E402
from armlock.registry.ingest import ingest  # noqa: E402
from armlock.registry.models import (  # noqa: E402
    AuditRecord,
    AuditUpload,
    Card,
    Device,
    Finger,
    Holder,
    Weapon,
    WeaponStatus,
)
from armlock.registry.shift import ShiftSpec, issue_shift, rule_fields  # noqa: E402
from armlock.registry.signer import Signer, create_master_key  # noqa: E402
from armlock.registry.trace import trace  # noqa: E402
from bench._stats import pct  # noqa: E402
from protocols import audit as A  # noqa: E402

T0 = 1_767_225_600
BATCH = 20_000


def _bulk(s, model, rows: list[dict]) -> None:
    for i in range(0, len(rows), BATCH):
        s.execute(insert(model), rows[i:i + BATCH])


def populate(factory, n_weapons: int, n_holders: int) -> None:
    """Locks AL-n, weapons SN-n on them, holders S-n with a card and a finger on lock n."""
    with db.transaction(factory) as s:
        _bulk(s, Device, [dict(device_id=f"AL-{i:06d}", board="esp32", manifest_hash="0" * 64,
                               authority_key_ids=["k"], provisioned_at=T0, provisioned_by="b",
                               last_serial=0, dock_every_h=24) for i in range(n_weapons)])
        _bulk(s, Weapon, [dict(id=i + 1, manufacturer="Acme", model="AR-7", type="rifle",
                               calibre="5.56", serial_number=f"SN-{i:06d}", year=2020,
                               country="BE", import_marking=None, obliterated=False,
                               device_id=f"AL-{i:06d}", added_at=T0, added_by="b")
                          for i in range(n_weapons)])
        _bulk(s, WeaponStatus, [dict(weapon_id=i + 1, status="in_store", holder_ids=[],
                                     occurred_at=T0, at=T0, by="b", note=None, token_id=None)
                                for i in range(n_weapons)])
        _bulk(s, Holder, [dict(id=i + 1, service_number=f"S-{i:06d}", name=f"H {i}", unit=None,
                               added_at=T0, added_by="b") for i in range(n_holders)])
        _bulk(s, Card, [dict(holder_id=i + 1, uid=f"04{i:012X}", key_ref="k", enrolled_at=T0,
                             enrolled_by="b") for i in range(n_holders)])
        _bulk(s, Finger, [dict(holder_id=i + 1, device_id=f"AL-{i:06d}", template_id=1,
                               enrolled_at=T0, enrolled_by="b") for i in range(n_holders)])


def chain(device: str, n: int) -> list[bytes]:
    c = A.Chain(device)
    return [c.append(T0 + 60 * k, "unlock" if k % 2 else "relock", f"holder=1 serial={k}")
            for k in range(n)]


def load_records(factory, n_weapons: int, per: int) -> None:
    """`per` accepted records for every lock (bulk, outside the ingest path)."""
    group = max(1, BATCH // max(per, 1))
    for g in range(0, n_weapons, group):
        rows: list[dict] = []
        with db.transaction(factory) as s:
            for i in range(g, min(g + group, n_weapons)):
                dev = f"AL-{i:06d}"
                up = AuditUpload(device_id=dev, received_at=T0, received_by="b", count=per,
                                 accepted=True, problems=[])
                s.add(up)
                s.flush()
                for rec in chain(dev, per):
                    q, t, code, detail, h = A.decode(rec)
                    rows.append(dict(device_id=dev, upload_id=up.id, seq=q, time_s=t,
                                     code=code, detail=detail, hash=h, raw=rec, accepted=True,
                                     flag=None))
            _bulk(s, AuditRecord, rows)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_shift(factory, signer: Signer, holders: int) -> None:
    rows = [{"holder": f"S-{i:06d}", "weapon": f"SN-{i:06d}"} for i in range(holders)]
    spec = ShiftSpec("bench")
    mode, mask, k = rule_fields(spec)
    times, base = [], []
    for _ in range(3):
        with db.transaction(factory) as s:
            times.append(timed(lambda s=s: issue_shift(s, signer, "bench", rows, spec, T0)))
        fields = [dict(kind=1, device_id=f"AL-{i:06d}", serial=1, not_before=T0,
                       not_after=T0 + 8 * 3600, rule_mode=mode, factor_mask=mask, k=k,
                       window_s=30, max_unlock_s=600,
                       holders=[(i + 1, (f"04{i:012X}",), (1,))]) for i in range(holders)]
        base.append(timed(lambda f=fields: [signer.sign(x) for x in f]))
    m, b = statistics.median(times), statistics.median(base)
    print(f"  shift issue, {holders} holders: median {m:.2f} s ({m / holders * 1e3:.2f} ms "
          f"per permit); signing alone {b:.2f} s; ratio {m / b:.1f}x")


def bench_ingest(factory, n_weapons: int, upload: int, uploads: int) -> None:
    devs = random.Random(1).sample(range(n_weapons), min(uploads, n_weapons))
    chains = {i: chain(f"AL-{i:06d}", upload) for i in devs}
    t = 0.0
    for i in devs:
        with db.transaction(factory) as s:
            t += timed(lambda s=s, i=i: ingest(s, f"AL-{i:06d}", chains[i], "bench", at=T0))
    base = sum(timed(lambda i=i: A.verify(chains[i], f"AL-{i:06d}")) for i in devs)
    n = upload * len(devs)
    print(f"  audit ingest: {n / t:,.0f} records/s ({len(devs)} uploads of {upload}); "
          f"verify alone {n / base:,.0f} records/s; ratio {t / base:.1f}x")


def bench_trace(factory, n_weapons: int, queries: int) -> None:
    rng = random.Random(2)
    picks = [rng.randrange(n_weapons) for _ in range(queries)]
    with factory() as s:
        tt = [timed(lambda i=i: trace(s, f"SN-{i:06d}")) for i in picks]
        bb = [timed(lambda i=i: s.get(Weapon, i + 1, populate_existing=True)) for i in picks]
    print(f"  trace: median {statistics.median(tt) * 1e3:.1f} ms, p99 {pct(tt, 99) * 1e3:.1f} "
          f"ms ({queries} queries); weapon by key {statistics.median(bb) * 1e3:.2f} ms; "
          f"ratio {statistics.median(tt) / statistics.median(bb):.0f}x")


def run(name: str, url: str, args: argparse.Namespace, signer: Signer) -> None:
    engine = db.connect(url)
    db.init(engine)
    factory = db.sessions(engine)
    print(f"{name}: {args.weapons:,} weapons x {args.records} records = "
          f"{args.weapons * args.records:,} audit records")
    t = timed(lambda: populate(factory, args.weapons, max(args.holders, 1)))
    t += timed(lambda: load_records(factory, args.weapons, args.records))
    print(f"  (built in {t:.0f} s)")
    bench_trace(factory, args.weapons, args.queries)
    bench_ingest(factory, args.weapons, args.upload, args.uploads)
    bench_shift(factory, signer, args.holders)
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg-url", default=None)
    ap.add_argument("--weapons", type=int, default=2000)
    ap.add_argument("--records", type=int, default=50, help="audit records per weapon")
    ap.add_argument("--holders", type=int, default=1000)
    ap.add_argument("--upload", type=int, default=200, help="records per ingested upload")
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--full", action="store_true", help="100,000 weapons x 100 records")
    args = ap.parse_args()
    if args.full:
        args.weapons, args.records = 100_000, 100
    args.holders = min(args.holders, args.weapons)
    with tempfile.TemporaryDirectory(prefix="armlock-bench-") as tmp:
        key = Path(tmp) / "master.key"
        create_master_key(key)
        signer = Signer(key)
        if args.db in ("sqlite", "both"):
            run("SQLite", f"sqlite:///{tmp}/registry.db", args, signer)
        if args.db in ("postgresql", "both"):
            run_pg(args, signer)


def run_pg(args: argparse.Namespace, signer: Signer) -> None:
    if args.pg_url:
        run("PostgreSQL", args.pg_url, args, signer)
        return
    from tests import registry_pg

    reason = registry_pg.unavailable()
    if reason:
        print(f"PostgreSQL: skipped ({reason})")
        return
    server = registry_pg.start()
    try:
        run("PostgreSQL (throwaway server, fsync off)", server.create_db("bench"), args, signer)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
