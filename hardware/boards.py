"""Board definitions: load a pin map from hardware/boards/<name>.json and refuse bad ones.

A board file names the chip and, per peripheral section, which GPIO does what. `load()`
checks every pin against the chip's facts (pins that do not exist, SPI-flash/PSRAM pins,
GPIO16/17 on an ESP32 WROVER module (its PSRAM), input-only pins used as outputs,
strapping pins, pins the USB serial console owns, the battery ADC on ADC2, a GPIO used
twice, bus ids) and raises `BoardError` with one line naming the file and every problem
found. The firmware reads the same file (copied into the build as board.json) through
firmware/ports/esp32/board.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BOARDS_DIR = Path(__file__).resolve().parent / "boards"

IN, OUT, IO, ADC = "in", "out", "io", "adc"

# section -> pin role -> (direction, required)
SECTIONS: dict[str, dict[str, tuple[str, bool]]] = {
    "rfid": {"sck": (OUT, True), "mosi": (OUT, True), "miso": (IN, True), "cs": (OUT, True),
             "rst": (OUT, True)},
    "finger": {"tx": (OUT, True), "rx": (IN, True), "touch": (IN, False)},
    "gnss": {"tx": (OUT, False), "rx": (IN, True), "pps": (IN, False)},
    "actuator": {"drive": (OUT, True), "sense": (IN, True)},
    "tamper": {"switch": (IN, True)},
    "magnetometer": {"sda": (IO, True), "scl": (IO, True)},
    "battery": {"adc": (ADC, True)},
    "led": {"pin": (OUT, True)},
}
OPTIONAL_SECTIONS = frozenset({"magnetometer", "led"})
TOP_KEYS = frozenset({"name", "title", "chip", "module", "psram", "octal_psram", "mpy_arch",
                      "image_offset", "wdt_ms", *SECTIONS})


class Chip:
    """What a chip's GPIOs can and cannot do (from its datasheet and technical reference)."""

    def __init__(self, name: str, esptool_chip: str, gpios: set[int], image_offset: int,
                 flash: set[int], octal: set[int], input_only: set[int], strapping: set[int],
                 console: dict[int, str], adc1: set[int], uarts: set[int], spis: set[int],
                 i2cs: set[int], archs: tuple[str, ...], psram: set[int] | None = None) -> None:
        self.name, self.esptool_chip, self.gpios = name, esptool_chip, gpios
        self.image_offset, self.flash, self.octal = image_offset, flash, octal
        self.psram = psram or set()   # pins a PSRAM module ("psram": true) wires to its PSRAM
        self.input_only, self.strapping, self.console = input_only, strapping, console
        self.adc1, self.uarts, self.spis, self.i2cs, self.archs = adc1, uarts, spis, i2cs, archs


# ESP32 datasheet v4.x section 2.2 (pin description), 2.4 (strapping pins), 4.1.1 (ADC):
# GPIO6-11 carry the SPI flash, 34-39 are input only, 0/2/5/12/15 are strapping pins
# (12 selects the flash voltage), ADC2 cannot be read while Wi-Fi/BLE is on, 1/3 are the
# UART0 console behind the USB bridge. On a WROVER module (PSRAM, "psram": true) GPIO16/17
# are the PSRAM's chip select and clock (ESP32-WROVER-E datasheet, pin description: the
# module's pads for them are NC).
# ESP32-S3 datasheet v1.x sections 2.3, 3.3 (strapping), 2.3.3 (ADC): GPIO26-32 carry the
# SPI flash/PSRAM, 33-37 the octal PSRAM of R8 modules, 0/3/45/46 are strapping pins,
# 19/20 the native USB (MicroPython's console on S3), 43/44 UART0.
CHIPS: dict[str, Chip] = {
    "esp32": Chip(
        "esp32", "esp32",
        set(range(0, 20)) | {21, 22, 23, 25, 26, 27} | set(range(32, 40)), 0x1000,
        flash=set(range(6, 12)), octal=set(), input_only=set(range(34, 40)),
        strapping={0, 2, 5, 12, 15},
        console={1: "UART0 TX (USB serial console)", 3: "UART0 RX (USB serial console)"},
        adc1=set(range(32, 40)), uarts={1, 2}, spis={1, 2}, i2cs={0, 1}, archs=("xtensawin",),
        psram={16, 17}),
    "esp32s3": Chip(
        "esp32s3", "esp32s3", set(range(0, 22)) | set(range(26, 49)), 0x0,
        flash=set(range(26, 33)), octal=set(range(33, 38)), input_only=set(),
        strapping={0, 3, 45, 46},
        console={19: "USB D- (native USB console)", 20: "USB D+ (native USB console)",
                 43: "UART0 TX", 44: "UART0 RX"},
        adc1=set(range(1, 11)), uarts={1, 2}, spis={1, 2}, i2cs={0, 1}, archs=("xtensawin",)),
}


