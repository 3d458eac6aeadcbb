"""Building blocks of the HIL fixtures: targets, the authority, the client and the rig.

The pytest plugin (hardware/hil/plugin.py) turns these into the `device`, `rig` and
`authority` fixtures; the verification suite (hardware/hil/suite) imports the named
places and credentials below. Nothing here decides whether the lock may open: every
rule lives in firmware/core, and the suite only checks what the board does.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware import authority as auth
from hardware.client import CounterStore, DeviceClient
from hardware.transport import DeviceError, LinkError, Transport, open_transport
from protocols import audit as A
from protocols import messages as M
from protocols import permit as P

DEVICE_ID = "AL-HIL-0001"        # the id given to virtual boards under test
VIRTUAL_RUNTIMES = {"virtual": "micropython", "virtual-cpython": "cpython"}

# -- places (integers in 1e-7 degrees) and credentials the suite uses --------------------
E7 = 10**7
M_PER_DEG = 111195.08            # metres per degree of great circle (mean Earth radius)
ZONE_A = (523000000, 523200000, 130000000, 130300000)   # allowed, ~2.2 km x 2 km
HOLE_A = (523080000, 523120000, 130200000, 130260000)   # hole in A, ~440 m x 400 m
FORBID = (523020000, 523060000, 130040000, 130100000)   # forbidden, inside A
ZONE_B = (523400000, 523500000, 130000000, 130100000)   # second allowed zone
HOLDER1 = (1, "04A1B2C3D4E5F6", 3)    # (holder id, RFID card UID, fingerprint template)
HOLDER2 = (2, "04112233445566", 7)
STRANGER = (99, "04DEADBEEF0001", 42)  # listed nowhere


def dlat_e7(m: float) -> int:
    """Metres north-south as 1e-7 degrees."""
    return round(m / M_PER_DEG * E7)


def dlon_e7(m: float, lat_e7: int) -> int:
    """Metres east-west at latitude `lat_e7` as 1e-7 degrees."""
    return round(m / (M_PER_DEG * math.cos(math.radians(lat_e7 / E7))) * E7)


def box_ring(b: tuple[int, int, int, int]) -> list[tuple[int, int]]:
    """The ring of a (lat_lo, lat_hi, lon_lo, lon_hi) box."""
    la0, la1, lo0, lo1 = b
    return [(la0, lo0), (la0, lo1), (la1, lo1), (la1, lo0)]


def standard_zones() -> list[tuple[bool, list[list[tuple[int, int]]]]]:
    """Allowed A (with a hole), forbidden F inside A, allowed B."""
    return [(False, [box_ring(ZONE_A), box_ring(HOLE_A)]), (True, [box_ring(FORBID)]),
            (False, [box_ring(ZONE_B)])]


_MID = (ZONE_A[0] + ZONE_A[1]) // 2
_EAST = ZONE_A[3]


def east_of_a(m: float) -> tuple[int, int]:
    """A point `m` metres east of zone A's east edge (negative: inside), mid-edge."""
    return _MID, _EAST + dlon_e7(m, _MID)


