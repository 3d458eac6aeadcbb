"""pytest plugin `armlock` (entry point pytest11): HIL fixtures, markers, latency results.

Options: --armlock-target virtual|virtual-cpython|pty:PATH|serial:PORT|ble:ADDRESS
(default virtual: a fresh virtual board per test, started and stopped here),
--armlock-key FILE (authority master key the attached board was provisioned with),
--armlock-gnss-port PORT (feed fixes as NMEA into the board's GNSS UART),
--armlock-out DIR (results.json, report.md, report.html).

Fixtures: `device` (a connected client on a board in a known state), `rig` (stimulus,
events, audit, latency) and `authority` (tokens for the board under test). Markers
`hardware` and `human` are skipped on virtual targets. The plugin does nothing (starts no
board, writes nothing) in a run that uses none of its fixtures and gives no --armlock-out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hardware.hil.authority import Authority, apply_token
from hardware.hil.boards import DEVICE_ID, AttachedBoard, Board, BoardPool, SpawnedBoard
from hardware.hil.client import HilClient, last_audit_seq
from hardware.hil.measure import Recorder
from hardware.hil.nmea import NmeaPort
from hardware.hil.rig import Rig
from hardware.link.factory import TargetSpec, check_port, parse_target
from protocols import audit as A

LATENCY_PROP = "armlock_latency"
BOARD_PROP = "armlock_board"
DEV_MASTER = bytes(range(32))  # master of an unprovisioned virtual board (ports/virtual/main.py)


@dataclass
class HilSession:
    """Per-run state: the target, attached board and results gathered from reports."""

    spec: TargetSpec
    out: Path | None
    key_file: Path | None
    gnss_port: str | None
    started: float = field(default_factory=time.time)
    board: AttachedBoard | None = None
    authority: Authority | None = None
    board_info: dict[str, Any] | None = None
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)


SESSION = pytest.StashKey[HilSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("armlock", "armlock hardware-in-the-loop")
    g.addoption("--armlock-target", default="virtual", metavar="TARGET",
                help="virtual (default), virtual-cpython, pty:PATH, serial:PORT or "
                     "ble:ADDRESS")
    g.addoption("--armlock-key", default=None, metavar="FILE",
                help="authority master key the board under test was provisioned with "
                     "(pty/serial/ble; default: the dev identity's key)")
    g.addoption("--armlock-gnss-port", default=None, metavar="PORT",
                help="serial port wired to the board's GNSS UART: fixes are sent as NMEA")
    g.addoption("--armlock-out", default=None, metavar="DIR",
                help="write results.json, report.md and report.html here")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: needs a real board (skipped on virtual)")
    config.addinivalue_line("markers", "human: needs a person at the rig (skipped on virtual)")
    try:
        spec = parse_target(str(config.getoption("armlock_target")), "--armlock-target")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not spec.spawns and not _is_worker(config) and config.getoption("numprocesses", None):
        raise pytest.UsageError(f"--armlock-target {spec}: one board cannot serve parallel "
                                "workers; run without -n")
    out = config.getoption("armlock_out")
    key = config.getoption("armlock_key")
    if key:
        from hardware import authority as auth

        try:
            auth.load_master_key(Path(key))
        except auth.AuthorityError as exc:
            raise pytest.UsageError(f"--armlock-key: {exc}") from None
    config.stash[SESSION] = HilSession(spec, Path(out) if out else None,
                                       Path(key) if key else None,
                                       config.getoption("armlock_gnss_port"))
    if not _is_worker(config):
        config.pluginmanager.register(_Results(config), "armlock-results")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    hs = session.config.stash[SESSION]
    if hs.spec.spawns or _is_worker(session.config):
        return
    from hardware.link.base import LinkError

    try:
        check_port(hs.spec)
    except LinkError as exc:
        pytest.exit(f"armlock: {exc}", returncode=getattr(exc, "exit_code", 3))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    spec = config.stash[SESSION].spec
    if not spec.is_virtual:
        return
    for item in items:
        for name in ("hardware", "human"):
            if item.get_closest_marker(name):
                item.add_marker(pytest.mark.skip(reason=f"{name}: not on a virtual board "
                                                        f"({spec})"))


# -- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def armlock_target(request: pytest.FixtureRequest) -> TargetSpec:
    """The parsed --armlock-target."""
    return request.config.stash[SESSION].spec


@pytest.fixture(scope="session")
def _armlock_counters(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from hardware.client import CounterStore

    return CounterStore(tmp_path_factory.mktemp("armlock-counters") / "counters.json")


@pytest.fixture(scope="session")
def _armlock_attached(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[HilSession]:
    """For pty/serial/ble targets: the one board and authority of the whole run."""
    hs = request.config.stash[SESSION]
    if not hs.spec.spawns and hs.board is None:
        from hardware import authority as auth

        master = auth.load_master_key(hs.key_file) if hs.key_file else DEV_MASTER
        hs.authority = Authority.create(tmp_path_factory.mktemp("armlock-authority"), master)
        hs.board = AttachedBoard(hs.spec)
    yield hs


@pytest.fixture(scope="session")
def _armlock_pool(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoardPool | None]:
    spec = request.config.stash[SESSION].spec
    if not spec.spawns:
        yield None
        return
    pool = BoardPool(spec, tmp_path_factory.mktemp("armlock-boards"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def _armlock_fresh(_armlock_pool: BoardPool | None
                   ) -> Iterator[tuple[SpawnedBoard, Authority] | None]:
    """A fresh virtual board and its own authority (None for attached targets)."""
    if _armlock_pool is None:
        yield None
        return
    board, auth = _armlock_pool.take()
    try:
        yield board, auth
    finally:
        _armlock_pool.give_back(board)


@pytest.fixture
def authority(_armlock_fresh: tuple[SpawnedBoard, Authority] | None,
              _armlock_attached: HilSession) -> Authority:
    """Issues permits, recalls and resets for the board under test (`.permit(**overrides)`,
    `.recall()`, `.reset()`); a fresh master key in tmp for each virtual board."""
    if _armlock_fresh is not None:
        return _armlock_fresh[1]
    assert _armlock_attached.authority is not None
    return _armlock_attached.authority


@pytest.fixture
def armlock_board(_armlock_fresh: tuple[SpawnedBoard, Authority] | None,
                  _armlock_attached: HilSession) -> Board:
    """The board under test: a fresh virtual board per test, or the attached one."""
    if _armlock_fresh is not None:
        return _armlock_fresh[0]
    assert _armlock_attached.board is not None
    return _armlock_attached.board


@pytest.fixture
def armlock_spawn(authority: Authority, tmp_path: Path,
                  armlock_target: TargetSpec) -> Iterator[Any]:
    """start(mode="dev"|"production") -> an extra virtual board with the test's identity
    (same runtime as the target; pty targets use MicroPython). Stopped after the test."""
    boards: list[SpawnedBoard] = []
    if armlock_target.kind not in ("virtual", "pty"):
        pytest.skip(f"needs a virtual board; the target is {armlock_target}")
    spec = armlock_target if armlock_target.spawns else TargetSpec("virtual", "micropython")
    if not authority.device_id:
        authority.bind(DEVICE_ID)

    def start(mode: str = "dev") -> SpawnedBoard:
        b = SpawnedBoard(spec, tmp_path / f"extra{len(boards)}",
                            (authority.device_id, authority.device_key), mode)
        boards.append(b)
        return b.start()

    try:
        yield start
    finally:
        for b in boards:
            b.stop()


@dataclass
class _Link:
    client: HilClient
    rig: Rig


@pytest.fixture
def _armlock_link(request: pytest.FixtureRequest, armlock_board: Board,
                  authority: Authority, _armlock_counters: Any) -> Iterator[_Link]:
    hs: HilSession = request.config.stash[SESSION]
    recorder = Recorder()
    gnss = NmeaPort(hs.gnss_port) if hs.gnss_port else None
    client = HilClient(armlock_board.transport(), key=None, counter_store=_armlock_counters)
    rig = None
    try:
        client.open()
        info = client.info()
        if not authority.device_id:
            authority.bind(info["device_id"])
        client.key = authority.device_key
        rig = Rig(client, armlock_board, authority, recorder,
                     getattr(armlock_board, "offset", 0), gnss)
        if armlock_board.persistent:
            _known_state(client, rig, armlock_board)  # type: ignore[arg-type]
        rig.log.extend(client.drain_events())
        rig.cursor = len(rig.log)
        rig.mark = last_audit_seq(client)
        request.node.user_properties.append((BOARD_PROP, info))
        yield _Link(client, rig)
    finally:
        if rig is not None and isinstance(armlock_board, AttachedBoard):
            armlock_board.offset = max(armlock_board.offset, rig.offset)
        request.node.user_properties.append(
            (LATENCY_PROP, [s.as_dict() for s in recorder.samples]))
        client.close()
        if gnss is not None:
            gnss.close()


def _known_state(client: HilClient, rig: Rig, board: AttachedBoard) -> None:
    """Bring a board that keeps its state to a known one: restart it (fresh memory), set its
    clock no earlier than anything it recorded, clear tamper latch and lockout, recall
    whatever permit it holds."""
    from hardware.link.base import DeviceError

    if not board.synced:
        last = last_audit_seq(client)
        if last:
            t = A.decode(client.audit(from_seq=last, count=1)[0])[1]
            board.offset = max(board.offset, t + 1 - int(time.time()))
        board.synced = True
        rig.offset = board.offset
    try:
        board.power_cycle(client)
    except DeviceError:
        pass  # a rig-mode board we cannot reset from here: continue with its state
    rig.time(rig.now())
    apply_token(client, rig.authority, rig.authority.reset, client.reset_tamper)
    client.recall(rig.authority.recall())  # no permit until the test loads one


@pytest.fixture
def device(_armlock_link: _Link) -> HilClient:
    """A connected DeviceClient (HilClient) on a provisioned board in a known state."""
    return _armlock_link.client


@pytest.fixture
def rig(_armlock_link: _Link) -> Rig:
    """Stimulus, events, audit and latency recording for the board under test."""
    return _armlock_link.rig


# -- results ---------------------------------------------------------------------------------

class _Results:
    """Gathers test outcomes and latency samples (from report user_properties, so that
    xdist workers' samples arrive too) and writes them at the end of the session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.hs = config.stash[SESSION]
        self.written: dict[str, Path] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        hs = self.hs
        t = hs.tests.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed",
                                                "duration_s": 0.0, "latency": []})
        t["duration_s"] = round(t["duration_s"] + report.duration, 3)
        if report.when == "call" or (report.outcome != "passed" and t["outcome"] == "passed"):
            failed_outside = report.when != "call" and report.outcome == "failed"
            t["outcome"] = "error" if failed_outside else report.outcome
            if report.outcome != "passed":
                t["message"] = _message(report)
        for name, value in report.user_properties:
            if name == LATENCY_PROP and report.when == "teardown":
                t["latency"] = value
            elif name == BOARD_PROP and hs.board_info is None and isinstance(value, dict):
                hs.board_info = value

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        hs = self.hs
        if hs.out is None:
            return
        from hardware.hil import report as R

        results = R.build_results(str(hs.spec), list(hs.tests.values()), hs.board_info,
                                  hs.started, time.time())
        self.written = R.write_all(results, hs.out)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from hardware.hil import report as R

        tests = list(self.hs.tests.values())
        if not any(t.get("latency") for t in tests) and not self.written:
            return
        terminalreporter.section(f"armlock latency ({self.hs.spec})")
        for line in R.text_table(R.latency_stats(tests)):
            terminalreporter.write_line(line)
        if self.written:
            w = self.written
            terminalreporter.write_line(f"armlock: report {w['html']} (also {w['md']}, "
                                        f"{w['json']})")


def _message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    crash = getattr(report.longrepr, "reprcrash", None)
    return str(crash.message if crash is not None else report.longrepr)[:500]