class BoardError(ValueError):
    """A board file is missing, unreadable or describes an impossible pin map."""


class Board:
    """A validated board: `data` is the parsed file, `chip` the chip's facts."""

    def __init__(self, path: Path, data: dict[str, Any], chip: Chip) -> None:
        self.path = path
        self.data = data
        self.chip = chip

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def mpy_arch(self) -> str:
        return str(self.data["mpy_arch"])

    @property
    def psram(self) -> bool:
        """True if the module has PSRAM (MicroPython's heap is then megabytes, not ~110 KB)."""
        return bool(self.data.get("psram", False))

    @property
    def image_offset(self) -> int:
        return int(str(self.data["image_offset"]), 0)

    def pins(self) -> dict[str, int]:
        """'section.role' -> GPIO for every pin the board uses."""
        out: dict[str, int] = {}
        for sec, roles in SECTIONS.items():
            for role in roles:
                v = self.data.get(sec, {}).get(role)
                if v is not None:
                    out[f"{sec}.{role}"] = v
        return out

    def lock_pin(self) -> tuple[int, int]:
        """(GPIO, level) that commands the bolt locked (solenoid: de-energised if wired so)."""
        a = self.data["actuator"]
        energise = not a.get("energise_unlocks", True)  # energise to lock?
        high = a.get("active_high", True)
        return a["drive"], 1 if energise == high else 0


def available() -> list[str]:
    """Names of the board files in hardware/boards/."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def board_path(name_or_path: str | Path) -> Path:
    """A board name (hardware/boards/<name>.json) or a path to a board file."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        return p
    return BOARDS_DIR / f"{name_or_path}.json"


