"""The ESP32 port (firmware/ports/esp32) under CPython with fake machine/esp32/micropython.

What a rig engineer relies on: the bolt is driven locked before anything else at reset,
production builds shut the REPL and refuse STIMULUS, the watchdog is fed only while every
task of the loop is alive, the reset cause reaches the audit chain, the identity lives in
NVS (committed), and the drivers' outputs reach the lock core.
"""

from __future__ import annotations

import json
import runpy
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from armlock.authority.signer import dev_signer, from_seed
from firmware.app import identity
from firmware.app.device import Device
from firmware.app.store import FileStore
from firmware.ports.esp32 import board as B
from firmware.ports.esp32 import loop as L
from firmware.ports.esp32 import nvs, repl, resetcause, setup
from firmware.ports.esp32.repl import ReplEscape
from hardware.micropython import node_available
from hardware.micropython import run as mp_run
from protocols import audit, crypto
from protocols import frame as F
from protocols import messages as M
from tests.conftest import any_time_permit
from tests.fakes.fake_esp32 import (
    FakeMachine,
    FakeTime,
    build_module,
    fake_esp32,
    fake_micropython,
)
from tests.fakes.fake_machine import FakeClock
from tests.fakes.fake_mfrc522 import FakeMFRC522, SimCard

REPO = Path(__file__).resolve().parent.parent
PORT = REPO / "firmware" / "ports" / "esp32"
BOARD = json.loads((REPO / "hardware" / "boards" / "esp32-devkitc.json").read_text())
DEV_ID = "AL-0042"
KEY = crypto.device_key(bytes(range(7, 39)), DEV_ID)
AUTH = from_seed(b"esp32 port test authority")


class FakeIO:
    """The console: `incoming` chunks are returned one per read(); writes are kept."""

    def __init__(self) -> None:
        self.incoming: list[bytes] = []
        self.written = bytearray()

    def read(self) -> bytes:
        return self.incoming.pop(0) if self.incoming else b""

    def write(self, data: bytes) -> None:
        self.written += data


def replies(data: bytes) -> list[tuple[int, int, dict[str, Any]]]:
    """Decoded (type, seq, fields) of every frame in `data`."""
    out = []
    for fr in F.Decoder().feed(bytes(data)):
        assert isinstance(fr, tuple), fr
        out.append(M.decode_msg(fr))
    return out


class Rig:
    """A booted ESP32 app on fakes: machine, esp32 (NVS provisioned), time, console."""

    def __init__(self, tmp: Path, mode: str = "dev", cause: int = 1, provision: bool = True,
                 esp32: Any = None, cfg: dict[str, Any] | None = None,
                 spi: Any = None, aes: Any = None, ble: bool = False) -> None:
        self.clock = FakeClock(step_us=50)
        self.machine = FakeMachine(self.clock, cause)
        sense = self.machine.Pin(BOARD["actuator"]["sense"])
        sense.drive(BOARD["actuator"]["locked_level"])   # the bolt is home
        self.machine.log.clear()
        tmp.mkdir(parents=True, exist_ok=True)
        if spi is not None:
            self.machine.attach_spi(BOARD["rfid"]["spi"], spi)
            self.machine.attach_pin(BOARD["rfid"]["cs"], spi.cs)
        self.time = FakeTime(self.clock)
        self.esp32 = esp32 if esp32 is not None else fake_esp32({})
        if provision:
            nvs.write_identity(DEV_ID, KEY, self.esp32, (AUTH.public,))
        self.io = FakeIO()
        self.build = build_module(mode)
        self.app = L.start(self.build, self.machine, self.time, self.esp32, io=self.io,
                           cfg=cfg or BOARD, store_root=str(tmp / "data"), ble=ble,
                           aes=aes)
        self.device: Device = self.app.device

    def advance_ms(self, ms: int) -> None:
        self.clock.advance(ms * 1000)

    def audit_records(self) -> list[tuple[int, int, str, str, bytes]]:
        store = self.device.store
        return [audit.decode(r) for r in store.read_audit(1, 1000)]

    def command(self, typ: int, fields: dict[str, Any] | None = None, seq: int = 1,
                counter: int | None = None) -> list[tuple[int, int, dict[str, Any]]]:
        key = KEY if counter is not None else None
        self.io.incoming.append(M.encode_msg(typ, seq, fields or {}, key, counter))
        self.io.written.clear()
        self.app.serial_step()
        return replies(self.io.written)


# -- boot.py ---------------------------------------------------------------------------------


def run_boot(monkeypatch: pytest.MonkeyPatch, build: Any) -> FakeMachine:
    machine = FakeMachine()
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "micropython", fake_micropython(machine.log))
    if build is None:
        monkeypatch.delitem(sys.modules, "armlock_build", raising=False)
        monkeypatch.setattr(sys, "path", [p for p in sys.path if p])  # no stray module
    else:
        monkeypatch.setitem(sys.modules, "armlock_build", build)
    runpy.run_path(str(PORT / "boot.py"), run_name="boot")
    return machine


