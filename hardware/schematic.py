"""Wiring schematic of a board, drawn from its board file (hardware/boards/<name>.json)
with schemdraw, so the drawing cannot drift from what the firmware drives.

    .venv/bin/python -m hardware.schematic            # writes docs/schematic-<board>.svg
    .venv/bin/python -m hardware.schematic --check    # exit 1 if a drawing is stale

Connections are drawn as named nets (the board file's `section.role` names, e.g.
`rfid.sck`): the DevKit's GPIO pins on the left, each module and the discrete parts
(MOSFET solenoid driver with flyback diode, position and lid switches, battery divider,
LED) on the right, the power path (1S Li-ion, protected charger, 3.3 V buck-boost into
the DevKit's 3V3 pin, 12 V boost for the solenoid) at the bottom. Part values follow
hardware/boards/WIRING.md; part numbers follow hardware/parts.toml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import schemdraw
import schemdraw.elements as elm

from hardware import boards

DOCS = Path(__file__).resolve().parent.parent / "docs"
PITCH = 0.9                      # vertical distance of two pins / nets
NET = 1.6                        # length of a net stub

# section -> (module title, [(role or power net, module pin label)])
MODULES = {
    "rfid": ("MFRC522 (RC522 board)", [("rfid.sck", "SCK"), ("rfid.mosi", "MOSI"),
                                       ("rfid.miso", "MISO"), ("rfid.cs", "SDA/SS"),
                                       ("rfid.rst", "RST"), ("3V3", "3.3V"),
                                       ("GND", "GND")]),
    "finger": ("R503 fingerprint", [("finger.tx", "RXD"), ("finger.rx", "TXD"),
                                    ("finger.touch", "WAKEUP"), ("3V3", "3.3V"),
                                    ("3V3", "3.3VT"), ("GND", "GND")]),
    "gnss": ("GNSS (NEO-M8N board)", [("gnss.tx", "RXD"), ("gnss.rx", "TXD"),
                                      ("gnss.pps", "PPS"), ("3V3", "VCC"), ("GND", "GND")]),
    "magnetometer": ("QMC5883L (GY-271)", [("magnetometer.sda", "SDA"),
                                           ("magnetometer.scl", "SCL"), ("3V3", "VCC"),
                                           ("GND", "GND")]),
}


def _net(d: schemdraw.Drawing, at: tuple[float, float], name: str, leftward: bool) -> None:
    """A short wire from `at` ending in the net's name."""
    line = elm.Line().at(at)
    line = line.left(NET) if leftward else line.right(NET)
    d.add(line)
    d.add(elm.Label().at(line.end).label(name, loc="left" if leftward else "right",
                                         fontsize=9))


def _devkit(d: schemdraw.Drawing, board: boards.Board) -> None:
    pins = board.pins()
    right = [elm.IcPin(name=f"GPIO{gpio}", side="right", anchorname=role)
             for role, gpio in sorted(pins.items(), key=lambda kv: kv[1])]
    left = [elm.IcPin(name=n, side="left", anchorname=n) for n in ("3V3", "GND", "5V")]
    ic = elm.Ic(pins=left + right, pinspacing=PITCH, edgepadH=0.6, edgepadW=2.6,
                leadlen=0.5, lsize=10, plblsize=9)
    ic.label(f"{board.name}\n{board.data.get('module', '')}", loc="top", fontsize=11)
    d.add(ic.at((0, 0)).right())
    for role in pins:
        _net(d, ic.absanchors[role], role, leftward=False)
    _net(d, ic.absanchors["3V3"], "3V3", leftward=True)
    _net(d, ic.absanchors["GND"], "GND", leftward=True)
    d.add(elm.Label().at(ic.absanchors["5V"]).label("n.c. (fed at 3V3)", loc="left",
                                                    fontsize=8))