def load(name_or_path: str | Path) -> Board:
    """Load and validate a board file; raises BoardError (one line) if anything is wrong."""
    path = board_path(name_or_path)
    if not path.is_file():
        raise BoardError(f"board {str(name_or_path)!r}: no such board file {path} "
                         f"(known boards: {', '.join(available())})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoardError(f"{path}: not a readable JSON board file ({exc})") from None
    return validate(data, path)


def validate(data: Any, path: Path | str = "<board>") -> Board:
    """Check a parsed board file; returns a Board or raises BoardError listing every problem."""
    if not isinstance(data, dict):
        raise BoardError(f"{path}: a board file must be a JSON object")
    chip = CHIPS.get(data.get("chip", ""))
    if chip is None:
        raise BoardError(f"{path}: chip {data.get('chip')!r} is not one of "
                         f"{', '.join(sorted(CHIPS))}")
    problems = _check_top(data, chip) + _check_pins(data, chip) + _check_buses(data, chip)
    if problems:
        raise BoardError(f"{path}: " + "; ".join(problems))
    return Board(Path(path), data, chip)


def _check_top(data: dict[str, Any], chip: Chip) -> list[str]:
    out = [f"unknown key {k!r}" for k in data if k not in TOP_KEYS]
    if not isinstance(data.get("name"), str) or not data.get("name"):
        out.append("name must be a non-empty string")
    if data.get("mpy_arch") not in chip.archs:
        out.append(f"mpy_arch {data.get('mpy_arch')!r} is not right for {chip.name} "
                   f"(use {' or '.join(chip.archs)})")
    try:
        off = int(str(data.get("image_offset")), 0)
    except ValueError:
        off = -1
    if off != chip.image_offset:
        out.append(f"image_offset {data.get('image_offset')!r} is wrong for {chip.name} "
                   f"(MicroPython images start at {chip.image_offset:#x})")
    if data.get("octal_psram") and not data.get("psram"):
        out.append("octal_psram is true but psram is not")
    wdt = data.get("wdt_ms", 8000)
    if not isinstance(wdt, int) or isinstance(wdt, bool) or not 0 <= wdt <= 60000:
        out.append(f"wdt_ms {wdt!r} must be an integer 0..60000 (0: no watchdog)")
    for sec in SECTIONS:
        if sec not in data and sec not in OPTIONAL_SECTIONS:
            out.append(f"section {sec!r} is missing")
        elif sec in data and not isinstance(data[sec], dict):
            out.append(f"section {sec!r} must be an object")
    act = data.get("actuator")
    if isinstance(act, dict) and act.get("kind", "solenoid") not in ("solenoid", "servo"):
        out.append(f"actuator.kind {act.get('kind')!r} must be 'solenoid' or 'servo'")
    led = data.get("led")
    if isinstance(led, dict) and led.get("kind", "gpio") not in ("gpio", "neopixel"):
        out.append(f"led.kind {led.get('kind')!r} must be 'gpio' or 'neopixel'")
    bat = data.get("battery")
    if isinstance(bat, dict):
        div = bat.get("divider", [2, 1])
        if not (isinstance(div, list) and len(div) == 2
                and all(isinstance(x, int) and x > 0 for x in div)):
            out.append(f"battery.divider {div!r} must be [num, den] of positive integers")
    return out


def _check_pin(where: str, pin: Any, direction: str, chip: Chip, octal: bool,
               psram: bool) -> str | None:
    if not isinstance(pin, int) or isinstance(pin, bool):
        return f"{where} = {pin!r} is not a GPIO number"
    g = f"{where} = GPIO{pin}"
    if pin not in chip.gpios:
        return f"{g} does not exist on {chip.name}"
    if pin in chip.flash:
        return f"{g} is wired to the SPI flash/PSRAM on {chip.name} (never usable)"
    if psram and pin in chip.psram:
        return f"{g} is wired to the PSRAM of a WROVER module (psram: true)"
    if octal and pin in chip.octal:
        return f"{g} is used by the octal PSRAM of this module"
    if pin in chip.console:
        return f"{g} is the {chip.console[pin]}, which the app needs"
    if pin in chip.input_only and direction in (OUT, IO):
        return f"{g} is input-only on {chip.name} (no output driver), cannot be an output"
    if pin in chip.strapping:
        return (f"{g} is a strapping pin on {chip.name} (its level at reset selects the boot "
                "mode or flash voltage); use another pin")
    if direction == ADC and pin not in chip.adc1:
        return (f"{g} is not an ADC1 pin (ADC2 cannot be read while the radio is on); "
                f"use one of {_ranges(chip.adc1)}")
    return None


def _check_pins(data: dict[str, Any], chip: Chip) -> list[str]:
    out: list[str] = []
    used: dict[int, str] = {}
    octal = bool(data.get("octal_psram", False))
    psram = bool(data.get("psram", False))
    for sec, roles in SECTIONS.items():
        s = data.get(sec)
        if not isinstance(s, dict):
            continue
        for role, (direction, required) in roles.items():
            where = f"{sec}.{role}"
            pin = s.get(role)
            if pin is None:
                if required:
                    out.append(f"{where} is missing")
                continue
            bad = _check_pin(where, pin, direction, chip, octal, psram)
            if bad:
                out.append(bad)
            elif pin in used:
                out.append(f"{where} = GPIO{pin} is already used by {used[pin]}")
            else:
                used[pin] = where
    return out


def _check_buses(data: dict[str, Any], chip: Chip) -> list[str]:
    out: list[str] = []
    uarts: dict[Any, str] = {}
    for sec in ("finger", "gnss"):
        s = data.get(sec)
        if not isinstance(s, dict):
            continue
        u = s.get("uart")
        if u not in chip.uarts:
            out.append(f"{sec}.uart {u!r} must be one of {sorted(chip.uarts)} "
                       "(UART0 is the console)")
        elif u in uarts:
            out.append(f"{sec}.uart {u} is already used by {uarts[u]}")
        else:
            uarts[u] = sec
        baud = s.get("baud")
        if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
            out.append(f"{sec}.baud {baud!r} must be a positive integer")
    rfid = data.get("rfid")
    if isinstance(rfid, dict) and rfid.get("spi") not in chip.spis:
        out.append(f"rfid.spi {rfid.get('spi')!r} must be one of {sorted(chip.spis)} "
                   "(SPI0 is the flash)")
    mag = data.get("magnetometer")
    if isinstance(mag, dict) and mag.get("i2c") not in chip.i2cs:
        out.append(f"magnetometer.i2c {mag.get('i2c')!r} must be one of {sorted(chip.i2cs)}")
    return out


def _ranges(pins: set[int]) -> str:
    s = sorted(pins)
    return f"GPIO{s[0]}-{s[-1]}" if s == list(range(s[0], s[-1] + 1)) else str(s)
