"""Board files (hardware/boards/*.json): the shipped ones are valid and a bad pin map is
refused with one line naming the file and the problem."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from firmware.ports.esp32 import board as fw_board
from hardware import boards

SHIPPED = boards.available()


def data(name: str) -> dict[str, Any]:
    return json.loads(boards.board_path(name).read_text())


def refused(d: dict[str, Any]) -> str:
    with pytest.raises(boards.BoardError) as exc:
        boards.validate(d, "test.json")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("test.json: ")
    return msg


def test_the_boards_are_shipped() -> None:
    assert {"esp32-devkitc", "esp32-devkitc-ve", "esp32-s3-devkitc-1"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_board_is_valid(name: str) -> None:
    b = boards.load(name)
    assert b.name == name
    assert b.mpy_arch == "xtensawin"
    pins = b.pins()
    assert len(set(pins.values())) == len(pins)           # no GPIO used twice
    assert b.lock_pin() == fw_board.lock_level(b.data)     # host and firmware agree


def test_image_offsets() -> None:
    assert boards.load("esp32-devkitc").image_offset == 0x1000
    assert boards.load("esp32-devkitc-ve").image_offset == 0x1000
    assert boards.load("esp32-s3-devkitc-1").image_offset == 0x0


@pytest.mark.parametrize("section, role, pin, words", [
    ("actuator", "drive", 34, "input-only"),          # 34-39 have no output driver
    ("led", "pin", 39, "input-only"),
    ("actuator", "drive", 6, "SPI flash"),
    ("rfid", "cs", 11, "SPI flash"),
    ("tamper", "switch", 12, "strapping"),            # MTDI: flash voltage
    ("rfid", "cs", 0, "strapping"),
    ("finger", "rx", 3, "console"),
    ("battery", "adc", 25, "ADC1"),                   # ADC2: unusable with the radio on
    ("actuator", "sense", 24, "does not exist"),
    ("actuator", "drive", 18, "already used by rfid.sck"),
    ("actuator", "drive", "25", "not a GPIO number"),
])
def test_esp32_bad_pin_refused(section: str, role: str, pin: Any, words: str) -> None:
    d = data("esp32-devkitc")
    d[section][role] = pin
    msg = refused(d)
    assert f"{section}.{role}" in msg and words in msg


@pytest.mark.parametrize("section, role, pin, words", [
    ("actuator", "drive", 26, "SPI flash"),
    ("actuator", "drive", 30, "SPI flash"),
    ("tamper", "switch", 35, "octal PSRAM"),
    ("led", "pin", 46, "strapping"),
    ("finger", "tx", 19, "USB"),
    ("battery", "adc", 11, "ADC1"),
])
def test_s3_bad_pin_refused(section: str, role: str, pin: int, words: str) -> None:
    d = data("esp32-s3-devkitc-1")
    d[section][role] = pin
    msg = refused(d)
    assert f"{section}.{role}" in msg and words in msg


@pytest.mark.parametrize("role, pin", [("tx", 17), ("rx", 16)])
def test_wrover_psram_pins_refused(role: str, pin: int) -> None:
    """GPIO16/17 are the PSRAM's CS and clock on a WROVER module: a board file with
    "psram": true on an ESP32 that uses them is refused."""
    d = data("esp32-devkitc-ve")
    d["finger"][role] = pin
    assert (f"finger.{role} = GPIO{pin} is wired to the PSRAM of a WROVER module "
            "(psram: true)") in refused(d)


def test_wroom_keeps_gpio16_17_until_it_says_psram() -> None:
    d = data("esp32-devkitc")
    assert not d["psram"] and {d["finger"]["tx"], d["finger"]["rx"]} == {16, 17}
    boards.validate(d)
    d["psram"] = True
    msg = refused(d)
    assert "finger.tx = GPIO17 is wired to the PSRAM" in msg
    assert "finger.rx = GPIO16 is wired to the PSRAM" in msg


def test_wrover_board_is_the_wroom_one_with_psram_and_the_uart_moved() -> None:
    """Same peripherals and pins as the WROOM-32E board but the fingerprint UART (off
    GPIO16/17), the battery ADC it moved for that and the GNSS PPS line (not read by the
    firmware), whose pin the battery took."""
    wroom, wrover = boards.load("esp32-devkitc"), boards.load("esp32-devkitc-ve")
    assert wrover.psram and wrover.data["module"] == "ESP32-WROVER-E"
    moved = {"finger.tx", "finger.rx", "battery.adc", "gnss.pps"}
    a, b = wroom.pins(), wrover.pins()
    assert {k: v for k, v in a.items() if k not in moved} == \
        {k: v for k, v in b.items() if k not in moved}
    assert not {16, 17} & set(b.values())


def test_s3_octal_pins_usable_on_quad_module() -> None:
    d = data("esp32-s3-devkitc-1")
    d["octal_psram"] = False
    d["tamper"]["switch"] = 35
    boards.validate(d)


def test_every_problem_listed_in_one_line() -> None:
    d = data("esp32-devkitc")
    d["actuator"]["drive"] = 34
    d["gnss"]["uart"] = 2              # same UART as the fingerprint module
    del d["rfid"]["miso"]
    msg = refused(d)
    for part in ("actuator.drive", "gnss.uart 2 is already used by finger", "rfid.miso is missing"):
        assert part in msg


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(chip="esp8266"), "chip"),
    (lambda d: d.update(mpy_arch="armv7m"), "mpy_arch"),
    (lambda d: d.update(image_offset="0x0"), "image_offset"),
    (lambda d: d.pop("actuator"), "section 'actuator' is missing"),
    (lambda d: d.update(pinz={}), "unknown key 'pinz'"),
    (lambda d: d["finger"].update(uart=0), "finger.uart"),
    (lambda d: d["rfid"].update(spi=0), "rfid.spi"),
    (lambda d: d["actuator"].update(kind="magnet"), "actuator.kind"),
    (lambda d: d["battery"].update(divider=[2, 0]), "battery.divider"),
    (lambda d: d.update(octal_psram=True), "octal_psram is true but psram is not"),
])
def test_bad_settings_refused(change: Any, words: str) -> None:
    d = copy.deepcopy(data("esp32-devkitc"))
    change(d)
    assert words in refused(d)


def test_unknown_board_names_the_known_ones() -> None:
    with pytest.raises(boards.BoardError, match="known boards: esp32-devkitc"):
        boards.load("no-such-board")


def test_unreadable_board_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.json"
    p.write_text("{nope")
    with pytest.raises(boards.BoardError, match="broken.json: not a readable JSON"):
        boards.load(p)


@pytest.mark.parametrize("name", SHIPPED)
def test_wiring_table_covers_every_pin(name: str) -> None:
    """hardware/boards/WIRING.md lists each board's every GPIO."""
    text = (boards.BOARDS_DIR / "WIRING.md").read_text()
    section = text.split(f"\n## {name}\n")[1].split("\n## ")[0]
    for where, pin in boards.load(name).pins().items():
        assert f"| {where} | GPIO{pin} |" in section, where
