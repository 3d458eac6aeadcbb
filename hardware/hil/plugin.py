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

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from armlock.authority.signer import dev_signer  # trusted by an unprovisioned dev board
from firmware.app.identity import DEV_MASTER  # master of an unprovisioned dev board
from hardware.hil import infra
from hardware.hil.authority import Authority
from hardware.hil.boards import DEVICE_ID, AttachedBoard, Board, BoardPool, SpawnedBoard
from hardware.hil.client import HilClient
from hardware.hil.linked import Linked, linked
from hardware.hil.measure import Recorder
from hardware.hil.rig import Rig
from hardware.hil.rigfile import RigBoard, RigFile, RigFileError, load_rig
from hardware.link.factory import TargetSpec, check_port, parse_target

LATENCY_PROP = "armlock_latency"
BOARD_PROP = "armlock_board"


@dataclass
class HilSession:
    """Per-run state: the target, attached board and results gathered from reports."""

    spec: TargetSpec
    out: Path | None
    key_file: Path | None
    gnss_port: str | None
    started: float = field(default_factory=time.time)
    board_info: dict[str, Any] | None = None
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    rigfile: RigFile | None = None
    retries: int = 0
    attached: dict[str, tuple[AttachedBoard, Authority]] = field(default_factory=dict)


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
    g.addoption("--armlock-rig", default=None, metavar="FILE",
                help="rig file (TOML) naming the bench's boards; the first is `device`, "
                     "all are in `devices` (replaces --armlock-target/-key/-gnss-port)")
    g.addoption("--armlock-retries", default=None, type=int, metavar="N",
                help="run a test again up to N times when it met an infrastructure error "
                     "(never for a failure); default: the rig file's retries, else 0")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: needs a real board (skipped on virtual)")
    config.addinivalue_line("markers", "human: needs a person at the rig (skipped on virtual)")
    rigfile = _rigfile(config)
    try:
        spec = rigfile.boards[0].target if rigfile else parse_target(
            str(config.getoption("armlock_target")), "--armlock-target")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not spec.spawns and not _is_worker(config) and config.getoption("numprocesses", None):
        raise pytest.UsageError(f"--armlock-target {spec}: one board cannot serve parallel "
                                "workers; run without -n")
    out = config.getoption("armlock_out")
    key = config.getoption("armlock_key")
    gnss_port = config.getoption("armlock_gnss_port")
    if rigfile is not None:
        first = rigfile.boards[0]
        key, gnss_port = (str(first.key) if first.key else None), first.gnss_port
    if key:
        from armlock import authority as auth

        try:
            auth.load_master_key(Path(key))
        except auth.AuthorityError as exc:
            raise pytest.UsageError(f"--armlock-key: {exc}") from None
    retries = config.getoption("armlock_retries")
    config.stash[SESSION] = HilSession(spec, Path(out) if out else None,
                                       Path(key) if key else None, gnss_port, rigfile=rigfile,
                                       retries=retries if retries is not None else
                                       (rigfile.retries if rigfile else 0))
    if not _is_worker(config):
        config.pluginmanager.register(_Results(config), "armlock-results")


def _rigfile(config: pytest.Config) -> RigFile | None:
    path = config.getoption("armlock_rig")
    if not path:
        return None
    try:
        return load_rig(path)
    except RigFileError as exc:
        raise pytest.UsageError(f"--armlock-rig: {exc}") from None


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