def _module(d: schemdraw.Drawing, x: float, y: float, title: str,
            nets: list[tuple[str, str]]) -> float:
    """A module block whose first pin is at (x, y), nets on the left; returns the y
    below it where the next block may start."""
    pins = [elm.IcPin(name=label, side="left", anchorname=f"p{i}")
            for i, (_, label) in enumerate(reversed(nets))]
    ic = elm.Ic(pins=pins, pinspacing=PITCH, edgepadH=0.5, edgepadW=2.4, leadlen=0.5,
                plblsize=9)
    ic.label(title, loc="top", fontsize=10)
    d.add(ic.at((x, y)).right().anchor(f"p{len(nets) - 1}"))
    for i, (net, _) in enumerate(reversed(nets)):
        _net(d, ic.absanchors[f"p{i}"], net, leftward=True)
    return y - PITCH * (len(nets) + 1) - 1.8


def _actuator(d: schemdraw.Drawing, x: float, y: float, act: dict[str, Any]) -> float:
    """Low-side N-MOSFET solenoid driver with flyback diode, and the position switch."""
    d.add(elm.Label().at((x, y)).label("actuator: fail-secure solenoid, energise = unlock",
                                       loc="right", fontsize=10))
    top = (x + 7, y - 1.0)
    d.add(elm.Label().at(top).label("+12V (boost)", loc="left", fontsize=9))
    d.add(elm.Line().at(top).right(2.5))
    d.add(elm.Diode().down(3).reverse().label("1N5819\nflyback", loc="bottom",
                                              fontsize=8))
    d.add(elm.Line().left(2.5))
    coil = d.add(elm.Inductor2().at(top).down(3).label("solenoid\n12 V, 650 mA",
                                                       loc="bottom", fontsize=8))
    fet = d.add(elm.NFet().right().reverse().at(coil.end).anchor("drain").label(
        "AO3400A", loc="right", fontsize=8))
    d.add(elm.Ground().at(fet.source))
    gate = d.add(elm.Resistor().at(fet.gate).left(3).label("100 Ω", fontsize=8))
    d.add(elm.Resistor().at(gate.end).down(2.5).label("100 k", loc="bottom", fontsize=8))
    d.add(elm.Ground())
    _net(d, gate.end, "actuator.drive", leftward=True)
    # position switch: the pin reads locked_level (1) with the bolt home
    sy = y - 12.5
    d.add(elm.Label().at((x, sy + 2.8)).label(
        f"bolt position: reads {act.get('locked_level', 1)} when home", loc="right",
        fontsize=9))
    node = (x + 4, sy)
    d.add(elm.Resistor().at(node).up(2).label("10 k", loc="bottom", fontsize=8))
    d.add(elm.Label().label("3V3", loc="top", fontsize=9))
    d.add(elm.Switch().at(node).down(2).label("microswitch\n(open = home)", loc="bottom",
                                              fontsize=8))
    d.add(elm.Ground())
    _net(d, node, "actuator.sense", leftward=True)
    return sy - 4.5


def _inputs(d: schemdraw.Drawing, x: float, y: float, data: dict[str, Any]) -> float:
    """Lid switch, battery divider, status LED."""
    if "tamper" in data:
        d.add(elm.Switch().at((x + 4, y)).down(2).label("lid switch\n(closed = shut)",
                                                         loc="bottom", fontsize=8))
        d.add(elm.Ground())
        _net(d, (x + 4, y), "tamper.switch", leftward=True)
    if "battery" in data:
        bx = x + 10
        d.add(elm.Resistor().at((bx, y)).up(2).label("100 k", loc="bottom", fontsize=8))
        d.add(elm.Label().label("cell +", loc="top", fontsize=9))
        d.add(elm.Resistor().at((bx, y)).down(2).label("100 k", loc="bottom", fontsize=8))
        d.add(elm.Ground())
        d.add(elm.Line().at((bx, y)).right(1.2))
        d.add(elm.Capacitor().down(2).label("100 nF", loc="bottom", fontsize=8))
        d.add(elm.Ground())
        _net(d, (bx, y), "battery.adc", leftward=True)
    led = data.get("led", {})
    lx = x + 17
    if led.get("kind", "gpio") == "neopixel":
        d.add(elm.Label().at((lx, y)).label("on-board WS2812", loc="right", fontsize=9))
    elif led:
        d.add(elm.Resistor().at((lx, y)).down(2).label("330 Ω", loc="bottom", fontsize=8))
        d.add(elm.LED().down(2).label("ready", loc="bottom", fontsize=8))
        d.add(elm.Ground())
    if led:
        _net(d, (lx, y), "led.pin", leftward=True)
    return y - 6


