"""Every input a user can get wrong, with the exact message and exit status (issue 14).

One row per input: the command line, the files it reads, the exit status and the exact line
the user sees (a note, a warning, an error, or what was written). Commands run in a fresh
folder at a fixed time (2027-01-01T00:00:00Z), so messages are exact. README "Exit status"
documents the codes.
"""

from __future__ import annotations

import json
import os
import re
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import serial
from typer.testing import CliRunner

from armlock.authority import desk, tokens
from armlock.cli import app
from armlock.cli import permit as cli_permit
from simulator.template import template

NOW = 1798761600  # 2027-01-01T00:00:00Z
runner = CliRunner()


def poly(*rings: list[list[float]], kind: str = "Polygon") -> str:
    return json.dumps({"type": kind, "coordinates": list(rings)})


def square(lon: float, lat: float, d: float = 0.01) -> list[list[float]]:
    return [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]


def circle(n: int) -> list[list[float]]:
    import math

    pts = [[round(13.4 + 0.08 * math.cos(2 * math.pi * i / n), 7),
            round(52.5 + 0.05 * math.sin(2 * math.pi * i / n), 7)] for i in range(n)]
    return [*pts, pts[0]]


ISSUE = ["permit", "issue", "--key", "k", "--device", "AL-1", "--holder",
         "7:rfid=04A1B2C3,finger=3", "--valid", "8h", "--out", "p.bin"]
WROTE = ("wrote p.bin: permit serial 1 for AL-1, 2027-01-01T00:00:00Z to 2027-01-01T08:00:00Z, "
         "1 holder(s), {z} zone(s), {n} bytes")
RFID_ONLY = [*ISSUE[:7], "7:rfid=04A1B2C3", *ISSUE[8:], "--rule", "any", "--factors", "rfid"]
EDGE = ("error: z.geojson: zone 0 ring 0 vertex 0 (coordinates[0][0]): the edge to vertex 1 spans "
        "340 degrees of longitude (from -170 to 170); RFC 7946 reads it as that wide, the "
        "device as the short way round: ambiguous, refused; to cross the antimeridian, split "
        "the zone at 180 (RFC 7946 3.1.9) or continue past 180 (e.g. 190 for -170)")
SCENARIO = Path(__file__).resolve().parents[1] / "simulator" / "scenarios" / "border_jamming.toml"
PATROL = "[[16.276, -0.100], [16.276, 0.040], [16.380, 0.040], [16.380, -0.100]]"
FAR_ZONE = template("far").replace(PATROL, str([[y, x] for x, y in json.loads(PATROL)]))


