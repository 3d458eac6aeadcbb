"""NMEA driver against real receivers: gpsd's test logs of 90 GNSS receivers
(../shared/data/nmea/receivers.txt, not part of the repo: skipped when absent), on
CPython and, sentence for sentence, on the MicroPython VM."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from firmware.drivers import nmea as n
from hardware import micropython as mp

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path | None:
    env = os.environ.get("ARMLOCK_SHARED_DATA")
    cands = [Path(env)] if env else []
    cands += [ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"]
    return next((c for c in cands if (c / "nmea" / "receivers.txt").is_file()), None)


DATA = _data_dir()
pytestmark = pytest.mark.skipif(DATA is None, reason="../shared/data/nmea is absent")


def receivers() -> dict[str, list[bytes]]:
    """Receiver log name -> its sentences (bytes, without line ends)."""
    assert DATA is not None
    out: dict[str, list[bytes]] = {}
    current: list[bytes] | None = None
    for line in (DATA / "nmea" / "receivers.txt").read_bytes().split(b"\n"):
        if line.startswith(b"#file"):
            current = out.setdefault(line.split()[1].decode(), [])
        elif line.startswith(b"$") and current is not None:
            current.append(line.rstrip(b"\r"))
    return out


def _fields(line: bytes) -> list[str] | None:
    m = re.fullmatch(rb"\$([\x20-\x7e]*)\*([0-9A-Fa-f]{2})", line)
    if m is None:
        return None
    x = 0
    for c in m.group(1):
        x ^= c
    return m.group(1).decode().split(",") if x == int(m.group(2), 16) else None


def _cs(t: str) -> tuple[int, int] | None:
    """'hhmmss.ss' -> (centiseconds of the day, its whole second x 100)."""
    try:
        v = float(t)
    except ValueError:
        return None
    sod = (int(v) // 10000) * 3600 + (int(v) // 100 % 100) * 60 + int(v) % 100
    return round((sod + v % 1) * 100), sod * 100


def satellite_epochs(lines: list[bytes]) -> list[int]:
    """Oracle, written apart from the driver: the epochs (second of day x 100) that have both
    a checksummed GGA of quality 1-5 with HDOP and an RMC with status A, a date, a
    position and no non-satellite mode (E, M, S, N)."""
    gga, rmc = set(), set()
    for line in lines:
        f = _fields(line)
        if f is None or len(f[0]) != 5 or len(f) < 10:
            continue
        if f[0][2:] == "GGA" and f[6] in ("1", "2", "3", "4", "5") and f[8] and f[2]:
            gga.add(_cs(f[1]))
        if (f[0][2:] == "RMC" and f[2] == "A" and len(f[9]) == 6 and f[3]
                and (len(f) < 13 or f[12][:1] in ("", "A", "D", "P", "R", "F"))):
            rmc.add(_cs(f[1]))
    return sorted(t[1] for t in gga & rmc if t is not None)


def replay(lines: list[bytes]) -> tuple[n.NMEA, list[tuple]]:
    p = n.NMEA()
    events = []
    for i, line in enumerate(lines):
        events += p.feed(line + b"\r\n", i * 100)
    return p, events


def fix_times(events: list[tuple]) -> list[int]:
    return sorted((e[4] % 86400) * 100 for e in events if e[0] == "fix")


def test_the_log_holds_90_receivers():
    assert len(receivers()) == 90


def test_every_receiver_fixes_exactly_at_its_satellite_epochs():
    """Every receiver whose log has valid satellite fixes produces fixes, at exactly those
    epochs; none from quality 0/6/7/8 or mode E/M/S/N epochs."""
    with_fixes = 0
    for name, lines in receivers().items():
        _, events = replay(lines)
        want = satellite_epochs(lines)
        assert fix_times(events) == want, name
        with_fixes += bool(want)
    assert with_fixes >= 70


@pytest.mark.parametrize("name", ["mt3339.log", "skytraq-dgps.log", "skytraq-fix.log",
                                  "skytraq-fixB.log", "bt-q818.log"])
def test_mtk_and_skytraq_long_gga_give_fixes(name: str):
    lines = receivers()[name]
    assert max(len(s) for s in lines if b"GGA" in s) + 2 > 82      # over NMEA's 82
    p, events = replay(lines)
    assert len(fix_times(events)) >= 6 and p.dropped == 0


@pytest.mark.parametrize("name", ["GPSmap-76S.log", "garmin-geko201.log"])
def test_garmin_simulator_mode_never_fixes(name: str):
    lines = receivers()[name]
    assert any(_fields(s) and _fields(s)[6:7] == ["8"] for s in lines if b"GGA" in s)
    p, events = replay(lines)
    assert events == [] and p.bad == 0 and p.observe(len(lines) * 100)[2] == -1


def test_dead_reckoning_epoch_is_no_fix_between_satellite_fixes():
    # Garmin Mobile 10: 16:50:10 is GGA quality 6 and RMC mode E (position held)
    p, events = replay(receivers()["garmin-10x.log"])
    times = fix_times(events)
    dr = (16 * 3600 + 50 * 60 + 10) * 100
    assert dr not in times and min(times) < dr < max(times)


def test_gns_receiver_fixes():
    _, events = replay(receivers()["polarx2.log"])
    assert len(fix_times(events)) == 5


@pytest.mark.skipif(not mp.node_available(), reason="needs node and the MicroPython WASM VM")
def test_replay_is_identical_under_micropython():
    """Every receiver's sentences, fed one line at a time, give the same events and
    counters on the MicroPython VM as on CPython."""
    logs = receivers()
    # a GSV cycle too (gpsd's extract holds none): two talkers, one C/N0 missing
    logs["gsv"] = [b"$GPGSV,2,1,05,01,45,120,40,03,10,200,47,06,30,045,,09,12,300,22*76",
                   b"$GPGSV,2,2,05,12,60,010,31*4A",
                   b"$GLGSV,1,1,02,65,20,100,50,66,15,150,*62"]
    prog = (
        "from firmware.drivers import nmea\n"
        "def run(lines):\n"
        "    p = nmea.NMEA()\n"
        "    ev = []\n"
        "    for i in range(len(lines)):\n"
        "        ev.extend(p.feed(lines[i] + b'\\r\\n', i * 100))\n"
        "    return [[list(e) for e in ev], p.good, p.bad, p.dropped, p.cn0_dbhz, p.in_view,\n"
        "            p.sats, p.fix_type]\n")
    cpy: dict[str, object] = {}
    g: dict[str, object] = {}
    exec(prog, g)  # noqa: S102 - the same program text on both runtimes
    for name, lines in logs.items():
        cpy[name] = json.loads(json.dumps(g["run"](lines)))  # type: ignore[operator]
    got = {}
    with mp.MicroPythonVM(heap_kb=512, only=["firmware/__init__.py", "firmware/drivers"]) as vm:
        vm.exec(prog)
        for name, lines in logs.items():
            got[name] = vm.eval_json(f"run({lines!r})")
    assert got == cpy
    assert cpy["gsv"][4:6] == [50, 7]  # type: ignore[index]
