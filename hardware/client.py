"""One synchronous client for an armlock board over any transport (serial, pty, BLE, loopback).

Requests and replies are paired by frame seq; EVENT frames that arrive meanwhile are
queued for `events()`. Sealed commands (AUDIT_ACK, STIMULUS, REBOOT) need the device key
and a strictly increasing counter: the last one used per device is kept in a small JSON
file, and a host that lost it continues from the device's STATUS `last_counter`.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from hardware.link.base import DeviceError, DeviceTimeout, LinkError, LinkLost, Transport
from protocols import audit as A
from protocols import messages as M
from protocols.frame import Decoder

COUNTERS_ENV = "ARMLOCK_COUNTERS"
# Commands that change nothing on the device: resent once if the link was reopened meanwhile.
IDEMPOTENT = (M.INFO, M.STATUS, M.PING, M.AUDIT_READ)
MAX_QUEUED = 10000  # events kept for events() while nobody reads them (oldest dropped)
_LOCKS: dict[str, threading.Lock] = {}  # one per counter file, across CounterStore objects
_LOCKS_GUARD = threading.Lock()


class KeyRequired(LinkError):
    """A sealed command was asked for without the device key."""

    exit_code = 2


def default_counter_path() -> Path:
    """$ARMLOCK_COUNTERS, else ~/.armlock/counters.json."""
    env = os.environ.get(COUNTERS_ENV)
    return Path(env) if env else Path.home() / ".armlock" / "counters.json"


class CounterStore:
    """Last sealed-command counter per device id, in a JSON file replaced atomically
    (updates serialised by a thread lock and an flock on `<file>.lock`)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_counter_path()

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LinkError(f"{self.path}: counter file unreadable ({exc}); "
                            "delete it, the device's last counter is used instead") from None
        if not isinstance(data, dict):
            raise LinkError(f"{self.path}: counter file must map device id to int")
        return {k: v for k, v in data.items() if isinstance(v, int)}

    def get(self, device_id: str) -> int:
        """The last counter used for the device (0 if none)."""
        return self._read().get(device_id, 0)

    def put(self, device_id: str, counter: int) -> None:
        """Record `counter` as used (never moves backwards); safe from several threads and
        processes at once (the read-modify-write holds a thread lock and a file lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked():
            data = self._read()
            data[device_id] = max(counter, data.get(device_id, 0))
            tmp = self.path.with_name(
                f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold this file's lock: a thread lock in this process, flock across processes."""
        with _LOCKS_GUARD:
            lock = _LOCKS.setdefault(str(self.path.resolve()), threading.Lock())
        with lock, open(self.path.with_name(self.path.name + ".lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when f closes
            yield


class DeviceClient:
    """Commands to one board. Use as a context manager (opens and closes the transport)."""

    def __init__(self, transport: Transport, key: bytes | None = None,
                 counter_store: CounterStore | None = None, timeout: float = 2.0,
                 device_id: str | None = None) -> None:
        self.transport = transport
        self.key = key
        self.counters = counter_store if counter_store is not None else CounterStore()
        self.timeout = timeout
        self.device_id = device_id
        self._dec = Decoder()
        self._seq = 0
        self._counter: int | None = None
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_QUEUED)
        self.noise = 0  # chunks on the line that were not frames (boot log, REPL text)
        self._read_end = self.read_since = 0.0  # perf_counter() at the end of the last read
        self._checked_gen = -1  # transport generation at which device_id was last confirmed

    # -- lifecycle --------------------------------------------------------------------------
    def open(self) -> DeviceClient:
        self.transport.open()
        return self

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> DeviceClient:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """INFO_REPLY fields: device_id, fw_version, mode, runtime, proto."""
        f = self.call(M.INFO, expect=M.INFO_REPLY)
        self.device_id = f["device_id"]
        self._checked_gen = self.transport.generation
        return f

    def status(self) -> dict[str, Any]:
        """STATUS_REPLY fields (locked, reasons, permit, lockout, tamper, ...)."""
        return self.call(M.STATUS, expect=M.STATUS_REPLY)

    def ping(self) -> float:
        """Round trip of a PING in seconds."""
        t = time.perf_counter()
        self.call(M.PING)
        return time.perf_counter() - t

    def load_permit(self, token: bytes) -> None:
        """Load a permit token (authenticated by the authority; DeviceError if refused)."""
        self.call(M.LOAD_PERMIT, {"token": bytes(token)})

    def recall(self, token: bytes) -> None:
        """Apply a recall token."""
        self.call(M.RECALL, {"token": bytes(token)})

    def reset_tamper(self, token: bytes) -> None:
        """Apply an authority tamper-reset token."""
        self.call(M.TAMPER_RESET, {"token": bytes(token)})

    def audit(self, from_seq: int = 1, count: int | None = None) -> list[bytes]:
        """Audit records from `from_seq` (all of them, or `count`), paging until `more` ends."""
        out: list[bytes] = []
        seq = from_seq
        while count is None or len(out) < count:
            want = 255 if count is None else min(255, count - len(out))
            f = self.call(M.AUDIT_READ, {"from_seq": seq, "count": want},
                          expect=M.AUDIT_RECORDS)
            recs = f["records"]
            out.extend(recs)
            if not recs or not f["more"]:
                break
            seq = A.decode(recs[-1])[0] + 1
        return out

    def audit_ack(self, upto_seq: int) -> None:
        """Tell the device records up to `upto_seq` are stored on the host (sealed)."""
        self.call(M.AUDIT_ACK, {"upto_seq": upto_seq}, sealed=True)

    def stimulate(self, kind: str, **fields: Any) -> None:
        """Inject a stimulus (rig/dev mode; sealed), e.g. stimulate("battery", mv=3600)."""
        self.call(M.STIMULUS, dict(fields, kind=kind), sealed=True)

    def reboot(self) -> None:
        """Reboot the device (dev mode; sealed)."""
        self.call(M.REBOOT, {}, sealed=True)

    def events(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """EVENT fields as they arrive; ends after `timeout` s without one (None: never)."""
        while True:
            if self._events:
                yield self._events.popleft()
                continue
            deadline = None if timeout is None else self.transport.clock() + timeout
            while not self._events:
                left = 0.5 if deadline is None else deadline - self.transport.clock()
                if left <= 0:
                    return
                self._pump(min(left, 0.5))

    def drain_events(self) -> list[dict[str, Any]]:
        """Events received so far (without waiting)."""
        self._pump(0)
        out = list(self._events)
        self._events.clear()
        return out

    def received(self, event: dict[str, Any]) -> None:
        """Called for each EVENT as it arrives, before it is queued (override to stamp it)."""

    def verify_audit(self, records: list[bytes], device_id: str | None = None) -> list[str]:
        """Problems in a run of records (empty: the hash chain holds)."""
        did = device_id or self.device_id or self.info()["device_id"]
        if not records:
            return []
        if A.decode(records[0])[0] == 1:
            return A.verify(records, did)
        first = A.decode(records[0])[4]
        return A.verify(records[1:], did, first_prev=first)

    # -- request / reply ---------------------------------------------------------------------
    def call(self, typ: int, fields: dict[str, Any] | None = None, expect: int = M.OK,
             sealed: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """Send one command and return the reply's fields (DeviceError on ERROR)."""
        fields = fields or {}
        try:
            out = self._call_once(typ, fields, expect, sealed, timeout)
        except DeviceError as exc:
            if not (sealed and exc.code == M.E_REPLAY):
                raise
            self._counter = None  # our counter fell behind the device: resync once
            out = self._call_once(typ, fields, expect, sealed, timeout)
        if typ != M.INFO and self.device_id is not None \
                and self.transport.generation != self._checked_gen:
            self._same_board()
        return out

    def _same_board(self) -> None:
        """After the link was reopened (a replug, a re-enumeration), check that the same
        board answers: a port name can come back on another board."""
        self._checked_gen = self.transport.generation
        did = self._call_once(M.INFO, {}, M.INFO_REPLY, False, None)["device_id"]
        if did != self.device_id:
            raise LinkLost(f"link lost: {self.transport.name} came back as device {did}, "
                           f"not {self.device_id} (another board on the same port)")

    def _call_once(self, typ: int, fields: dict[str, Any], expect: int, sealed: bool,
                   timeout: float | None) -> dict[str, Any]:
        counter = self._next_counter(typ) if sealed else None
        frame = M.encode_msg(typ, self._next_seq(), fields, self.key, counter)
        seq = self._seq
        gen = self.transport.generation
        self.transport.write(frame)
        wait = self.timeout if timeout is None else timeout
        try:
            rtyp, rf = self._wait(seq, wait)
        except DeviceTimeout:
            if typ not in IDEMPOTENT or self.transport.generation == gen:
                raise
            self.transport.write(frame)  # the link was reopened meanwhile: ask again
            rtyp, rf = self._wait(seq, wait)
        if rtyp == M.ERROR:
            raise DeviceError(rf["code"], rf["message"], self.transport.name)
        if rtyp != expect:
            raise LinkError(f"{self.transport.name}: {M.type_name(typ)} got "
                            f"{M.type_name(rtyp)}, expected {M.type_name(expect)}")
        return rf

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _next_counter(self, typ: int) -> int:
        if self.key is None:
            raise KeyRequired(f"{M.type_name(typ)} is sealed: give the device key (--key FILE)")
        did = self.device_id or self.info()["device_id"]
        if self._counter is None:
            last = self.status().get("last_counter") or 0
            self._counter = max(self.counters.get(did), last)
        self._counter += 1
        self.counters.put(did, self._counter)  # recorded before it is used
        return self._counter

    def _wait(self, seq: int, timeout: float) -> tuple[int, dict[str, Any]]:
        deadline = self.transport.clock() + timeout
        while True:
            for typ, rseq, f in self._pump(max(0.0, deadline - self.transport.clock())):
                if rseq == seq:
                    return typ, f
            if self.transport.clock() >= deadline:
                raise DeviceTimeout(f"no answer from {self.transport.name} within "
                                    f"{timeout:.1f} s (seq {seq})")

    def _pump(self, timeout: float) -> list[tuple[int, int, dict[str, Any]]]:
        """Read once; queue events; return the replies (type, seq, fields)."""
        replies = []
        start = time.perf_counter()
        data = self.transport.read(timeout)
        end = time.perf_counter()
        # the earliest moment what this read returns can have arrived: if the read waited,
        # it came as the read returned; if it returned at once, it may have been waiting
        # since the previous read ended
        self.read_since = end if end - start > 0.001 else self._read_end
        self._read_end = end
        for fr in self._dec.feed(data):
            if not isinstance(fr, tuple):
                self.noise += 1
                continue
            try:
                typ, seq, f = cast(tuple[int, int, dict[str, Any]], M.decode_msg(fr))
            except (M.MessageError, ValueError):
                self.noise += 1
                continue
            if typ == M.EVENT:
                self.received(f)
                self._events.append(f)
            else:
                replies.append((typ, seq, f))
        return replies