@pytest.mark.parametrize("mode", ["dev", "production"])
def test_boot_drives_lock_pin_locked_first(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    m = run_boot(monkeypatch, build_module(mode, lock_pin=25, lock_level=0))
    assert m.log[0] == ("pin_out", 25, 0), m.log
    assert m.pins[25].value() == 0
    if mode == "production":
        assert [e for e in m.log if e[0] != "pin"] == [("pin_out", 25, 0), ("kbd_intr", -1)]
    else:
        assert ("kbd_intr", -1) not in m.log


def test_boot_servo_starts_pwm_at_locked_pulse_first(monkeypatch: pytest.MonkeyPatch) -> None:
    m = run_boot(monkeypatch, build_module("production", lock_pin=25, servo_duty=3277))
    assert m.log[0] == ("pwm", 25, 50, 3277)


def test_boot_without_build_module_is_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """A board flashed by hand (no armlock_build) is treated as production."""
    m = run_boot(monkeypatch, None)
    assert m.log == [("kbd_intr", -1)]


# -- start: lock, reset cause, identity -------------------------------------------------------


def test_start_locks_before_boot_and_audits_power_on(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    pin, level = B.lock_level(BOARD)
    assert r.machine.log[0] == ("pin_out", pin, level)
    assert r.machine.pins[pin].value() == level
    assert r.device.locked is True
    boots = [rec for rec in r.audit_records() if rec[2] == "boot"]
    assert len(boots) == 1 and "cause=power_on" in boots[0][3]


@pytest.mark.parametrize("cause, name", [
    (FakeMachine.PWRON_RESET, "power_on"), (FakeMachine.HARD_RESET, "hard"),
    (FakeMachine.WDT_RESET, "watchdog"), (FakeMachine.DEEPSLEEP_RESET, "deep_sleep"),
    (FakeMachine.SOFT_RESET, "soft"), (99, "unknown"),
])
def test_reset_cause_is_recorded_in_the_audit(tmp_path: Path, cause: int, name: str) -> None:
    r = Rig(tmp_path, cause=cause)
    boot = [rec for rec in r.audit_records() if rec[2] == "boot"][-1]
    assert f"cause={name}" in boot[3]
    frames = replies(r.io.written)
    assert frames[0][2]["kind"] == "boot" and frames[0][2]["reset_cause"] == name


def test_brownout_told_apart_when_firmware_offers_reset_reason(tmp_path: Path) -> None:
    r = Rig(tmp_path, cause=FakeMachine.PWRON_RESET, esp32=fake_esp32({}, reset_reason=9))
    boot = [rec for rec in r.audit_records() if rec[2] == "boot"][-1]
    assert "cause=brownout" in boot[3]
    assert resetcause.name(FakeMachine(cause=1), fake_esp32({}, reset_reason=1)) == "power_on"


def test_reboot_keeps_audit_chain_and_records_each_cause(tmp_path: Path) -> None:
    Rig(tmp_path, cause=FakeMachine.PWRON_RESET)
    r = Rig(tmp_path, cause=FakeMachine.WDT_RESET)
    recs = r.audit_records()
    causes = [d for _, _, code, d, _ in recs if code == "boot"]
    assert ["power_on" in causes[0], "watchdog" in causes[1]] == [True, True]
    assert [s for s, *_ in recs] == list(range(1, len(recs) + 1))


def test_info_reports_identity_from_nvs(tmp_path: Path) -> None:
    r = Rig(tmp_path, mode="production")
    (typ, seq, f), = r.command(M.INFO, seq=7)
    assert (typ, seq) == (M.INFO_REPLY, 7)
    assert f["device_id"] == DEV_ID and f["mode"] == "field"
    assert f["runtime"] == "micropython-esp32-devkitc"


@pytest.mark.parametrize("mode", ["production", "rig"])
def test_production_board_without_identity_refuses_tokens(tmp_path: Path, mode: str) -> None:
    """No identity in NVS: no key at all (not a random one); every token is refused with
    "device not provisioned", audited, and the lock stays locked."""
    r = Rig(tmp_path, mode=mode, provision=False)
    assert (r.device.device_id, r.device.key) == (identity.UNPROVISIONED, None)
    for dev_id, key in ((identity.DEV_DEVICE_ID, dev_signer()), (identity.UNPROVISIONED, AUTH)):
        got = r.command(M.LOAD_PERMIT, {"token": any_time_permit(dev_id, key)})
        assert [(t, f.get("message")) for t, _, f in got if t == M.ERROR] == \
            [(M.ERROR, "device not provisioned")]
    refused = [d for _, _, code, d, _ in r.audit_records() if code == "permit_refused"]
    assert refused == ["device not provisioned"]  # the second is counted (aggregated)
    assert r.device.locked


def test_dev_board_without_identity_takes_the_public_dev_identity(tmp_path: Path) -> None:
    r = Rig(tmp_path, mode="dev", provision=False)
    assert (r.device.device_id, r.device.key) == identity.dev_identity()[:2]
    got = r.command(M.LOAD_PERMIT,
                    {"token": any_time_permit(identity.DEV_DEVICE_ID, dev_signer())})
    assert [t for t, _, _ in got if t != M.EVENT] == [M.OK], got


# -- production mode -------------------------------------------------------------------------


def test_production_refuses_stimulus_dev_accepts(tmp_path: Path) -> None:
    prod = Rig(tmp_path / "p", mode="production")
    (typ, _, f), = [o for o in prod.command(M.STIMULUS, {"kind": "battery", "mv": 3000},
                                            counter=1) if o[0] != M.EVENT]
    assert typ == M.ERROR and f["code"] == M.E_MODE
    dev = Rig(tmp_path / "d", mode="dev")
    out = dev.command(M.STIMULUS, {"kind": "battery", "mv": 3000}, counter=1)
    assert [(t, s) for t, s, _ in out if t != M.EVENT] == [(M.OK, 1)]


def test_dev_mode_console_escape_stops_the_app(tmp_path: Path) -> None:
    r = Rig(tmp_path, mode="dev")
    r.io.incoming.append(b"\r\x03")
    with pytest.raises(KeyboardInterrupt):
        r.app.serial_step()
    prod = Rig(tmp_path / "p", mode="production")
    prod.io.incoming.append(b"\r\x03")
    prod.app.serial_step()  # production: just bytes that are not a frame


def test_repl_escape_never_fires_inside_frames() -> None:
    """Every frame the host can send (any type, seq, short payloads) passes the detector."""
    esc = ReplEscape()
    for typ in range(256):
        for seq in (0, 1, 0x0D03, 0x030D, 0xFFFF):
            for payload in (b"", b"\x0d\x03", b"\x00\x0d\x03", bytes(range(1, 30))):
                wire = F.encode(typ, seq, payload)
                assert not esc.scan(wire, 0), (typ, seq, payload)
    assert esc.scan(b"\r\x03", 0)
    esc2 = ReplEscape()
    assert not esc2.scan(b"junk\r\x03", 0)        # mid-chunk: not an interrupt
    assert esc2.scan(b"\r\x03", repl.IDLE_MS + 1)    # ... but after an idle line it is


# -- watchdog ------------------------------------------------------------------------------


def run_tasks(r: Rig, ms: int, skip: tuple[str, ...] = ()) -> int:
    """Run every task (except `skip`) each 100 ms for `ms`; the watchdog each second.
    Returns the number of feeds."""
    before = r.app.feeds
    steps = {"serial": r.app.serial_step, "drivers": r.app.drivers_step,
             "ticker": r.app.ticker_step}
    for t in range(0, ms, 100):
        r.advance_ms(100)
        for name, step in steps.items():
            if name not in skip:
                step()
                r.app.ran(name)
        if t % 1000 == 0:
            r.app.watchdog_step()
    return r.app.feeds - before


def test_watchdog_fed_only_while_every_task_runs(tmp_path: Path) -> None:
    r = Rig(tmp_path, mode="production")
    assert r.machine.wdt is not None and r.machine.wdt.timeout == 8000
    assert run_tasks(r, 3000) == 3
    # the drivers task stalls (e.g. stuck in a bus transfer): feeds stop once it is late
    assert run_tasks(r, L.HEALTH_MS, skip=("drivers",)) >= 1  # not late yet
    assert run_tasks(r, 10000, skip=("drivers",)) == 0
    assert r.machine.wdt.feeds == r.app.feeds
    assert run_tasks(r, 2000) == 2                          # back to healthy


def test_watchdog_not_fed_after_a_task_died(tmp_path: Path) -> None:
    r = Rig(tmp_path, mode="production")
    run_tasks(r, 1000)

    def broken() -> list[tuple[Any, ...]]:
        raise RuntimeError("driver bug")

    r.app.hw.poll = lambda now: broken()  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        r.app.run()
    assert r.app.failed is not None and r.app.failed[0] == "drivers"
    assert run_tasks(r, 2000, skip=("drivers",)) == 0


def test_dev_mode_has_no_watchdog(tmp_path: Path) -> None:
    """mpremote stops the app in dev mode; a running WDT would reset the board mid-copy."""
    r = Rig(tmp_path, mode="dev")
    assert r.machine.wdt is None
    assert run_tasks(r, 2000) == 0


# -- the loop -------------------------------------------------------------------------------


def test_loop_answers_and_stops_on_escape(tmp_path: Path) -> None:
    r = Rig(tmp_path, mode="dev")
    r.io.written.clear()
    r.io.incoming += [M.encode_msg(M.PING, 3, {}), b"", b"", b"\r\x03"]
    with pytest.raises(KeyboardInterrupt):
        r.app.run()
    got = replies(r.io.written)
    assert (M.OK, 3) in [(t, s) for t, s, _ in got]
    assert set(r.app.seen) >= {"serial", "drivers", "ticker"}


def test_loop_runs_each_task_at_its_period(tmp_path: Path) -> None:
    """One second of App.run on the fake clock: serial about every SERIAL_MS, drivers
    every DRIVERS_MS, the watchdog fed once a second (production), sleeping between."""
    r = Rig(tmp_path, mode="production")
    counts = {"serial": 0, "drivers": 0}
    serial, drivers = r.app.serial_step, r.app.drivers_step
    t0 = r.app.clock.mono()

    def counted_serial() -> None:
        counts["serial"] += 1
        if r.app.clock.mono() - t0 >= 1000:
            raise KeyboardInterrupt("enough")
        serial()

    def counted_drivers() -> None:
        counts["drivers"] += 1
        drivers()

    r.app.serial_step = counted_serial  # type: ignore[method-assign]
    r.app.drivers_step = counted_drivers  # type: ignore[method-assign]
    feeds = r.app.feeds
    with pytest.raises(KeyboardInterrupt):
        r.app.run()
    assert 80 <= counts["serial"] <= 101, counts
    assert 40 <= counts["drivers"] <= 51, counts
    assert r.app.feeds - feeds in (1, 2)                 # at 0 ms and at 1000 ms


def test_loop_ticker_sleeps_until_the_wake_its_own_pass_set(tmp_path: Path) -> None:
    """The ticker's next pass is due at the WAKE the pass itself asked for (30 ms here),
    not at one read before it ran: about ten passes in 300 ms, not one per loop turn."""
    r = Rig(tmp_path, mode="dev")
    ticks: list[int] = []
    t0 = r.app.clock.mono()

    def ticker() -> None:
        now = r.app.clock.mono()
        ticks.append(now)
        r.app.device.wake_at = now + 30  # type: ignore[attr-defined]

    def serial() -> None:
        if r.app.clock.mono() - t0 >= 300:
            raise KeyboardInterrupt("enough")

    r.app.ticker_step = ticker  # type: ignore[method-assign]
    r.app.serial_step = serial  # type: ignore[method-assign]
    r.app.drivers_step = lambda: None  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        r.app.run()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert 8 <= len(ticks) <= 12 and min(gaps) >= 29, gaps


# -- drivers -> core -------------------------------------------------------------------------


def test_dead_rfid_reader_reported_as_fault_once(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    assert r.app.hw.rfid is None
    r.io.written.clear()
    r.app.drivers_step()
    recs = [d for _, _, code, d, _ in r.audit_records() if code == "fault"]
    assert any("rfid" in d for d in recs), r.audit_records()
    n = len(r.audit_records())
    r.advance_ms(1000)
    r.app.drivers_step()
    assert not [x for x in r.audit_records()[n:] if x[2] == "fault" and "rfid" in x[3]]


def test_card_presented_reaches_the_core(tmp_path: Path) -> None:
    chip = FakeMFRC522([SimCard(bytes.fromhex("04A1B2C3D4E5F6"))])
    r = Rig(tmp_path, spi=chip)
    chip.clock = r.clock
    assert r.app.hw.rfid is not None, r.app.hw.log
    r.advance_ms(500)
    r.app.drivers_step()
    rejects = [d for _, _, code, d, _ in r.audit_records() if code == "cred_reject"]
    assert rejects and "rfid" in rejects[-1]  # no permit loaded: refused, and audited


def test_card_challenge_runs_with_the_permits_card_key(tmp_path: Path) -> None:
    """The board runs the NTAG 424 DNA challenge with the key the loaded permit carries for
    the card (wrapped to this board, diversified by the authority from its card master):
    the genuine card is a strong read; a card with another key, or a permit for another
    board, is not."""
    from armlock.authority import cards
    from hardware.aes import Aes
    from protocols import permit
    master = bytes(range(7, 39))  # KEY is this master's key for DEV_ID
    uid = bytes.fromhex("04A1B2C3D4E5F6")
    genuine = SimCard(uid, key=cards.card_key(master, uid))
    chip = FakeMFRC522([genuine])
    r = Rig(tmp_path, spi=chip, aes=Aes)
    chip.clock = r.clock

    def load(device: str, serial: int) -> None:
        tok = permit.encode(dict(
            kind=1, device_id=DEV_ID, serial=serial, not_before=0, not_after=2**32 - 1,
            fail_enabled=False, max_unlock_s=60, rule_mode=0, factor_mask=1, k=1, window_s=0,
            holders=[(1, ((uid, cards.wrap_for(master, device, uid)),), ())], zones=[]), AUTH)
        assert [t for t, _, _ in r.command(M.LOAD_PERMIT, {"token": tok}) if t != M.EVENT] \
            == [M.OK]

    def present() -> list[str]:
        n = len(r.audit_records())
        r.advance_ms(500)
        r.app.drivers_step()
        return [d for _, _, c, d, _ in r.audit_records()[n:] if c.startswith("cred_")]

    load(DEV_ID, 1)
    assert present() == ["rfid holder=1"]                      # strong: the challenge passed
    genuine.key = bytes(16)                                    # a clone with another key
    chip.cards[0].power_off()
    assert present() == ["rfid failed: card failed authentication"]
    genuine.key = cards.card_key(master, uid)
    load("AL-OTHER", 2)  # the card key wrapped to another board: it unwraps to garbage here
    chip.cards[0].power_off()
    got = present()
    assert got == ["rfid failed: card failed authentication"], got


class _Raises:
    """A stand-in reader whose event() raises `exc` (what the real driver does)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def event(self) -> tuple:
        raise self.exc


def test_failed_card_and_unknown_finger_are_fail_events_not_invented_credentials(
        tmp_path: Path) -> None:
    from firmware.drivers.mfrc522 import AuthError
    from firmware.drivers.r503 import NotFound
    r = Rig(tmp_path)
    hw = r.app.hw
    hw.rfid, hw.touch = _Raises(AuthError("bad MAC")), None
    hw.finger = _Raises(NotFound(9, "not found"))
    out: list[tuple] = []
    hw._poll_rfid(out)
    hw._poll_finger(out)
    assert out == [("rfid_fail", "card failed authentication"),
                   ("finger_fail", "finger not recognised")]
    for ev in out:
        r.device.local_event(ev, r.app.clock.mono(), r.app.clock.rtc())
    rejects = [d for _, _, code, d, _ in r.audit_records() if code == "cred_reject"]
    assert rejects[-2:] == ["rfid ignored: no_permit", "finger ignored: no_permit"]


def test_board_settle_time_is_the_cores_config() -> None:
    assert setup.core_config(BOARD) == {"actuator_settle_ms": BOARD["actuator"]["settle_ms"],
                                    "magnet_threshold": BOARD["magnetometer"]["threshold"]}
    assert setup.core_config({"actuator": {"drive": 1, "sense": 2}}) is None


def test_gnss_observation_reaches_the_core_which_says_lost(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    assert r.app.hw.gnss is not None, r.app.hw.log
    r.advance_ms(5000)                     # the receiver never said anything
    r.app.drivers_step()
    gnss = [d for _, _, code, d, _ in r.audit_records() if code == "gnss"]
    assert gnss and gnss[-1].startswith("lost silent_ms="), gnss


def test_enclosure_opened_latches_tamper(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    sw = r.machine.pins[BOARD["tamper"]["switch"]]
    sw.drive(1)
    r.advance_ms(200)
    r.app.drivers_step()
    codes = [(code, d) for _, _, code, d, _ in r.audit_records()]
    assert any(c == "tamper" and "enclosure" in d for c, d in codes), codes
    assert r.device.locked


def test_battery_read_through_divider(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.machine.adc_samples[BOARD["battery"]["adc"]] = [1_950_000]
    ev = r.app.hw.battery.event()
    assert ev == ("battery", 3900)


def test_actuator_hook_drives_the_pin(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    pin, level = B.lock_level(BOARD)
    r.app.hw.lock(False)
    assert r.machine.pins[pin].value() == 1 - level
    r.app.hw.lock(True)
    assert r.machine.pins[pin].value() == level


# -- clocks ----------------------------------------------------------------------------------


def test_monotonic_ms_survives_ticks_wrap() -> None:
    clock = FakeClock(start_us=((1 << 30) - 500) * 1000)
    t = FakeTime(clock)
    c = L.Clock(t)
    clock.advance(400_000)
    assert c.mono() == 400
    clock.advance(400_000)                 # ticks_ms wrapped past 2**30
    assert c.mono() == 800
    assert t.ticks_ms() < 1000


def test_rtc_set_and_read_in_unix_seconds() -> None:
    clock = FakeClock()
    t = FakeTime(clock, utc0=1_767_225_600, epoch=2000)
    m = FakeMachine(clock)
    c = L.Clock(t, m.RTC())
    assert c.rtc() == 1_767_225_600
    c.set_rtc(1_767_225_600 + 3600 + 61)   # 2026-01-01 01:01:01, a Thursday (3)
    assert m.rtc.set_to == (2026, 1, 1, 3, 1, 1, 1, 0)


# -- NVS identity ----------------------------------------------------------------------------


def test_identity_needs_commit() -> None:
    flash: dict[str, dict[str, bytes]] = {}
    esp = fake_esp32(flash)
    assert nvs.read_identity(esp) is None
    n = esp.NVS("armlock")
    n.set_blob("device_id", b"AL-1")
    n.set_blob("device_key", bytes(32))       # never committed: a power cut loses it
    assert nvs.read_identity(esp) is None
    nvs.provision(DEV_ID, KEY.hex(), esp)
    assert flash["armlock"]["device_id"] == DEV_ID.encode()
    assert nvs.read_identity(fake_esp32(flash)) == (DEV_ID, KEY, ())


def test_provision_prints_fingerprint_not_key(capsys: pytest.CaptureFixture[str]) -> None:
    nvs.provision(DEV_ID, KEY.hex(), fake_esp32({}))
    out = capsys.readouterr().out
    assert out.split() == ["provisioned", "nvs", DEV_ID, nvs.fingerprint(KEY)]
    assert KEY.hex() not in out


def test_identity_file_fallback_without_nvs(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """The virtual board (no esp32 module) keeps identity.json in its storage dir, which
    FileStore.load_identity reads."""
    import types
    host = types.ModuleType("board")
    host.storage = str(tmp_path)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "board", host)
    monkeypatch.setitem(sys.modules, "esp32", None)  # import esp32 -> ImportError
    where = nvs.provision(DEV_ID, KEY.hex())
    assert where == str(tmp_path / "identity.json")
    assert FileStore(str(tmp_path)).load_identity() == (DEV_ID, KEY, ())


def test_identity_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        nvs.write_identity("", KEY, fake_esp32({}))
    with pytest.raises(ValueError):
        nvs.write_identity(DEV_ID, KEY[:16], fake_esp32({}))


# -- the same app on the real MicroPython VM -----------------------------------------------


@pytest.mark.skipif(not node_available(), reason="Node/MicroPython WASM missing")
def test_app_boots_and_answers_under_micropython() -> None:
    """loop.start + serial_step on MicroPython 1.27 (WASM): lock pin locked, boot audited
    with the reset cause, PING and INFO answered (App.run itself needs a board)."""
    stand_in = (REPO / "tests" / "fakes" / "mp_esp32_stand_in.py").read_text()
    frames = M.encode_msg(M.PING, 5, {}) + M.encode_msg(M.INFO, 6, {})
    prog = (f"import json, time, binascii\n{stand_in}\n"
            f"SENSE = {BOARD['actuator']['sense']}\n"
            f"CFG = json.loads({json.dumps(json.dumps(BOARD))})\n"
            "machine.reset_cause = lambda: machine.WDT_RESET\n"
            "from firmware.ports.esp32 import loop\n"
            "io = IO()\n"
            "app = loop.start(build, machine, time, None, io=io, cfg=CFG, "
            "store_root='/data', ble=False)\n"
            f"io.inq.append(binascii.unhexlify({frames.hex()!r}))\n"
            "app.serial_step()\n"
            f"print(PINS[{BOARD['actuator']['drive']}].value(), app.cause)\n"
            "print(binascii.hexlify(io.sent).decode())\n"
            "io.inq += [b'', b'', b'\\r\\x03']\n"      # App.run until the REPL escape
            "try:\n    app.run()\nexcept KeyboardInterrupt:\n"
            "    print('stopped', sorted(app.seen))\n")
    # one call: this VM collects garbage only between calls, and the boot (key tables)
    # makes ~0.8 MB of it; at 512 KB the boot ran out of heap and, before out-of-heap
    # stopped the app, the test passed on a half-booted core
    out = mp_run(prog, heap_kb=2048, timeout=120).split()
    pin, level = B.lock_level(BOARD)
    assert out[0] == str(level) and out[1] == "watchdog"
    assert out[3:] == ["stopped", "['drivers',", "'serial',", "'ticker']"]
    got = replies(bytes.fromhex(out[2]))
    assert got[0][2]["kind"] == "boot" and got[0][2]["reset_cause"] == "watchdog"
    assert (M.OK, 5) in [(t, s) for t, s, _ in got]
    info = [f for t, s, f in got if (t, s) == (M.INFO_REPLY, 6)]
    assert info and info[0]["device_id"] == identity.DEV_DEVICE_ID
    assert info[0]["runtime"] == "micropython-bench"


# -- main(): console ownership, lock on exit; main.py: reset in production ---------------------


class ScriptedIO(FakeIO):
    """Console that replays `incoming`, then raises `end` (or the REPL escape)."""

    def __init__(self, chunks: list[bytes], end: BaseException | None = None) -> None:
        super().__init__()
        self.incoming = list(chunks)
        self.end = end

    def read(self) -> bytes:
        if self.incoming:
            return self.incoming.pop(0)
        if self.end is not None:
            raise self.end
        return b"\r\x03"


def run_main(tmp_path: Path, mode: str, io: FakeIO) -> tuple[FakeMachine, BaseException | None]:
    clock = FakeClock(step_us=50)
    m = FakeMachine(clock)
    m.Pin(BOARD["actuator"]["sense"]).drive(BOARD["actuator"]["locked_level"])
    esp = fake_esp32({})
    nvs.write_identity(DEV_ID, KEY, esp)
    err = None
    try:
        L.main(machine=m, micropython=fake_micropython(m.log), time=FakeTime(clock), esp32=esp,
               build=build_module(mode), io=io, cfg=BOARD, store_root=str(tmp_path / "d"),
               ble=False)
    except BaseException as exc:  # noqa: BLE001 - what main lets through is the point
        err = exc
    return m, err


def test_main_dev_escape_locks_and_gives_console_back(tmp_path: Path) -> None:
    io = ScriptedIO([M.encode_msg(M.PING, 9, {})])
    m, err = run_main(tmp_path, "dev", io)
    assert isinstance(err, KeyboardInterrupt)
    kbd = [e for e in m.log if e[0] == "kbd_intr"]
    assert kbd == [("kbd_intr", -1), ("kbd_intr", 3)]
    assert m.log.index(("kbd_intr", -1)) < m.log.index(("pin_out", 25, 0))
    pin, level = B.lock_level(BOARD)
    assert m.pins[pin].value() == level
    assert (M.OK, 9) in [(t, s) for t, s, _ in replies(io.written)]


def test_main_production_keeps_console_and_escape_is_data(tmp_path: Path) -> None:
    io = ScriptedIO([b"\r\x03", b"\r\x01"], end=RuntimeError("console gone"))
    m, err = run_main(tmp_path, "production", io)
    assert isinstance(err, RuntimeError)            # main.py turns this into a reset
    assert [e for e in m.log if e[0] == "kbd_intr"] == [("kbd_intr", -1)]
    assert m.wdt is not None


@pytest.mark.parametrize("mode, resets", [("production", 1), ("dev", 0)])
def test_main_py_resets_on_any_failure_in_production(monkeypatch: pytest.MonkeyPatch,
                                                     mode: str, resets: int) -> None:
    import types
    m = FakeMachine()
    monkeypatch.setitem(sys.modules, "machine", m)
    monkeypatch.setitem(sys.modules, "armlock_build", build_module(mode))
    monkeypatch.delitem(sys.modules, "board", raising=False)
    fake_loop = types.ModuleType("firmware.ports.esp32.loop")

    def boom() -> None:
        raise MemoryError("out of heap")

    fake_loop.main = boom  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "firmware.ports.esp32.loop", fake_loop)
    monkeypatch.setattr(sys, "print_exception", lambda e: None, raising=False)
    import firmware.ports.esp32 as pkg
    monkeypatch.setattr(pkg, "loop", fake_loop, raising=False)
    runpy.run_path(str(PORT / "main.py"), run_name="__main__")
    assert m.resets == resets


# -- BLE link routing --------------------------------------------------------------------------


class FakeNus:
    """The NusService surface the app uses: take(), send(), tx, flush()."""

    def __init__(self) -> None:
        self.rx: list[bytes] = []
        self.sent = bytearray()
        self.tx = b""

    def take(self) -> bytes:
        return self.rx.pop(0) if self.rx else b""

    def send(self, data: bytes) -> None:
        self.sent += data

    def flush(self) -> bool:
        return True


def test_ble_replies_go_back_on_ble_events_go_everywhere(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    nus = FakeNus()
    r.app.ble = nus
    r.io.written.clear()
    nus.rx.append(M.encode_msg(M.PING, 21, {}))
    r.app.serial_step()
    assert (M.OK, 21) in [(t, s) for t, s, _ in replies(nus.sent)]
    assert not r.io.written                          # not echoed on the console
    nus.sent.clear()
    r.app.broadcast(r.device.local_event(("battery", 3000), r.app.clock.mono(),
                                         r.app.clock.rtc()))
    assert replies(nus.sent) and replies(r.io.written)


def test_start_ble_advertises_with_device_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from firmware.ports.esp32 import startup
    from tests.fakes.ble import fake_bluetooth, parse_ad
    monkeypatch.setitem(sys.modules, "bluetooth", fake_bluetooth())
    monkeypatch.delitem(sys.modules, "firmware.ports.esp32.ble", raising=False)
    svc = startup.start_ble("AL-0042")
    assert svc is not None
    adv, resp = svc.ble.advertising
    names = {**parse_ad(adv), **parse_ad(resp)}
    assert b"armlock-AL-0042" in names.values()
    monkeypatch.setitem(sys.modules, "bluetooth", None)   # no radio in this firmware
    monkeypatch.delitem(sys.modules, "firmware.ports.esp32.ble", raising=False)
    assert startup.start_ble("AL-0042") is None


def test_a_radio_that_cannot_start_is_said_and_audited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At a tight heap NimBLE's start fails with MemoryError: the app runs on the console,
    prints why and writes a fault record, instead of silently running without BLE."""
    from tests.fakes.ble import fake_bluetooth

    radio = fake_bluetooth()

    def no_heap() -> None:
        raise MemoryError("memory allocation failed, allocating 4096 bytes")

    radio.BLE = no_heap  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bluetooth", radio)
    monkeypatch.delitem(sys.modules, "firmware.ports.esp32.ble", raising=False)
    r = Rig(tmp_path, ble=True)
    assert r.app.ble is None
    assert "BLE did not start: MemoryError" in capsys.readouterr().out
    assert ("fault", "ble failed") in [(c, d) for _s, _t, c, d, _h in r.audit_records()]


def test_usb_serial_leaves_bytes_after_interrupt_for_the_repl() -> None:
    """mpremote sends "\\r\\x03" then "\\r\\x01": the app must not swallow the second part."""
    import io

    inp = io.BytesIO(b"\x00\r\x03\r\x01")

    class Poll:
        def poll(self, timeout: int) -> list[int]:
            return [1] if inp.tell() < len(inp.getvalue()) else []

    out = io.BytesIO()
    usb = L.UsbSerial(inp, out, Poll())
    esc = ReplEscape()
    first = usb.read()
    assert first == b"\x00\r\x03" and esc.scan(first, 0)
    assert inp.read() == b"\r\x01"          # still there for the raw REPL
    usb.write(b"abc")
    assert out.getvalue() == b"abc"


# -- trim: boot-only modules really leave the heap (MicroPython only) ----------------------


def test_trim_lists_name_modules_that_exist() -> None:
    """A module renamed or split without updating trim.py would silently stay resident."""
    from firmware.ports.esp32 import trim

    root = Path(__file__).resolve().parents[1]
    missing = [n for n in trim.BOOT + trim.TRANSIENT + trim.RARE
               if not (root / (n.replace(".", "/") + ".py")).exists()]
    assert missing == []


@pytest.mark.skipif(not node_available(), reason="Node/MicroPython WASM missing")
def test_trim_frees_boot_modules_and_keeps_held_ones(tmp_path: Path) -> None:
    """On MicroPython (the VM collects between calls) trim.drop frees security, nvs,
    and identity (nvs held it; the store imports it only inside the methods that need
    it): gc.mem_alloc() drops and they leave sys.modules and their package. A module
    another loaded module holds at module level (here resetcause, whose function the
    store module is given) stays. CPython: drop does nothing."""
    from firmware.ports.esp32 import trim
    from hardware.micropython import MicroPythonVM

    assert trim.drop(trim.BOOT) == [] and "firmware.ports.esp32.nvs" in sys.modules
    with MicroPythonVM(heap_kb=1024) as vm:
        vm.exec("import gc, sys\nfrom firmware.ports.esp32 import trim\n"
                "import firmware.app.store\n"
                "from firmware.ports.esp32 import security, nvs, resetcause\n"
                "firmware.app.store.cause_name = resetcause.name\n"
                "security = nvs = resetcause = None")
        before = int(vm.exec("gc.collect(); print(gc.mem_alloc())"))
        n = int(vm.exec("print(len(trim.drop(trim.BOOT)))"))
        after = int(vm.exec("gc.collect(); print(gc.mem_alloc())"))
        left = vm.exec("import firmware.ports.esp32 as p\n"
                       "print(sorted(k for k in sys.modules if k in trim.BOOT), "
                       "hasattr(p, 'nvs'))")
    assert n == 3                               # security, nvs, identity
    assert before - after > 3000, (before, after)
    assert left.strip() == "['firmware.ports.esp32.resetcause'] False"


@pytest.mark.skipif(not node_available(), reason="Node/MicroPython WASM missing")
def test_trim_drops_from_namespace_packages_of_a_build(tmp_path: Path) -> None:
    """A build deploys no empty __init__.mpy, so its packages are namespace packages on
    the device; trim.drop still takes a module out of sys.modules and out of its
    package, and an import later loads it again."""
    from hardware import build as B
    from hardware.micropython import MicroPythonVM

    out = tmp_path / "b"
    B.build("esp32-devkitc", "production", out)
    assert not list(out.rglob("__init__.*"))
    with MicroPythonVM(heap_kb=1024, root=out) as vm:
        vm.exec("import sys\nfrom firmware.ports.esp32 import trim, nvs\nnvs = None\n"
                "import firmware.ports.esp32 as p")
        got = vm.exec("print(hasattr(p, '__file__'), hasattr(p, 'nvs'), "
                      "sorted(trim.drop(trim.BOOT)), hasattr(p, 'nvs'), "
                      "'firmware.ports.esp32.nvs' in sys.modules)").strip()
        again = vm.exec("from firmware.ports.esp32 import nvs\nprint(nvs.__name__)").strip()
    assert got == ("False True ['firmware.app.identity', 'firmware.ports.esp32.nvs'] "
                   "False False")
    assert again == "firmware.ports.esp32.nvs"


@pytest.mark.skipif(not node_available(), reason="Node/MicroPython WASM missing")
def test_trim_keeps_a_rare_module_that_defines_a_class() -> None:
    """after_step drops the rare modules nobody holds, but not one that defines a class
    (an object of it may outlive the step, and a fresh import would make a second class
    that isinstance does not match); the token decoder goes. No rare module defines a
    class (firmware.core.trust's record is a dict): the test gives trust one."""
    from hardware.micropython import MicroPythonVM

    with MicroPythonVM(heap_kb=1024) as vm:
        vm.exec("import sys\nfrom firmware.core import trust\n"
                "class Holder:\n    __module__ = 'firmware.core.trust'\n"
                "trust.Holder = Holder\n"
                "from protocols import permit_decode\n"
                "from firmware.ports.esp32 import trim\n"
                "trust = permit_decode = Holder = None")
        gone = vm.exec("print(sorted(trim.after_step()))").strip()
        left = vm.exec("print([k in sys.modules for k in ('firmware.core.trust', "
                       "'protocols.permit_decode')])").strip()
    assert "'protocols.permit_decode'" in gone and "trust" not in gone
    assert left == "[True, False]"


@pytest.mark.skipif(not node_available(), reason="Node/MicroPython WASM missing")
def test_trim_frees_the_card_challenge_after_a_read() -> None:
    """What a strong card read loads (the EV2First challenge, ISO-DEP, CMAC) and trim
    itself leave the heap after trim.after_step; the reader and the MFRC522 (with its
    errors, rfid_errors) stay."""
    from hardware.micropython import MicroPythonVM

    with MicroPythonVM(heap_kb=1024) as vm:
        vm.exec("import gc, sys\nfrom firmware.drivers import ntag424\n"
                "from firmware.drivers import ntag424_auth, isodep, cmac\n"
                "from firmware.ports.esp32 import trim\n"
                "ntag424_auth = isodep = cmac = trim = None")
        before = int(vm.exec("gc.collect(); print(gc.mem_alloc())"))
        gone = vm.exec("from firmware.ports.esp32 import trim\n"
                       "print(sorted(trim.after_step()))\ntrim = None").strip()
        after = int(vm.exec("gc.collect(); print(gc.mem_alloc())"))
        kept = vm.exec("print(sorted(k for k in sys.modules if 'drivers.' in k))").strip()
    assert gone == ("['firmware.drivers.cmac', 'firmware.drivers.isodep', "
                    "'firmware.drivers.ntag424_auth', 'firmware.ports.esp32.trim']")
    assert before - after > 4000, (before, after)
    assert kept == "['firmware.drivers._ticks', 'firmware.drivers.mfrc522', " \
        "'firmware.drivers.ntag424', 'firmware.drivers.rfid_errors']"


def test_app_trims_after_growth_but_not_a_hot_path(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """App.trim calls trim.after_step when a step grew sys.modules; a module it dropped
    that is back within _TRIM_GAP steps (imported on a hot path) is left alone until then."""
    from firmware.ports.esp32 import trim
    r = Rig(tmp_path)
    calls: list[int] = []

    def after_step() -> list[str]:
        calls.append(r.app.steps)
        return ["tests.hot_module"]

    monkeypatch.setattr(trim, "after_step", after_step)
    r.app.trim()
    assert calls == []                                   # nothing was imported
    r.app.modules -= 1                                   # as if a command imported one
    r.app.trim()
    assert len(calls) == 1
    monkeypatch.setitem(sys.modules, "tests.hot_module", types.ModuleType("hot"))
    r.app.trim()                                         # it is back at once: kept
    assert len(calls) == 1
    r.app.steps += L._TRIM_GAP  # type: ignore[attr-defined]
    r.app.modules -= 1
    r.app.trim()
    assert len(calls) == 2