POINTS: dict[str, tuple[int, int]] = {
    "in": (523150000, 130120000),
    "in_edge": east_of_a(-15),
    "out_far": (522700000, 130700000),
    "hole": ((HOLE_A[0] + HOLE_A[1]) // 2, (HOLE_A[2] + HOLE_A[3]) // 2),
    "forbidden": ((FORBID[0] + FORBID[1]) // 2, (FORBID[2] + FORBID[3]) // 2),
    "in_b": (523450000, 130050000),
    "spoof": (480000000, 115000000),  # Munich, ~500 km away
}


# -- targets -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetSpec:
    """A parsed --armlock-target: kind is virtual, pty, serial or ble."""

    kind: str
    where: str = ""            # runtime for virtual, else the port / address

    @property
    def spawns(self) -> bool:
        """True when the harness starts (and may restart or add) boards itself."""
        return self.kind == "virtual"

    @property
    def is_virtual(self) -> bool:
        """True for a virtual board (one we start, or a pty of one already running)."""
        return self.kind in ("virtual", "pty")

    def __str__(self) -> str:
        if self.kind == "virtual":
            return "virtual" if self.where == "micropython" else "virtual-cpython"
        return f"{self.kind}:{self.where}"


def parse_target(spec: str) -> TargetSpec:
    """'virtual' | 'virtual-cpython' | 'pty:PATH' | 'serial:PORT' | 'ble:ADDRESS'."""
    if spec in VIRTUAL_RUNTIMES:
        return TargetSpec("virtual", VIRTUAL_RUNTIMES[spec])
    kind, _, where = spec.partition(":")
    if kind in ("pty", "serial", "ble") and where:
        return TargetSpec(kind, where)
    raise ValueError(f"--armlock-target {spec!r}: use virtual, virtual-cpython, pty:PATH, "
                     "serial:PORT or ble:ADDRESS")


def check_port(spec: TargetSpec) -> None:
    """Open and close the target's port once; raises PortMissing/PortBusy with one line."""
    if spec.kind not in ("pty", "serial"):
        return
    t = open_transport(spec.where)
    try:
        t.open()
    finally:
        t.close()


class Board:
    """The board under test, as the fixtures see it (one per test for spawned boards)."""

    spec: TargetSpec
    persistent = True   # state carries over between tests (cannot start from scratch)
    mode = "dev"

    def transport(self) -> Transport:
        raise NotImplementedError

    def power_cycle(self, client: DeviceClient) -> None:
        """Restart the board, keeping its stored state; the client is reconnected."""
        raise NotImplementedError

    def stop(self) -> None:
        """Release the board (stop it if we started it)."""


class SpawnedBoard(Board):
    """A virtual board this harness starts on a state dir (fresh per test)."""

    persistent = False

    def __init__(self, spec: TargetSpec, state_dir: Path, identity: tuple[str, bytes],
                 mode: str = "dev") -> None:
        self.spec = spec
        self.state_dir = state_dir
        self.identity = identity
        self.mode = mode
        self.vb: Any = None
        self.starts = 0

    @property
    def port(self) -> str:
        return self.vb.port if self.vb is not None else ""

    def start(self) -> SpawnedBoard:
        from hardware.virtual_board import BoardError, VirtualBoard

        try:
            self.vb = VirtualBoard(self.state_dir, mode=self.mode, runtime=self.spec.where,
                                   identity=self.identity).start()
        except BoardError as exc:
            hint = " (or use --armlock-target virtual-cpython)" if "node" in str(exc) else ""
            raise BoardError(f"{self.spec}: {exc}{hint}") from None
        self.starts += 1
        return self

    def transport(self) -> Transport:
        return open_transport(self.port)

    def power_cycle(self, client: DeviceClient) -> None:
        client.close()
        self.stop()
        self.start()
        client.transport = self.transport()
        client.open()

    def stop(self) -> None:
        vb, self.vb = self.vb, None
        if vb is not None:
            vb.stop()


class AttachedBoard(Board):
    """A board that runs on its own: a pty of a running virtual board, serial or BLE."""

    def __init__(self, spec: TargetSpec, reconnect_s: float = 5.0) -> None:
        self.spec = spec
        self.port = spec.where
        self.reconnect_s = reconnect_s
        self.offset = 0            # seconds the board's clock runs ahead of the host's
        self.synced = False        # clock and serials checked once this session

    def transport(self) -> Transport:
        if self.spec.kind == "ble":
            return open_transport("ble:" + self.port)
        return open_transport(self.port, reconnect_s=self.reconnect_s)

    def power_cycle(self, client: DeviceClient) -> None:
        try:
            client.reboot()
        except DeviceError as exc:
            if exc.code != M.E_MODE or self.spec.kind != "serial":
                raise
            _pulse_reset(client.transport)
        _wait_boot(client, 15.0)


class BoardPool:
    """Fresh virtual boards, each with its own new authority (master key), one started
    ahead in the background while the current test runs; used boards stop in the
    background too. `close()` waits for all of it."""

    def __init__(self, spec: TargetSpec, root: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.spec = spec
        self.root = root
        self.count = 0
        self._starter = ThreadPoolExecutor(1, thread_name_prefix="armlock-start")
        self._stopper = ThreadPoolExecutor(1, thread_name_prefix="armlock-stop")
        self._next: Any = None
        self._stops: list[Any] = []

    def _make(self) -> tuple[SpawnedBoard, Authority]:
        self.count += 1
        folder = self.root / f"board{self.count}"
        authority = Authority.create(folder / "authority").bind(DEVICE_ID)
        board = SpawnedBoard(self.spec, folder / "state", (DEVICE_ID, authority.device_key))
        return board.start(), authority

    def take(self) -> tuple[SpawnedBoard, Authority]:
        """A started board and its authority; starts the next one meanwhile."""
        fut = self._next if self._next is not None else self._starter.submit(self._make)
        self._next = self._starter.submit(self._make)
        return fut.result()

    def give_back(self, board: SpawnedBoard) -> None:
        """Stop a used board (in the background)."""
        self._stops.append(self._stopper.submit(board.stop))

    def close(self) -> None:
        nxt, self._next = self._next, None
        if nxt is not None:
            with contextlib.suppress(Exception):
                nxt.result()[0].stop()
        for f in self._stops:
            with contextlib.suppress(Exception):
                f.result()
        self._starter.shutdown()
        self._stopper.shutdown()


def _pulse_reset(t: Transport) -> None:
    """ESP32 reset over the USB bridge: EN low through RTS, as esptool does."""
    ser = getattr(t, "_ser", None)
    if ser is None:
        raise LinkError(f"{t.name}: cannot reset the board (port not open)")
    ser.dtr = False
    ser.rts = True
    time.sleep(0.1)
    ser.rts = False


def _wait_boot(client: DeviceClient, timeout: float) -> None:
    for ev in client.events(timeout):
        if ev["kind"] == "boot":
            return
    raise LinkError(f"{client.transport.name}: no boot event within {timeout:g} s of a reset")


# -- the authority for the board under test ------------------------------------------------

class Authority:
    """Issues tokens for the board under test with hardware.authority (key file in tmp)."""

    def __init__(self, key_path: Path, clock: Callable[[], int] | None = None) -> None:
        self.key_path = key_path
        self.master = auth.load_master_key(key_path)
        self.device_id = ""
        self.device_key = b""
        self.clock = clock or (lambda: int(time.time()))

    @classmethod
    def create(cls, folder: Path, master: bytes | None = None) -> Authority:
        """A new authority in `folder`: a fresh master key, or the given one."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "master.key"
        if master is None:
            auth.create_master_key(path)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(master.hex() + "\n")
        return cls(path)

    def bind(self, device_id: str) -> Authority:
        """Issue for `device_id` from now on."""
        self.device_id = device_id
        self.device_key = auth.derive_device_key(self.master, device_id)
        return self

    def fields(self, **overrides: Any) -> dict[str, Any]:
        """The default permit's fields, changed by `overrides`.

        Defaults: valid from 60 s ago for 15 min (board clock), fail-secure, RFID and
        fingerprint both needed within 10 s, holders HOLDER1 and HOLDER2, standard zones,
        unlock for at most 60 s. Shortcuts: valid_for=s, starts_in=s (not_before = now+s),
        factors=("rfid",) / ("finger",) / both, rule="all"|"any"|k.
        """
        now = self.clock()
        starts_in = overrides.pop("starts_in", -60)
        valid_for = overrides.pop("valid_for", 900)
        factors = overrides.pop("factors", ("rfid", "finger"))
        rule = overrides.pop("rule", "all")
        mask = (P.F_RFID if "rfid" in factors else 0) | (P.F_FINGER if "finger" in factors else 0)
        n = bin(mask).count("1")
        mode, k = {"all": (P.MODE_ALL, n), "any": (P.MODE_ANY, 1)}.get(
            rule, (P.MODE_KOFN, rule))
        holders = [(h, [c] if mask & P.F_RFID else [], [t] if mask & P.F_FINGER else [])
                   for h, c, t in (HOLDER1, HOLDER2)]
        f: dict[str, Any] = {
            "kind": P.KIND_PERMIT, "device_id": self.device_id,
            "not_before": now + starts_in, "not_after": now + starts_in + valid_for,
            "fail_enabled": False, "max_unlock_s": 60, "rule_mode": mode,
            "factor_mask": mask, "k": k, "window_s": 10, "holders": holders,
            "zones": standard_zones(),
        }
        f.update(overrides)
        return f

    def permit(self, **overrides: Any) -> bytes:
        """A permit token (see `fields` for defaults and shortcuts)."""
        return auth.issue(self.key_path, self.fields(**overrides))

    def recall(self) -> bytes:
        """A recall token."""
        return auth.issue_recall(self.key_path, self.device_id, self.clock())

    def reset(self) -> bytes:
        """An authority tamper-reset token (also clears lockouts)."""
        return auth.issue_reset(self.key_path, self.device_id, self.clock())

    def forged(self, **overrides: Any) -> bytes:
        """A permit whose MAC does not verify (signed with a key the board does not have)."""
        fields = dict(self.fields(**overrides), serial=auth.next_serial(self.key_path,
                                                                        self.device_id))
        return P.encode(fields, bytes(32))

    def skip_serials(self, floor: int) -> None:
        """Make the next serial larger than `floor` (a board that saw other authorities)."""
        path = auth.ledger_path(self.key_path)
        ledger = auth.read_ledger(self.key_path)
        if ledger.get(self.device_id, 0) < floor:
            ledger[self.device_id] = floor
            path.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n")


_REPLAYED = re.compile(r"serial \d+ <= (\d+)")


def apply_token(client: DeviceClient, authority: Authority, make: Callable[[], bytes],
                send: Callable[[bytes], None]) -> None:
    """Send a fresh token; if the board has seen higher serials, skip past them once."""
    try:
        send(make())
    except DeviceError as exc:
        m = _REPLAYED.search(exc.message)
        if m is None:
            raise
        authority.skip_serials(int(m.group(1)))
        send(make())


# -- the client ----------------------------------------------------------------------------

class HilClient(DeviceClient):
    """DeviceClient that stamps each EVENT with the host time it arrived (`_rx`, seconds)."""

    def _pump(self, timeout: float) -> list[tuple[int, int, dict[str, Any]]]:
        replies = super()._pump(timeout)
        now = time.perf_counter()
        for ev in reversed(self._events):
            if "_rx" in ev:
                break
            ev["_rx"] = now
        return replies


def last_audit_seq(client: DeviceClient) -> int:
    """The newest audit seq on the board (0 if none), in O(log n) one-record reads."""
    def has(seq: int) -> bool:
        return bool(client.audit(from_seq=seq, count=1))

    if not has(1):
        return 0
    lo, hi = 1, 2
    while has(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if has(mid) else (lo, mid)
    return lo


# -- latency ---------------------------------------------------------------------------------

@dataclass
class Sample:
    """One unlock or relock: host round trip (None for timer-driven ones) and device latency."""

    op: str
    rtt_ms: float | None
    device_us: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "rtt_ms": self.rtt_ms, "device_us": self.device_us}


@dataclass
class Recorder:
    """Latency samples of one test."""

    samples: list[Sample] = field(default_factory=list)

    def add(self, op: str, rtt_ms: float | None, device_us: int | None) -> None:
        self.samples.append(Sample(op, rtt_ms, device_us))


# -- NMEA for rigs that feed the board's GNSS UART ---------------------------------------------

def _nmea(body: str) -> str:
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    return f"${body}*{cs:02X}\r\n"


def _coord(v_e7: int, deg_digits: int, pos: str, neg: str) -> tuple[str, str]:
    hemi = pos if v_e7 >= 0 else neg
    v = abs(v_e7)
    deg = v // E7
    minutes_e5 = (v - deg * E7) * 60 // 100  # minutes x 1e5 (0.0000167 deg, ~2 cm)
    whole, frac = divmod(minutes_e5, 10**5)
    return f"{deg:0{deg_digits}d}{whole:02d}.{frac:05d}", hemi


def nmea_fix(lat_e7: int, lon_e7: int, hacc_m: int, utc_s: int) -> list[str]:
    """GGA + RMC sentences of one epoch that the board's NMEA driver turns into this fix
    (HDOP = hacc / 5 m UERE, the driver's default; 5 decimal places of minutes)."""
    t = time.gmtime(utc_s)
    hms = f"{t.tm_hour:02d}{t.tm_min:02d}{t.tm_sec:02d}.00"
    dmy = f"{t.tm_mday:02d}{t.tm_mon:02d}{t.tm_year % 100:02d}"
    la, ns = _coord(lat_e7, 2, "N", "S")
    lo, ew = _coord(lon_e7, 3, "E", "W")
    hdop = f"{hacc_m / 5:.2f}"
    return [_nmea(f"GPGGA,{hms},{la},{ns},{lo},{ew},1,09,{hdop},50.0,M,45.0,M,,"),
            _nmea(f"GPRMC,{hms},A,{la},{ns},{lo},{ew},0.0,0.0,{dmy},,,A")]


class NmeaPort:
    """A second USB-serial adapter wired to the board's GNSS UART (9600 baud)."""

    def __init__(self, port: str, baudrate: int = 9600) -> None:
        import serial

        try:
            self.ser = serial.Serial(port, baudrate, timeout=0, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"--armlock-gnss-port {port}: cannot open ({exc})") from None

    def write(self, lines: list[str]) -> None:
        self.ser.write("".join(lines).encode())
        self.ser.flush()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ser.close()


# -- the rig ---------------------------------------------------------------------------------

class Rig:
    """Stimulus for the board under test, its events, its audit trail and the latencies.

    Stimuli go as STIMULUS frames (dev/rig builds); with `gnss` (an NmeaPort) fixes go
    as NMEA sentences into the board's GNSS UART instead. `now()` is the board's clock as
    the rig set it; move it with `time()` or `advance()`.
    """

    def __init__(self, client: HilClient, board: Board, authority: Authority,
                 recorder: Recorder, offset: int = 0, gnss: NmeaPort | None = None) -> None:
        self.client = client
        self.board = board
        self.authority = authority
        self.recorder = recorder
        self.offset = offset
        self.gnss_port = gnss
        self.log: list[dict[str, Any]] = []
        self.cursor = 0
        self.mark = 0              # audit seq before the test started
        self.sent: list[tuple[str, float]] = []   # (command, host time sent)
        authority.clock = self.now

    # -- clock ---------------------------------------------------------------------------
    def now(self) -> int:
        """The board's UTC seconds, as this rig has set it."""
        return int(time.time()) + self.offset

    def time(self, utc: int) -> None:
        """Set the board's RTC to `utc` (STIMULUS time)."""
        self._stim("time", utc_s=int(utc))
        self.offset = int(utc) - int(time.time())

    def advance(self, seconds: int) -> None:
        """Move the board's clock forward by `seconds` (no real waiting)."""
        self.time(self.now() + seconds)

    # -- stimulus ------------------------------------------------------------------------
    def _note(self, what: str) -> None:
        self.sent.append((what, time.perf_counter()))

    def _stim(self, kind: str, **fields: Any) -> None:
        self._note(kind)
        self.client.stimulate(kind, **fields)

    def fix(self, lat: int, lon: int, hacc: int = 5, utc: int | None = None) -> None:
        """A GNSS fix at (lat, lon) in 1e-7 degrees with accuracy `hacc` metres."""
        if self.gnss_port is not None:
            self._note("fix")
            self.gnss_port.write(nmea_fix(lat, lon, hacc, self.now() if utc is None else utc))
            return
        fields: dict[str, Any] = {"lat_e7": lat, "lon_e7": lon, "hacc_m": hacc}
        if utc is not None:
            fields["utc_s"] = utc
        self._stim("fix", **fields)

    def at(self, place: str | tuple[int, int], hacc: int = 5) -> None:
        """A fix at a named place of POINTS (or a (lat, lon) pair)."""
        lat, lon = POINTS[place] if isinstance(place, str) else place
        self.fix(lat, lon, hacc)

    def nmea(self, sentence: str) -> None:
        """One NMEA sentence for the board's GNSS driver (STIMULUS nmea)."""
        self._stim("nmea", sentence=sentence.strip())

    def gnss(self, status: str) -> None:
        """GNSS receiver status: "lost", "jammed" or "ok"."""
        self._stim("gnss", status=status)

    def rfid(self, cred: str, rtt_us: int = 1500, strong: bool = True) -> None:
        """An RFID read of card `cred` (hex UID), challenge round trip `rtt_us`."""
        self._stim("rfid", cred=cred, rtt_us=rtt_us, strong=strong)

    def finger(self, template: int, score: int = 90) -> None:
        """A fingerprint match of `template` with match `score`."""
        self._stim("finger", template=template, score=score)

    def grip(self, held: bool) -> None:
        self._stim("grip", held=held)

    def tamper(self, source: str) -> None:
        """A tamper sensor fires: "enclosure", "magnet" or "actuator"."""
        self._stim("tamper", source=source)

    def battery(self, mv: int) -> None:
        self._stim("battery", mv=mv)

    def actpos(self, locked: bool) -> None:
        self._stim("actpos", locked=locked)

    def fault(self, sensor: str, ok: bool) -> None:
        self._stim("fault", sensor=sensor, ok=ok)

    def present(self, holder: tuple[int, str, int] = HOLDER1,
                factors: tuple[str, ...] = ("rfid", "finger")) -> None:
        """Present the holder's credentials (RFID card, then finger)."""
        if "rfid" in factors:
            self.rfid(holder[1])
        if "finger" in factors:
            self.finger(holder[2])

    # -- tokens ----------------------------------------------------------------------------
    def load(self, token: bytes) -> None:
        self._note("permit")
        self.client.load_permit(token)

    def recall(self, token: bytes) -> None:
        self._note("recall")
        self.client.recall(token)

    def reset(self, token: bytes) -> None:
        self._note("reset")
        self.client.reset_tamper(token)

    # -- power ---------------------------------------------------------------------------------
    def power_cycle(self, restore_clock: bool = True) -> None:
        """Restart the board with its stored state (virtual: a new process on the same state
        dir; real: REBOOT or a reset over RTS). The board's RTC is a battery-backed clock, so
        the rig sets it back to `now()` unless `restore_clock` is False."""
        self._pull(0)
        self.board.power_cycle(self.client)
        self.log.append({"kind": "_power_cycle", "_rx": time.perf_counter()})
        self.cursor = len(self.log)
        if restore_clock and self.offset:
            self.time(self.now())

    # -- events ----------------------------------------------------------------------------------
    def _pull(self, timeout: float) -> None:
        for ev in self.client.events(timeout):
            self.log.append(ev)
            break
        self.log.extend(self.client.drain_events())

    def wait_event(self, kind: str, timeout: float = 3.0, **match: Any) -> dict[str, Any]:
        """The next event of `kind` (with fields equal to `match`) after the last one taken."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self.cursor, len(self.log)):
                ev = self.log[i]
                if ev["kind"] == kind and all(ev.get(k) == v for k, v in match.items()):
                    self.cursor = i + 1
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} event {match or ''} within {timeout:g} s; "
                                     f"saw {self._recent()}")
            self._pull(min(left, 0.5))

    def seen(self, kind: str, **match: Any) -> bool:
        """True if an event of `kind` (with `match`) arrived at any time during the test."""
        self._pull(0)
        return any(ev["kind"] == kind and all(ev.get(k) == v for k, v in match.items())
                   for ev in self.log)

    def no_event(self, kind: str, within: float, **match: Any) -> None:
        """Assert that no `kind` event arrives within `within` seconds."""
        end = time.monotonic() + within
        while time.monotonic() < end:
            self._pull(max(0.0, min(end - time.monotonic(), 0.2)))
        for ev in self.log[self.cursor:]:
            if ev["kind"] == kind and all(ev.get(k) == v for k, v in match.items()):
                raise AssertionError(f"unexpected {kind} event: {_show(ev)}")

    def _recent(self) -> str:
        return "; ".join(_show(e) for e in self.log[-8:]) or "no events"

    def expect_actuate(self, locked: bool, op: str, timeout: float = 3.0,
                       timed: bool = False) -> dict[str, Any]:
        """Wait for the actuator to lock (or unlock) and record its latency as `op`.

        The host round trip is from the last command sent before the event to its arrival;
        `timed=True` (the board's own timer acted: timeout, expiry, stale fix) records only
        the device latency."""
        ev = self.wait_event("actuate", timeout, locked=locked)
        rtt = None
        if not timed:
            before = [t for _w, t in self.sent if t <= ev["_rx"]]
            rtt = (ev["_rx"] - before[-1]) * 1000 if before else None
        self.recorder.add(op, None if rtt is None else round(rtt, 3), ev.get("latency_us"))
        return ev

    def expect_unlock(self, timeout: float = 3.0) -> dict[str, Any]:
        """The lock opens (records op "unlock")."""
        return self.expect_actuate(False, "unlock", timeout)

    def expect_relock(self, trigger: str, timeout: float = 3.0,
                      timed: bool = False) -> dict[str, Any]:
        """The lock closes (records op "relock:<trigger>")."""
        return self.expect_actuate(True, "relock:" + trigger, timeout, timed)

    def expect_denied(self, timeout: float = 3.0) -> None:
        """Credentials were answered with a refusal and the lock stayed shut."""
        self.wait_event("indicate", timeout, what="denied")
        self.no_event("actuate", 0.05, locked=False)

    def expect_rejected(self, timeout: float = 3.0) -> None:
        """A credential was answered "no" (rejected or ignored) and the lock stayed shut."""
        self.wait_event("answer", timeout, ok=False)
        self.no_event("actuate", 0.05, locked=False)

    def unlock(self, place: str = "in", holder: tuple[int, str, int] = HOLDER1,
               factors: tuple[str, ...] = ("rfid", "finger")) -> dict[str, Any]:
        """Fix at `place`, present the holder's credentials, and wait for the unlock."""
        self.at(place)
        self.present(holder, factors)
        return self.expect_unlock()

    # -- audit -----------------------------------------------------------------------------------
    def audit(self) -> list[tuple[int, int, str, str]]:
        """Audit records written since the test began, decoded (seq, time, code, detail);
        raises AssertionError if the hash chain does not hold."""
        recs = self.client.audit(from_seq=max(1, self.mark))
        problems = self.client.verify_audit(recs)
        assert not problems, f"audit chain broken: {problems}"
        return [A.decode(r)[:4] for r in recs if A.decode(r)[0] > self.mark]

    def audit_has(self, code: str, contains: str = "") -> tuple[int, int, str, str]:
        """The first record since the test began with `code` whose detail has `contains`."""
        recs = self.audit()
        for r in recs:
            if r[2] == code and contains in r[3]:
                return r
        shown = ", ".join(f"{r[2]}({r[3]})" for r in recs[-12:])
        raise AssertionError(f"no audit record {code} {contains!r}; records: {shown}")

    def audit_lacks(self, code: str, contains: str = "") -> None:
        """No record with `code` (and `contains`) since the test began."""
        for r in self.audit():
            assert not (r[2] == code and contains in r[3]), f"unexpected audit record {r}"

    def status(self) -> dict[str, Any]:
        return self.client.status()


def _show(ev: dict[str, Any]) -> str:
    return ev["kind"] + "(" + ", ".join(f"{k}={v}" for k, v in ev.items()
                                      if k not in ("kind", "_rx")) + ")"


@contextlib.contextmanager
def connected(board: Board, key: bytes, counters: CounterStore,
              timeout: float = 3.0) -> Iterator[HilClient]:
    """A HilClient on the board, closed whatever happens."""
    client = HilClient(board.transport(), key=key, counter_store=counters, timeout=timeout)
    try:
        client.open()
        yield client
    finally:
        client.close()