# (id, argv, files {name: text or bytes}, exit status, exact line on stdout or stderr)
CASES: list[tuple[str, list[str], dict[str, Any], int, str | re.Pattern[str]]] = [
    # -- zones ---------------------------------------------------------------------------------
    ("bow-tie", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]])}, 2,
     "error: z.geojson: zone 0 ring 0 vertex 0 (coordinates[0][0]): the edge to vertex 1 "
     "crosses the edge from vertex 2 to vertex 3 (a bow-tie: the ring crosses itself, so "
     "inside and outside are ambiguous); refused"),
    ("unclosed ring is closed", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly(square(13, 52)[:-1])}, 0,
     "note: z.geojson: zone 0 ring 0 (coordinates[0]): ring was not closed (the last "
     "position must repeat the first); closed it"),
    ("vertices 1e-13 apart are one", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[45, 10], [45.0000000000001, 10], [45.1, 10], [45.1, 10.1],
                         [45, 10]])}, 0,
     "note: z.geojson: zone 0 ring 0 vertex 1 (coordinates[0][1]): equals vertex 0 at 1e-7 "
     "degrees (a repeat); dropped it"),
    ("repaired zone is issued", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[45, 10], [45, 10], [45.1, 10], [45.1, 10.1], [45, 10]])}, 0,
     WROTE.format(z=1, n=160)),
    ("edge over 180 degrees", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[-170, 0], [170, 0], [170, 1], [-170, 1], [-170, 0]])}, 2, EDGE),
    ("longitudes past 180 cross the antimeridian", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[170, 0], [190, 0], [190, 1], [170, 1], [170, 0]])}, 0,
     WROTE.format(z=1, n=168)),
    ("latitude 95", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[0, 0], [1, 95], [1, 1], [0, 0]])}, 2,
     "error: z.geojson: zone 0 ring 0 vertex 1 (coordinates[0][1]): latitude 95 is outside "
     "-90..90"),
    ("longitude 400", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[400, 0], [1, 1], [1, 0], [400, 0]])}, 2,
     "error: z.geojson: zone 0 ring 0 vertex 0 (coordinates[0][0]): longitude 400 is "
     "outside -360..360"),
    ("ring without area", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[0, 0], [1, 0], [2, 0], [0, 0]])}, 2,
     "error: z.geojson: zone 0 ring 0 (coordinates[0]): ring encloses no area (its vertices "
     "lie on one line)"),
    ("ring of two vertices", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([[0, 0], [1, 1], [0, 0]])}, 2,
     "error: z.geojson: zone 0 ring 0 (coordinates[0]): ring has 2 distinct vertices, need >= 3"),
    ("hole outside its zone", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly(square(13, 52), square(14, 52))}, 2,
     "error: z.geojson: zone 0 ring 1 (coordinates[1]): hole lies outside the zone's outer "
     "ring 0; refused"),
    ("only forbidden zones", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": json.dumps({"type": "Feature", "properties": {"kind": "no-go"},
                               "geometry": json.loads(poly(square(13, 52)))})}, 2,
     "error: every zone in z.geojson is forbidden; a permit with zones needs at least one "
     "allowed zone (or give no --zone at all)"),
    ("latitude and longitude swapped", ISSUE + ["--zone", "z.geojson"],
     {"z.geojson": poly([square(13.3, 52.5)], [[[y, x] for x, y in square(13.4, 52.5)]],
                        kind="MultiPolygon")}, 0,
     "note: z.geojson: zones 0 and 1 lie 5,560 km apart, but next to each other with latitude "
     "and longitude of one swapped; GeoJSON positions are [lon, lat]: check the files"),
    ("zone too big for one frame", RFID_ONLY + ["--zone", "z.geojson"],
     {"z.geojson": poly(circle(300))}, 2,
     "error: the permit is 2534 bytes, a LOAD_PERMIT frame carries at most 1009: its zones "
     "have 300 vertices, 191 too many; simplify them (--simplify METRES) or use fewer zones"),
    ("--simplify", RFID_ONLY + ["--zone", "z.geojson", "--simplify", "20"],
     {"z.geojson": poly(circle(300))}, 0,
     "simplified z.geojson: zone 0 (coordinates): 300 -> 64 vertices, largest displacement 7 m"),
    ("--simplify without --zone", ISSUE + ["--simplify", "20"], {}, 2,
     "error: --simplify needs --zone"),
    ("zone file is a directory", ISSUE + ["--zone", "d"], {"d/x": ""}, 2,
     "error: d: is a directory, expected a GeoJSON file"),
    ("zone file is binary", ISSUE + ["--zone", "z.geojson"], {"z.geojson": b"\xff\xfe\x00"}, 2,
     "error: z.geojson: not a GeoJSON text file (not UTF-8)"),
    ("no --zone: not limited where", ISSUE, {}, 0, WROTE.format(z=0, n=132)),
    # -- permits -------------------------------------------------------------------------------
    ("holder cannot satisfy the rule",
     ISSUE + ["--holder", "8:finger=4", "--rule", "all", "--factors", "rfid,finger"], {}, 2,
     "error: holder 8 has only finger credentials, but --rule all --factors rfid,finger needs "
     "2 factors from the same holder: nobody could open this permit"),
    ("unknown factor", ISSUE + ["--factors", "rfid,pin"], {}, 2,
     "error: --rule 'all' --factors 'rfid,pin': unknown factor 'pin' (rfid, finger)"),
    ("K-of-N with the wrong N", ISSUE + ["--rule", "1-of-3"], {}, 2,
     "error: --rule '1-of-3': N is 3 but --factors 'rfid,finger' names 2"),
    ("holder appears twice", ISSUE + ["--holder", "7:rfid=04A1B2C4,finger=4"], {}, 2,
     "error: holder 7 appears twice"),
    ("card listed for two holders", ISSUE + ["--holder", "8:rfid=04a1b2c3,finger=4"], {}, 2,
     "error: card 04A1B2C3 is listed for holder 7 and holder 8"),
    ("template beyond the module", ISSUE + ["--holder", "8:rfid=04A1B2C4,finger=200"], {}, 2,
     "error: holder 8: fingerprint template 200 is beyond the module's library 0..199 "
     "(--finger-capacity to change it)"),
    ("validity already over", ISSUE + ["--start", "2026-12-31T12:00:00Z"], {}, 2,
     "error: validity ended 2026-12-31T20:00:00Z, before now (2027-01-01T00:00:00Z): the "
     "permit would be expired when issued"),
    ("validity started in the past", ISSUE + ["--start", "2026-12-31T22:00:00Z"], {}, 0,
     "note: validity starts 2026-12-31T22:00:00Z, 2h before now"),
    ("--valid 100000d", ISSUE + ["--valid", "100000d"], {}, 2,
     "error: validity 100000d is longer than the maximum 30d (--max-validity to raise it)"),
    ("validity past 2106", ISSUE + ["--valid", "100000d", "--max-validity", "200000d"], {}, 2,
     "error: validity ends 2300-10-17T00:00:00Z, after 2106-02-07T06:28:15Z, the last time a "
     "permit can hold"),
    ("device id of 33 characters, checked first",
     ["permit", "issue", "--key", "nokey", "--device", "A" * 33, "--holder", "bad",
      "--valid", "0s", "--out", "p.bin"], {}, 2,
     f"error: --device '{'A' * 33}': a device id has 1..32 characters, this one 33"),
    ("device id with a space", ["permit", "recall", "--key", "k", "--device", "AL 1",
                                "--out", "r.bin"], {}, 2,
     "error: --device 'AL 1': character ' ' is not allowed (printable ASCII without spaces)"),
    ("flash --device-id of 64 characters",
     ["flash", "--port", "/dev/null", "--board", "esp32-devkitc", "--device-id", "B" * 64,
      "--key", "k"], {}, 2,
     f"error: --device-id '{'B' * 64}': a device id has 1..32 characters, this one 64"),
    ("--out holds a token", ISSUE, {"p.bin": b"old"}, 2,
     "error: --out p.bin: exists (a token issued earlier?); give --force to replace it"),
    ("--out with --force", ISSUE + ["--force"], {"p.bin": b"old"}, 0, WROTE.format(z=0, n=132)),
    # -- files, keys and ports -----------------------------------------------------------------
    ("key file of raw bytes", ["permit", "recall", "--key", "raw.key", "--device", "AL-1",
                               "--out", "r.bin"], {"raw.key": bytes(range(200, 232))}, 2,
     "error: raw.key: key file is not hex (expected 64 hex digits, from `armlock keys init`)"),
    ("key is a directory", ["permit", "recall", "--key", "kd", "--device", "AL-1",
                            "--out", "r.bin"], {"kd/x": ""}, 2,
     "error: kd: is a directory, expected a key file (64 hex digits, from `armlock keys init`)"),
    ("keys init into a directory", ["keys", "init", "--key", "kd"], {"kd/x": ""}, 2,
     "error: kd: is a directory; give a file name for the new key"),
    ("no key file", ["permit", "recall", "--key", "none.key", "--device", "AL-1",
                     "--out", "r.bin"], {}, 2,
     "error: none.key: no key file (create one with `armlock keys init`, or set ARMLOCK_KEY)"),
    ("/dev/null as a port", ["device", "--port", "/dev/null", "status"], {}, 2,
     "error: --port /dev/null: is a mem device, not a serial port (expected a device such as "
     "/dev/ttyUSB0)"),
    ("a folder as a port", ["device", "--port", "d", "status"], {"d/x": ""}, 2,
     "error: --port d: is a directory, expected a serial port such as /dev/ttyUSB0"),
    ("/dev/null as a HIL target", ["hil", "--target", "serial:/dev/null"], {}, 2,
     "error: --target /dev/null: is a mem device, not a serial port (expected a device such "
     "as /dev/ttyUSB0)"),
    ("HIL rig file that is not TOML", ["hil", "--rig", "rig.toml"], {"rig.toml": "[[boards]\n"},
     2, re.compile(r"error: --rig: rig file rig\.toml: not TOML \(.+\)")),
    ("HIL rig file without boards", ["hil", "--rig", "rig.toml"], {"rig.toml": 'name = "b"\n'},
     2, "error: --rig: rig file rig.toml: needs at least one [[boards]] table"),
    ("HIL rig file missing", ["hil", "--rig", "none.toml"], {}, 2,
     "error: --rig: rig file none.toml: no such file"),
    ("HIL rig file with --key", ["hil", "--rig", "rig.toml", "--key", "k"],
     {"rig.toml": '[[boards]]\nname = "a"\nvirtual = "cpython"\n'}, 2,
     "error: --rig rig.toml: the rig file names each board's target, key and GNSS port; "
     "drop --key"),
    ("HIL retries beyond 5", ["hil", "--retries", "9"], {}, 2, "error: --retries 9: must be 0..5"),
    ("flash image that is not one",
     ["flash", "--port", "/dev/ttyNONE", "--board", "esp32-devkitc", "--device-id", "AL-1",
      "--key", "k", "--micropython-image", "fw.bin"], {"fw.bin": b"PK\x03\x04"}, 2,
     "error: --micropython-image fw.bin: not an ESP32 firmware image (starts with 0x50, an "
     "image starts with 0xE9)"),
    ("stimulate latitude 95", ["device", "--port", "/dev/ttyNONE", "stimulate", "fix", "95",
                               "13"], {}, 2, "error: latitude 95 is outside -90..90"),
    ("stimulate template beyond u16", ["device", "--port", "/dev/ttyNONE", "stimulate",
                                       "finger", "70000"], {}, 2,
     "error: template 70000 is outside 0..65535"),
    ("device absent", ["device", "--port", "/dev/ttyNONE", "status"], {}, 3,
     "error: port missing: /dev/ttyNONE does not exist (board unplugged? `armlock device "
     "ports` lists ports)"),
    ("port busy", ["device", "--port", "{busy}", "status"], {}, 4,
     "error: port busy: {busy} is open in another program (close the monitor / mpremote / "
     "other armlock first)"),
    ("no answer in time", ["device", "--port", "{idle}", "--timeout", "0.2", "status"], {}, 5,
     "error: no answer from {idle} within 0.2 s (seq 1)"),
    ("the device refuses", ["device", "--port", "virtual", "--runtime", "cpython",
                            "--state-dir", "vb", "load-permit", "other.bin"], {}, 6,
     re.compile(r"error: virtual board \(/dev/pts/\d+\) answered error 6 \(refused\): token "
                r"is for device OTHER-1, this is AL-VIRT-0001")),
    # -- simulator -----------------------------------------------------------------------------
    ("sweep --param unknown key", ["sweep", str(SCENARIO), "--param", "adversaries.p_jamer=0,1"],
     {}, 2, f"error: --param adversaries.p_jamer: {SCENARIO} has no such key (did you mean "
     "adversaries.p_jammer?)"),
    ("sweep --param bad value", ["sweep", str(SCENARIO), "--param", "adversaries.p_jammer=0,5"],
     {}, 2, "error: --param adversaries.p_jammer=5: must be in [0, 1], got 5"),
    ("sweep --param without values", ["sweep", str(SCENARIO), "--param", "adversaries"], {}, 2,
     "error: --param 'adversaries': expected NAME=V1,V2,..."),
    ("simulate --out holds results", ["simulate", str(SCENARIO), "--out", "sim"],
     {"sim/summary.csv": "x"}, 2,
     "error: --out sim: holds earlier results; give --force to replace them or choose another "
     "folder"),
    ("simulate --precision 0", ["simulate", str(SCENARIO), "--precision", "0"], {}, 2,
     "error: --precision 0: must be between 0 and 1 (the largest half-width allowed, as a "
     "proportion: 0.02 = 2 percentage points)"),
    ("simulate --precision 2", ["simulate", str(SCENARIO), "--precision", "2"], {}, 2,
     "error: --precision 2: must be between 0 and 1 (the largest half-width allowed, as a "
     "proportion: 0.02 = 2 percentage points)"),
    ("simulate --max-runs alone", ["simulate", str(SCENARIO), "--max-runs", "9"], {}, 2,
     "error: --max-runs needs --precision (without it, --runs runs are made)"),
    ("simulate --max-runs below --runs", ["simulate", str(SCENARIO), "--precision", "0.02",
                                          "--runs", "5", "--max-runs", "3"], {}, 2,
     "error: --max-runs 3: fewer than the 5 runs made first (--runs or the scenario's runs)"),
    ("simulate --max-runs below the scenario's runs",
     ["simulate", str(SCENARIO), "--precision", "0.02", "--max-runs", "4"], {}, 2,
     "error: --max-runs 4: fewer than the 5 runs made first (--runs or the scenario's runs)"),
    ("simulate --baseline unknown", ["simulate", str(SCENARIO), "--baseline", "iris"], {}, 2,
     "error: --baseline: unknown policy component 'iris' in 'iris' (use none or "
     "time+geo+rfid+finger parts)"),
    ("simulate --baseline not simulated", ["simulate", str(SCENARIO), "-p", "none", "-p", "geo",
                                           "--baseline", "rfid"], {}, 2,
     "error: --baseline rfid: not among the simulated policies (none, geo); add it with "
     "--policy"),
    ("scenario new", ["scenario", "new", "mine"], {}, 0,
     "wrote mine.toml: scenario 'mine' (check it with `armlock scenario check mine.toml`)"),
    ("scenario new over a file", ["scenario", "new", "mine"], {"mine.toml": "x"}, 2,
     "error: mine.toml exists: not overwritten (--force to replace it)"),
    ("scenario new --force", ["scenario", "new", "mine", "--out", "s.toml", "--force"],
     {"s.toml": "x"}, 0,
     "wrote s.toml: scenario 'mine' (check it with `armlock scenario check s.toml`)"),
    ("scenario new into a folder", ["scenario", "new", "mine", "--out", "d"], {"d/x": ""}, 2,
     "error: d: is a directory; give a file name for the scenario"),
    ("scenario new bad name", ["scenario", "new", "my scenario"], {}, 2,
     "error: scenario name 'my scenario': use letters, digits, _ . - (at most 64)"),
    ("scenario check", ["scenario", "check", str(SCENARIO)], {}, 0,
     f"{SCENARIO}: scenario 'border_jamming' is valid: 500 weapons x 30 days, 7 policies x "
     "2 profiles, 5 runs, 6 zones, 0 warning(s)"),
    ("scenario check unknown key", ["scenario", "check", "s.toml"],
     {"s.toml": "[duty]\nisue_prob = 0.3\n"}, 2,
     "error: s.toml:2: key 'duty.isue_prob': unknown key (did you mean 'issue_prob'?)"),
    ("scenario check bad value", ["scenario", "check", "s.toml"],
     {"s.toml": "[duty]\nissue_prob = 3\n"}, 2,
     "error: s.toml:2: key 'duty.issue_prob': must be in [0, 1], got 3"),
    ("scenario check binary file", ["scenario", "check", "s.toml"], {"s.toml": b"\xff\xfe"}, 2,
     "error: s.toml: not a scenario text file (not UTF-8)"),
    ("scenario check no file", ["scenario", "check", "none.toml"], {}, 2,
     "error: none.toml: cannot read scenario (No such file or directory)"),
    ("scenario check far zone", ["scenario", "check", "s.toml"],
     {"s.toml": FAR_ZONE}, 0,
     "warning: zone 'patrol' lies 2,552 km from the nearest other zone (centre -0.0300, 16.3280 "
     "as lat, lon): check the coordinate order (inline [lat, lon], GeoJSON [lon, lat])"),
    # -- build ---------------------------------------------------------------------------------
    ("build --freeze-base without --frozen",
     ["build", "--board", "esp32-devkitc", "--freeze-base", "/opt/armlock"], {}, 2,
     "error: --freeze-base needs --frozen (it names where the frozen sources are)"),
    ("build --freeze-base", ["build", "--board", "esp32-devkitc", "--frozen", "--freeze-base",
                             "/opt/armlock", "--out", "b"], {}, 0,
     "freeze manifest: b/freeze/manifest.py (sources under /opt/armlock; build a MicroPython "
     "image with FROZEN_MANIFEST= it, flash it with --micropython-image)"),
    ("build --waive-hardening too long",
     ["build", "--board", "esp32-devkitc", "--waive-hardening", "x" * 41], {}, 2,
     f"error: --waive-hardening '{'x' * 41}': 1..40 printable characters"),
    ("build --waive-hardening", ["build", "--board", "esp32-devkitc", "--mode", "production",
                                 "--waive-hardening", "rig bench 2", "--out", "b"], {}, 0,
     "warning: hardening waived ('rig bench 2'): this build opens on a board that is not "
     "hardened; for rig builds only, never for the field (recorded in the manifest and the "
     "boot audit record)"),
    ("build --waive-hardening in the manifest",
     ["build", "--board", "esp32-devkitc", "--waive-hardening", "rig bench 2", "--out", "b",
      "--json"], {}, 0, ' "waive_hardening": "rig bench 2",'),
    # -- the command line itself ---------------------------------------------------------------
    ("--version", ["--version"], {}, 0, "armlock 0.1.0"),
    ("-h", ["permit", "issue", "-h"], {}, 0,
     re.compile(r" Usage: armlock permit issue \[OPTIONS\] *")),
    ("registry -h", ["registry", "-h"], {}, 0,
     re.compile(r" Usage: armlock registry \[OPTIONS\] COMMAND \[ARGS\]\.\.\. *")),
    ("shell completion", ["--show-completion", "bash"], {}, 0, "_armlock_completion() {"),
    ("unknown option", ["permit", "issue", "--colour", "red"], {}, 2,
     re.compile(r"│ No such option: --colour .*│")),
]


