"""Concurrency and crash safety: ten issuing processes never share a serial; a shift issue
or a dock killed (SIGKILL) at random points loses nothing and duplicates nothing."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from armlock.registry import db
from armlock.registry.dock import connect, counter_store, dock_all
from armlock.registry.models import AuditRecord, Shift, Token
from protocols import audit as A
from tests.registry import workers
from tests.registry.armoury import ACTOR, stock
from tests.registry.boards import virtual_board

REPO = Path(__file__).resolve().parents[2]
DEV = "AL-0001"
PROCS = 10


def test_ten_processes_issuing_at_once_never_duplicate_a_serial(registry_url, factory,
                                                                 key_path):
    with db.transaction(factory) as s:
        stock(s, 3)
    devices = ["AL-0001", "AL-0002", "AL-0003"]
    ctx = multiprocessing.get_context("fork")  # no threads run in this test
    barrier = ctx.Manager().Barrier(PROCS)
    with ctx.Pool(PROCS) as pool:
        runs = pool.starmap(workers.issue_many, [(registry_url, str(key_path), devices, 12,
                                                  barrier)] * PROCS)
    issued = [x for run in runs for x in run]
    assert len(issued) == PROCS * 12
    assert len(set(issued)) == len(issued), "a serial was handed out twice"
    for dev in devices:  # and none was skipped: each lock's serials are 1..n
        mine = sorted(q for d, q in issued if d == dev)
        assert mine == list(range(1, len(mine) + 1))
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Token)) == PROCS * 12


def _run(args: list[str], kill_after: float | None) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-m", "tests.registry.workers", *args], cwd=REPO,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is None:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        return out
    time.sleep(kill_after)
    p.send_signal(signal.SIGKILL)
    out, _ = p.communicate(timeout=30)
    return out


def test_a_shift_issue_killed_anywhere_is_all_or_nothing(registry_url, factory, key_path,
                                                        tmp_path):
    n = 80
    with db.transaction(factory) as s:
        stock(s, n)
    roster = tmp_path / "roster.csv"
    roster.write_text("holder,weapon\n" + "".join(f"S-{i:04d},SN-{i:04d}\n"
                                                   for i in range(1, n + 1)))
    args = ["shift", registry_url, str(key_path), str(roster)]
    t = time.monotonic()
    _run(args, None)
    span = time.monotonic() - t
    rng = random.Random(15)
    killed = 0
    for _ in range(4):
        out = _run(args, rng.uniform(0.2, span))
        killed += "committed" not in out
        with factory() as s:
            per_shift = Counter(s.scalars(select(Token.shift_id)))
            shifts = s.scalars(select(Shift.id)).all()
            assert all(per_shift[sh] == n for sh in shifts), "a shift was half issued"
            committed = len(shifts)
            serials = s.execute(select(Token.device_id, Token.serial)).all()
            assert len(serials) == len(set(serials)) == committed * n
    assert killed >= 1, "no kill landed before the commit: the test proved nothing"
    _run(args, None)  # the registry still works after every crash
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Token)) == (committed + 1) * n


def test_a_dock_killed_anywhere_loses_and_duplicates_no_record(registry_url, factory,
                                                              signer, key_path, tmp_path):
    with db.transaction(factory) as s:
        stock(s, 1)
    counters = tmp_path / "counters"
    key = signer.device_key("AL-0001")
    rng = random.Random(7)
    with virtual_board(tmp_path / "b", "AL-0001", signer) as b:
        args = ["dock", registry_url, str(key_path), b.port, str(counters)]
        killed, span = 0, 0.0
        for _round in range(4):
            with connect(b.port, key, counter_store(counters, DEV)) as c:
                for i in range(25):  # new audit records: rejected cards, battery changes
                    c.stimulate("battery", mv=3300 + (i % 2) * 600)
            t = time.monotonic()
            out = _run(args, None if _round == 0 else rng.uniform(0.3, 1.2 * span))
            if _round == 0:
                span = time.monotonic() - t
            killed += "docked" not in out
        _run(args, None)
        with connect(b.port, key, counter_store(counters, DEV)) as c:
            c.stimulate("tamper", source="enclosure")  # one record after the last dock
            on_device = c.audit(1)
    with factory() as s:
        stored = list(s.scalars(select(AuditRecord.raw).where(AuditRecord.accepted)
                                .order_by(AuditRecord.seq)))
    assert killed >= 1, "no kill landed before the dock ended: the test proved nothing"
    seqs = [A.decode(r)[0] for r in stored]
    assert seqs == list(range(1, len(seqs) + 1)), "a record was lost or stored twice"
    assert A.verify(stored, "AL-0001") == []
    # the device's next record continues exactly where the stored chain ends
    assert len(stored) > 90
    assert A.decode(on_device[-1])[0] == len(stored) + 1
    assert A.verify(on_device[-1:], "AL-0001", first_prev=A.decode(stored[-1])[4]) == []


def test_concurrent_docks_of_different_locks_do_not_interfere(factory, signer, tmp_path):
    n = 4
    with db.transaction(factory) as s:
        stock(s, n)
    counters = tmp_path / "counters"
    devs = [f"AL-{i:04d}" for i in range(1, n + 1)]
    with contextlib.ExitStack() as stack:
        boards = [stack.enter_context(virtual_board(tmp_path / d, d, signer))
                  for d in devs]
        for k, (d, b) in enumerate(zip(devs, boards, strict=True)):
            with connect(b.port, signer.device_key(d),
                              counter_store(counters, d)) as c:
                for i in range(3 * k):  # a different number of records on each lock
                    c.stimulate("battery", mv=3300 + (i % 2) * 600)
        for _ in range(2):
            results = dock_all(factory, signer, [b.port for b in boards], ACTOR,
                               counters=counters)
            assert [r.device_id for r in results] == devs
            assert all(r.ok for r in results), [r.error for r in results]
    with factory() as s:
        for d in devs:
            raws = list(s.scalars(select(AuditRecord.raw).where(
                AuditRecord.device_id == d, AuditRecord.accepted).order_by(AuditRecord.seq)))
            assert raws and A.verify(raws, d) == [], d  # each chain whole, and only its own
        assert s.scalar(select(func.count()).select_from(AuditRecord)
                        .where(AuditRecord.accepted.is_(False))) == 0
