"""The board's own hardening check: firmware/ports/esp32/security.py reads the eFuse and
chip-revision registers, firmware/core/platform.py decides, and the ESP32 port's boot
(loop.start) keeps an unhardened production board locked and says why in the audit.

Register images come from esptool's own eFuse definitions (tests/fakes/fake_espefuse.py),
not from the constants under test. The same reads run on MicroPython (WASM).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from firmware.core import platform
from firmware.ports.esp32 import loop as L
from firmware.ports.esp32 import nvs, security
from hardware.micropython import node_available
from hardware.micropython import run as mp_run
from protocols import audit
from protocols import messages as M
from tests.conftest import AUTHORITY, DEVICE, KEY, T0, make_permit
from tests.fakes.fake_esp32 import FakeMachine, FakeTime, build_module, fake_esp32
from tests.fakes.fake_espefuse import Efuses, Mem32
from tests.fakes.fake_machine import FakeClock
from tests.test_esp32_port import FakeIO

REPO = Path(__file__).resolve().parent.parent
BOARDS = {c: json.loads((REPO / "hardware" / "boards" / f"{n}.json").read_text())
          for c, n in (("esp32", "esp32-devkitc"), ("esp32s3", "esp32-s3-devkitc-1"))}

HARD = {
    "esp32": dict(FLASH_CRYPT_CNT=0x7F, ABS_DONE_1=1, JTAG_DISABLE=1, DISABLE_DL_ENCRYPT=1,
                  DISABLE_DL_DECRYPT=1, DISABLE_DL_CACHE=1, UART_DOWNLOAD_DIS=1,
                  SECURE_VERSION=1),
    "esp32s3": dict(SPI_BOOT_CRYPT_CNT=7, SECURE_BOOT_EN=1, DIS_PAD_JTAG=1, DIS_USB_JTAG=1,
                    DIS_DOWNLOAD_MANUAL_ENCRYPT=1, DIS_DOWNLOAD_ICACHE=1,
                    DIS_DOWNLOAD_DCACHE=1, ENABLE_SECURITY_DOWNLOAD=1, SECURE_VERSION=3),
}


def state(chip: str, rev: int = 300, **fuses: int) -> dict[str, Any]:
    e = Efuses(chip, rev).set(**{**HARD[chip], **fuses})
    return security.read_state(Mem32(e.mem32()), chip)


def blank(chip: str, rev: int = 300) -> dict[str, Any]:
    return security.read_state(Mem32(Efuses(chip, rev).mem32()), chip)


# -- security.read_state + platform.hardened -------------------------------------------------


@pytest.mark.parametrize("chip", ["esp32", "esp32s3"])
def test_hardened_board(chip: str) -> None:
    f = state(chip)
    assert platform.hardened(f) == (True, [])
    assert f["rev"] == (300 if chip == "esp32" else 300)
    assert f["secure_version"] == (1 if chip == "esp32" else 2)


@pytest.mark.parametrize("chip, reasons", [
    ("esp32", ["secure_boot", "flash_enc", "jtag", "download", "rollback"]),
    ("esp32s3", ["secure_boot", "flash_enc", "jtag", "download", "rollback"]),
])
def test_blank_board_names_every_missing_defence(chip: str, reasons: list[str]) -> None:
    assert platform.hardened(blank(chip)) == (False, reasons)


@pytest.mark.parametrize("chip, fuses, reason", [
    ("esp32", dict(FLASH_CRYPT_CNT=0), "flash_enc"),
    ("esp32", dict(FLASH_CRYPT_CNT=0x3), "flash_enc"),           # even count: off again
    ("esp32", dict(FLASH_CRYPT_CNT=1), "flash_enc_dev"),         # on, counter can change
    ("esp32", dict(DISABLE_DL_DECRYPT=0), "flash_enc_dev"),      # download mode decrypts
    ("esp32", dict(ABS_DONE_1=0), "secure_boot"),
    ("esp32", dict(JTAG_DISABLE=0), "jtag"),
    ("esp32", dict(UART_DOWNLOAD_DIS=0), "download"),
    ("esp32", dict(SECURE_VERSION=0), "rollback"),
    ("esp32s3", dict(SPI_BOOT_CRYPT_CNT=3), "flash_enc"),
    ("esp32s3", dict(SPI_BOOT_CRYPT_CNT=1), "flash_enc_dev"),
    ("esp32s3", dict(DIS_DOWNLOAD_ICACHE=0), "flash_enc_dev"),
    ("esp32s3", dict(SECURE_BOOT_EN=0), "secure_boot"),
    ("esp32s3", dict(DIS_USB_JTAG=0), "jtag"),                  # pads off, USB-JTAG on
    ("esp32s3", dict(DIS_PAD_JTAG=0), "jtag"),
    ("esp32s3", dict(ENABLE_SECURITY_DOWNLOAD=0), "download"),
    ("esp32s3", dict(SECURE_VERSION=0), "rollback"),
])
def test_partly_hardened_board_names_exactly_what_is_missing(
        chip: str, fuses: dict[str, int], reason: str) -> None:
    assert platform.hardened(state(chip, **fuses)) == (False, [reason])


def test_flash_counter_write_protected_is_release_mode() -> None:
    wr_dis = 1 << Efuses("esp32").defs["FLASH_CRYPT_CNT"]["wr_dis"]
    assert platform.hardened(state("esp32", FLASH_CRYPT_CNT=1, WR_DIS=wr_dis)) == (True, [])
    s3 = 1 << Efuses("esp32s3").defs["SPI_BOOT_CRYPT_CNT"]["wr_dis"]
    assert platform.hardened(state("esp32s3", SPI_BOOT_CRYPT_CNT=1, WR_DIS=s3)) == (True, [])


@pytest.mark.parametrize("rev, apb, ok", [(0, False, False), (100, False, False),
                                          (200, False, False), (300, True, True),
                                          (301, True, True), (300, False, False)])
def test_esp32_revision_from_efuse_and_apb_ctrl_date(rev: int, apb: bool, ok: bool) -> None:
    """v3 needs the APB_CTRL_DATE bit as well as both eFuse bits (as esptool reads it)."""
    e = Efuses("esp32", rev).set(**HARD["esp32"])
    f = security.read_state(Mem32(e.mem32(apb_rev3=apb)), "esp32")
    got = platform.hardened(f)
    assert got == ((True, []) if ok else (False, ["chip_rev"])), (rev, apb, f)
    if not ok:
        assert "CVE-2019-17391" in platform.describe("chip_rev")


def test_s3_secure_download_is_enough_an_esp32_has_none() -> None:
    assert platform.hardened(state("esp32s3"))[0]
    assert platform.hardened(state("esp32s3", ENABLE_SECURITY_DOWNLOAD=0,
                                   DIS_DOWNLOAD_MODE=1))[0]
    f = dict(state("esp32"), download="secure")   # facts from a confused host: refused
    assert platform.hardened(f) == (False, ["download"])


def test_unreadable_or_unknown_chip_is_not_hardened() -> None:
    assert platform.hardened(security.read_state(None, "esp32")) == (False, ["unreadable"])

    class Broken:
        def __getitem__(self, addr: int) -> int:
            raise OSError("bus error")

    assert platform.hardened(security.read_state(Broken(), "esp32s3")) == (False, ["unreadable"])
    assert platform.hardened(security.read_state(Mem32({}), "esp32c3"))[1] == ["unreadable"]
    assert platform.hardened({"readable": True, "chip": "esp8266"}) == (False, ["chip"])


def test_waiver_lets_a_rig_board_run_and_keeps_the_reasons() -> None:
    f = blank("esp32")
    assert platform.hardened(f, "rig bench 3") == (True, ["secure_boot", "flash_enc", "jtag",
                                                          "download", "rollback"])
    assert platform.audit_detail(platform.hardened(f, "rig")[1], "rig").startswith("waived=")
    assert platform.audit_detail([], None) == ""
    assert not platform.must_check("dev") and platform.must_check("production")


def test_reads_only_the_documented_registers() -> None:
    m = Mem32(Efuses("esp32s3").mem32())
    security.read_state(m, "esp32s3")
    assert sorted(set(m.reads)) == [0x6000702C, 0x60007030, 0x60007034, 0x60007038,
                                    0x6000703C, 0x60007050, 0x60007058]


@pytest.mark.skipif(not node_available(), reason="Node/MicroPython WASM missing")
def test_same_facts_on_micropython() -> None:
    cases = {"hard32": ("esp32", Efuses("esp32", 301).set(**HARD["esp32"])),
             "part_s3": ("esp32s3", Efuses("esp32s3", 2).set(
                 **{**HARD["esp32s3"], "SPI_BOOT_CRYPT_CNT": 1}))}
    prog = ["import json", "from firmware.ports.esp32 import security",
            "from firmware.core import platform", "out = {}"]
    for name, (chip, e) in cases.items():
        prog.append(f"out[{name!r}] = security.read_state({e.mem32()!r}, {chip!r})")
        prog.append(f"out[{name!r}]['verdict'] = list(platform.hardened(out[{name!r}]))")
    prog.append("print(json.dumps(out))")
    got = json.loads(mp_run("\n".join(prog) + "\n", timeout=60).strip().splitlines()[-1])
    for name, (chip, e) in cases.items():
        want = security.read_state(e.mem32(), chip)
        ok, reasons = platform.hardened(want)
        assert got[name] == {**want, "verdict": [ok, reasons]}, name


# -- the boot hook: an unhardened production board stays locked ------------------------------


class Board:
    """An ESP32-port app on fakes whose machine.mem32 shows `efuses`."""

    def __init__(self, tmp: Path, efuses: Efuses | None, mode: str = "production",
                 waive: str | None = None) -> None:
        chip = efuses.chip if efuses is not None else "esp32"
        cfg = BOARDS[chip]
        self.clock = FakeClock(step_us=50)
        self.machine = FakeMachine(self.clock)
        if efuses is not None:
            self.machine.mem32 = Mem32(efuses.mem32())  # type: ignore[attr-defined]
        self.machine.Pin(cfg["actuator"]["sense"]).drive(cfg["actuator"]["locked_level"])
        esp = fake_esp32({})
        nvs.write_identity(DEVICE, KEY, esp, AUTHORITY)
        build = build_module(mode, lock_pin=cfg["actuator"]["drive"], board=cfg["name"])
        build.WAIVE_HARDENING = waive  # type: ignore[attr-defined]
        self.io = FakeIO()
        tmp.mkdir(parents=True, exist_ok=True)
        self.app = L.start(build, self.machine, FakeTime(self.clock, utc0=T0), esp,
                           io=self.io, cfg=cfg, store_root=str(tmp / "data"), ble=False)

    def load(self, token: bytes) -> tuple[int, dict[str, Any]]:
        from protocols import frame as F
        self.io.incoming.append(M.encode_msg(M.LOAD_PERMIT, 5, {"token": token}))
        self.io.written.clear()
        self.app.serial_step()
        got = [M.decode_msg(fr) for fr in F.Decoder().feed(bytes(self.io.written))]
        typ, _, fields = [g for g in got if g[1] == 5][0]
        return typ, fields

    def audit(self) -> list[tuple[str, str]]:
        store = self.app.device.store
        return [audit.decode(r)[2:4] for r in store.read_audit(1, 1000)]


@pytest.mark.parametrize("chip", ["esp32", "esp32s3"])
def test_attack_flash_encryption_off_board_refuses_a_valid_permit(tmp_path: Path,
                                                                   chip: str) -> None:
    """A production board whose eFuses say flash encryption is off (its flash, with the
    device key in NVS, is readable by anyone with a cable) refuses a permit the authority
    really signed for it, stays locked, and its boot record says why. The same permit
    loads on the same board hardened: the refusal is the hardening check, nothing else."""
    off = {"esp32": dict(FLASH_CRYPT_CNT=0), "esp32s3": dict(SPI_BOOT_CRYPT_CNT=0)}[chip]
    weak = Board(tmp_path / "weak", Efuses(chip, 300).set(**{**HARD[chip], **off}))
    typ, fields = weak.load(make_permit(1))
    assert typ == M.ERROR, fields
    assert weak.app.device.locked
    boot = [d for code, d in weak.audit() if code == "boot"]
    assert boot and boot[-1].endswith("unhardened=flash_enc"), boot
    strong = Board(tmp_path / "strong", Efuses(chip, 300).set(**HARD[chip]))
    assert strong.load(make_permit(1))[0] == M.OK
    assert [d for code, d in strong.audit() if code == "boot"][-1] == "cause=power_on"


def test_board_without_readable_efuses_stays_locked_dev_build_is_not_checked(
        tmp_path: Path) -> None:
    prod = Board(tmp_path / "p", None)
    assert prod.load(make_permit(1))[0] == M.ERROR
    assert [d for c, d in prod.audit() if c == "boot"][-1].endswith("unhardened=unreadable")
    dev = Board(tmp_path / "d", Efuses("esp32", 300), mode="dev")
    assert dev.load(make_permit(1))[0] == M.OK


def test_rig_waiver_runs_and_is_audited(tmp_path: Path) -> None:
    b = Board(tmp_path, Efuses("esp32", 300), waive="rig bench")
    assert b.load(make_permit(1))[0] == M.OK
    boot = [d for c, d in b.audit() if c == "boot"][-1]
    assert boot == "cause=power_on waived=secure_boot,flash_enc,jtag,download,rollback"


def test_field_consts_name_their_map_entries() -> None:
    """security.py reads each field by a private const (_E_* in the ESP32 map, _S_* in the
    ESP32-S3 one) named after it: each is the index of the entry of that name, and every
    entry has one, so reordering a map cannot make the board judge the wrong bit."""
    import ast

    src = (REPO / "firmware" / "ports" / "esp32" / "security.py").read_text()
    consts: dict[str, int] = {}
    for node in ast.parse(src).body:
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id[:3] in ("_E_", "_S_")):
            call = node.value
            assert isinstance(call, ast.Call) and isinstance(call.args[0], ast.Constant)
            consts[node.targets[0].id] = call.args[0].value
    for prefix, chip in (("_E_", "esp32"), ("_S_", "esp32s3")):
        names = [entry[0] for entry in security.MAPS[chip]]
        mine = {k[3:].lower(): i for k, i in consts.items() if k.startswith(prefix)}
        assert mine == {n: i for i, n in enumerate(names)}, chip