@contextmanager
def _ptys() -> Iterator[dict[str, str]]:
    """An idle pty nobody answers on, and one held exclusively by another program."""
    m1, s1 = os.openpty()
    m2, s2 = os.openpty()
    busy = serial.Serial(os.ttyname(s2), exclusive=True)
    try:
        yield {"idle": os.ttyname(s1), "busy": os.ttyname(s2)}
    finally:
        busy.close()
        for fd in (m1, s1, m2, s2):
            os.close(fd)


@pytest.fixture()
def desk_at_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder with a master key `k`, at a fixed time."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COLUMNS", raising=False)
    clock = types.SimpleNamespace(time=lambda: NOW)
    for mod in (desk, tokens, cli_permit):
        monkeypatch.setattr(mod, "time", clock)
    assert runner.invoke(app, ["keys", "init", "--key", "k"]).exit_code == 0
    return tmp_path


def _write(files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if Path("raw.key").exists():
        Path("raw.key").chmod(0o600)


def _other_token() -> None:
    fields = {"kind": 1, "device_id": "OTHER-1", "not_before": NOW, "not_after": NOW + 60,
              "max_unlock_s": 60, "rule_mode": 0, "factor_mask": 1, "k": 1, "window_s": 30,
              "holders": [(1, ("04A1B2C3",), ())]}
    Path("other.bin").write_bytes(tokens.issue(Path("k"), fields))


def _lines(res: Any) -> list[str]:
    return res.stdout.splitlines() + res.stderr.splitlines()


@pytest.mark.parametrize("argv,files,code,line", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_input(desk_at_now: Path, argv: list[str], files: dict[str, Any], code: int,
               line: str | re.Pattern[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if argv[0] == "--show-completion":
        # the shell named on the command line, not the one typer would guess from the
        # processes above the test (none it knows under some runners: "Shell  not supported")
        monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    _write(files)
    _other_token()
    with _ptys() as ports:
        def sub(text: str) -> str:
            for name, path in ports.items():
                text = text.replace("{" + name + "}", path)
            return text

        res = runner.invoke(app, [sub(a) for a in argv], env={"COLUMNS": "80"})
        lines = _lines(res)
        if isinstance(line, re.Pattern):
            assert any(line.fullmatch(x) for x in lines), (lines, res.exception)
        else:
            assert sub(line) in lines, (lines, res.exception)
    assert res.exit_code == code, (lines, res.exception)
    assert "Traceback" not in res.output
    if code and "p.bin" not in files:
        assert not Path("p.bin").exists()  # a refused request writes nothing


def test_every_exit_status_is_in_the_table_and_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for code in {c[3] for c in CASES}:
        assert f"\n| {code} | " in readme
    assert {c[3] for c in CASES} == {0, 2, 3, 4, 5, 6}