def _block(d: schemdraw.Drawing, at: tuple[float, float], part: str, what: str) -> elm.Ic:
    box = elm.Ic(pins=[elm.IcPin(name="IN", side="left", anchorname="in"),
                       elm.IcPin(name="OUT", side="right", anchorname="out")],
                 edgepadW=1.8, edgepadH=0.6, leadlen=0.5, plblsize=8)
    box.label(f"{part}\n{what}", loc="top", fontsize=9)
    d.add(box.at(at).right().anchor("in"))
    return box


def _power(d: schemdraw.Drawing, x: float, y: float) -> None:
    """1S cell -> protected charger -> 3.3 V buck-boost -> DevKit 3V3; 12 V boost."""
    d.add(elm.Label().at((x, y + 3.2)).label(
        "power path: 1S Li-ion cell, protected charger, then a 3.3 V buck-boost into the "
        "DevKit's 3V3 pin (not its 5V pin: that LDO draws mA idle; USB unplugged on "
        "battery) and a 12 V boost for the solenoid", loc="right", fontsize=9))
    d.add(elm.BatteryCell().at((x, y)).down(2).reverse().label("18650\n3.0-4.2 V",
                                                               loc="bottom", fontsize=8))
    d.add(elm.Ground())
    chg = _block(d, (x + 1.5, y), "TP4056 + DW01A", "charger, protection")
    d.add(elm.Line().at((x, y)).to(chg.absanchors["in"]))
    out = chg.absanchors["out"]
    bus = (out[0] + 1.5, out[1])
    d.add(elm.Line().at(out).to(bus))
    d.add(elm.Dot().at(bus))
    buck = _block(d, (bus[0] + 1.5, bus[1]), "S9V11F3S5CMA", "3.3 V buck-boost")
    d.add(elm.Line().at(bus).to(buck.absanchors["in"]))
    _net(d, buck.absanchors["out"], "3V3", leftward=False)
    d.add(elm.Line().at(bus).down(4.5))
    boost = _block(d, (bus[0] + 1.5, bus[1] - 4.5), "MT3608", "12 V boost")
    d.add(elm.Line().at((bus[0], bus[1] - 4.5)).to(boost.absanchors["in"]))
    _net(d, boost.absanchors["out"], "+12V (boost)", leftward=False)


def draw(name: str) -> schemdraw.Drawing:
    """The schematic of one board file."""
    board = boards.load(name)
    data = board.data
    d = schemdraw.Drawing(show=False)
    d.config(fontsize=10, unit=2.5)
    _devkit(d, board)
    x, y = 17.0, PITCH * 6
    for sec, (title, nets) in MODULES.items():
        if sec in data:
            keep = [(n, lbl) for n, lbl in nets if "." not in n or n in board.pins()]
            y = _module(d, x, y, title, keep)
    x2, y2 = 30.0, PITCH * 6
    if "actuator" in data:
        y2 = _actuator(d, x2, y2, data["actuator"])
    y2 = _inputs(d, x2, y2, data)
    _power(d, -14.0, min(y, y2, -PITCH * 12) - 2.0)
    return d


def svg(name: str) -> str:
    """The SVG text of one board's schematic (deterministic for the same inputs)."""
    schemdraw.use("svg")
    schemdraw.svgconfig.text = "text"           # <text> elements: searchable, diffable
    data = draw(name).get_imagedata("svg")
    return data.decode() if isinstance(data, bytes) else data


def path_for(name: str) -> Path:
    return DOCS / f"schematic-{name}.svg"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a drawing is stale")
    a = ap.parse_args(argv)
    stale = []
    for name in boards.available():
        text, out = svg(name), path_for(name)
        if a.check:
            if not out.is_file() or out.read_text() != text:
                stale.append(out)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    for p in stale:
        print(f"stale: {p} (run python -m hardware.schematic)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