def _attached(hs: HilSession, entry: RigBoard | None, tmp: pytest.TempPathFactory
              ) -> tuple[AttachedBoard, Authority]:
    """The session's AttachedBoard and authority for a rig board, or for the single
    --armlock-target (made once)."""
    name = entry.name if entry is not None else "board"
    if name not in hs.attached:
        from armlock import authority as auth
        from hardware.power import from_config

        key = entry.key if entry is not None else hs.key_file
        master = auth.load_master_key(key) if key else DEV_MASTER
        signer = auth.signer_for(key) if key else dev_signer()
        authority = Authority.create(tmp.mktemp(f"armlock-authority-{name}"), master, signer)
        if entry is None:
            board = AttachedBoard(hs.spec)
        else:
            assert hs.rigfile is not None
            power = from_config(entry.power) if entry.power else None
            board = AttachedBoard(entry.target, hs.rigfile.reconnect_s, name, power)
        hs.attached[name] = (board, authority)
    return hs.attached[name]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With a rig file of several boards, a test of one board runs on each of them."""
    hs: HilSession = metafunc.config.stash[SESSION]
    uses = {"device", "rig", "authority", "armlock_board"} & set(metafunc.fixturenames)
    if hs.rigfile is None or len(hs.rigfile.boards) < 2 or not uses \
            or "devices" in metafunc.fixturenames:
        return
    names = [b.name for b in hs.rigfile.boards]
    metafunc.parametrize("_armlock_board_name", names, indirect=True, ids=names)


@pytest.fixture
def _armlock_board_name(request: pytest.FixtureRequest) -> str:
    """The rig board a test runs on (the first, unless parametrized over all)."""
    rigfile = request.config.stash[SESSION].rigfile
    first = rigfile.boards[0].name if rigfile is not None else "board"
    return str(getattr(request, "param", first))


@pytest.fixture(scope="session")
def _armlock_pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """pool(name, spec): the BoardPool of fresh virtual boards for one rig board."""
    pools: dict[str, BoardPool] = {}

    def pool(name: str, spec: TargetSpec) -> BoardPool:
        if name not in pools:
            pools[name] = BoardPool(spec, tmp_path_factory.mktemp(f"armlock-boards-{name}"))
        return pools[name]

    try:
        yield pool
    finally:
        for p in pools.values():
            p.close()


@pytest.fixture
def _armlock_under_test(request: pytest.FixtureRequest, _armlock_board_name: str,
                        _armlock_pools: Any, tmp_path_factory: pytest.TempPathFactory
                        ) -> Iterator[tuple[Board, Authority]]:
    """(board, authority) for the test: a fresh virtual board with its own authority, or
    the attached board of the session."""
    hs: HilSession = request.config.stash[SESSION]
    entry = hs.rigfile.board(_armlock_board_name) if hs.rigfile is not None else None
    spec = entry.target if entry is not None else hs.spec
    if not spec.spawns:
        yield _attached(hs, entry, tmp_path_factory)
        return
    pool = _armlock_pools(_armlock_board_name, spec)
    board, auth = pool.take()
    board.name = _armlock_board_name
    try:
        yield board, auth
    finally:
        pool.give_back(board)


@pytest.fixture
def authority(_armlock_under_test: tuple[Board, Authority]) -> Authority:
    """Issues permits, recalls and resets for the board under test (`.permit(**overrides)`,
    `.recall()`, `.reset()`); a fresh master key in tmp for each virtual board."""
    return _armlock_under_test[1]


@pytest.fixture
def armlock_board(_armlock_under_test: tuple[Board, Authority]) -> Board:
    """The board under test: a fresh virtual board per test, or the attached one."""
    return _armlock_under_test[0]


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
                            authority.identity(), mode)
        boards.append(b)
        return b.start()

    try:
        yield start
    finally:
        for b in boards:
            b.stop()


@pytest.fixture
def _armlock_link(request: pytest.FixtureRequest, armlock_board: Board,
                  authority: Authority, _armlock_counters: Any) -> Iterator[Linked]:
    hs: HilSession = request.config.stash[SESSION]
    recorder = Recorder()
    try:
        with linked(armlock_board, authority, _armlock_counters, recorder,
                    hs.gnss_port) as link:
            request.node.user_properties.append((BOARD_PROP, json.dumps(link.info)))
            yield link
    finally:
        request.node.user_properties.append(
            (LATENCY_PROP, json.dumps([s.as_dict() for s in recorder.samples])))


@pytest.fixture
def devices(request: pytest.FixtureRequest, _armlock_link: Linked, _armlock_counters: Any,
            tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Linked]]:
    """Every board of the rig file, connected and in a known state, by name (the first
    is the one of `device` and `rig`). Without a rig file: {"board": the target}, plus
    "board-2" when the target is virtual. Further virtual boards are fresh per test, each
    with its own device id and authority."""
    hs: HilSession = request.config.stash[SESSION]
    if hs.rigfile is not None:
        entries = hs.rigfile.boards
    elif hs.spec.spawns:  # virtual target: a second fresh board like the first
        entries = (RigBoard("board", hs.spec), RigBoard("board-2", hs.spec))
    else:
        entries = (RigBoard("board", hs.spec),)
    out = {entries[0].name: _armlock_link}
    with contextlib.ExitStack() as stack:
        for i, entry in enumerate(entries[1:], start=2):
            if entry.target.spawns:
                did = f"AL-HIL-{i:04d}"
                authority = Authority.create(tmp_path / f"authority-{entry.name}").bind(did)
                board: Board = SpawnedBoard(entry.target, tmp_path / f"board-{entry.name}",
                                            authority.identity(), entry.mode,
                                            entry.name).start()
                stack.callback(board.stop)  # type: ignore[attr-defined]
            else:
                board, authority = _attached(hs, entry, tmp_path_factory)
            out[entry.name] = stack.enter_context(
                linked(board, authority, _armlock_counters, Recorder(), entry.gnss_port))
        yield out


@pytest.fixture
def device(_armlock_link: Linked) -> HilClient:
    """A connected DeviceClient (HilClient) on a provisioned board in a known state."""
    return _armlock_link.client


@pytest.fixture
def rig(_armlock_link: Linked) -> Rig:
    """Stimulus, events, audit and latency recording for the board under test."""
    return _armlock_link.rig


# -- infrastructure errors -------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[Any]:
    outcome = yield
    infra.mark(outcome.get_result(), call)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    retries = item.config.stash[SESSION].retries
    if retries <= 0:
        return None
    return infra.run_with_retries(item, nextitem, retries)


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
            why = infra.infra_of(report)
            if why is not None:
                t["outcome"], t["message"] = "infra", why  # the rig failed, not the board
        for name, raw in report.user_properties:
            value = json.loads(raw) if name in (LATENCY_PROP, BOARD_PROP) else raw
            if name == LATENCY_PROP and report.when == "teardown":
                t["latency"] = value
            elif name == BOARD_PROP and hs.board_info is None and isinstance(value, dict):
                hs.board_info = value
            elif name == "armlock_attempts":
                t["attempts"] = value

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Before JUnit XML is written: the results, and the same verdict, identity and
        limits as JUnit suite properties (JSON)."""
        hs = self.hs
        if hs.out is None and not self._junit():
            return
        from hardware.hil import report as R
        from hardware.hil.provenance import identity

        target = str(hs.rigfile.path) if hs.rigfile is not None else str(hs.spec)
        ident = identity(str(hs.spec), hs.board_info, hs.rigfile, hs.started, hs.retries)
        results = R.build_results(target, list(hs.tests.values()), hs.board_info,
                                  hs.started, time.time(), ident)
        xml = self._junit()
        if xml is not None:
            xml.add_global_property("armlock_verdict", results["verdict"])
            xml.add_global_property("armlock_identity", json.dumps(ident))
            xml.add_global_property("armlock_limits", json.dumps(results["limits"]))
        if hs.out is not None:
            self.written = R.write_all(results, hs.out)

    def _junit(self) -> Any:
        from _pytest.junitxml import xml_key

        return self.config.stash.get(xml_key, None)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from hardware.hil import report as R

        tests = list(self.hs.tests.values())
        if not any(t.get("latency") for t in tests) and not self.written:
            return
        terminalreporter.section(f"armlock latency ({self.hs.spec})")
        for line in R.text_table(R.latency_stats(tests)):
            terminalreporter.write_line(line)
        from hardware.hil import limits as L

        rows = L.evaluate(R.all_samples(tests))
        terminalreporter.write_line("armlock limits: " + ", ".join(
            f"{n} {k}" for k, n in sorted(L.summary(rows).items())))
        for r in rows:
            if r["result"] == "fail":
                terminalreporter.write_line(f"  FAIL {r['id']}: {r['value']} {r['unit']} "
                                            f"(limits {r['low']}..{r['high']}; "
                                            f"{r['requirement']})")
        if self.written:
            w = self.written
            terminalreporter.write_line(f"armlock: report {w['html']} (also {w['md']}, "
                                        f"{w['json']})")


def _message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    crash = getattr(report.longrepr, "reprcrash", None)
    return str(crash.message if crash is not None else report.longrepr)[:500]
