"""Power control of a board under test: off, on, cycle; pluggable per rig.

- `Uhubctl`: per-port USB power of a hub that supports it, through `uhubctl` (Debian
  package `uhubctl`): `uhubctl -l LOCATION -p PORT -a off|on`. Many hubs only cut VBUS
  when asked repeatedly; `repeat` adds `-r N`.
- `SerialRelay`: the common USB serial relay modules (CH340, "LCUS-1/2/4", 9600 8N1)
  that take 4-byte commands: 0xA0, relay number (1..n), state (0 open, 1 closed),
  checksum = (0xA0 + relay + state) & 0xFF; e.g. A0 01 01 A2 closes relay 1, A0 01 00 A1
  opens it. Wire the board's supply through the normally-open contact (closed = powered)
  or set `powered_when_closed=False` for the normally-closed one.
- `ProcessPower`: a virtual board's power cut: the board process is killed (SIGKILL) at
  once, or by the board itself at a chosen flash write (see `hardware.virtual.launcher`).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

Runner = Callable[[Sequence[str]], Any]


class PowerError(RuntimeError):
    """The power control could not switch (an infrastructure error, not a test failure)."""


class PowerControl(Protocol):
    """What the fixtures use: switch the board's supply."""

    def off(self) -> None: ...

    def on(self) -> None: ...


def cycle(power: PowerControl, off_s: float = 1.0) -> None:
    """Power off, wait `off_s` (let the board's capacitors drain), power on."""
    power.off()
    time.sleep(off_s)
    power.on()


def _run(cmd: Sequence[str]) -> Any:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)


class Uhubctl:
    """One port of a USB hub with per-port power switching."""

    def __init__(self, location: str, port: int, repeat: int = 0, binary: str = "uhubctl",
                 run: Runner = _run) -> None:
        if not location or port < 1:
            raise ValueError("uhubctl needs the hub location (e.g. 1-1) and a port >= 1")
        self.location = location
        self.port = port
        self.repeat = repeat
        self.binary = binary
        self.run = run

    def command(self, action: str) -> list[str]:
        """The uhubctl command line for `action` ("on" or "off")."""
        cmd = [self.binary, "-l", self.location, "-p", str(self.port), "-a", action]
        if self.repeat and action == "off":
            cmd += ["-r", str(self.repeat)]
        return cmd

    def _switch(self, action: str) -> None:
        try:
            res = self.run(self.command(action))
        except FileNotFoundError:
            raise PowerError(f"{self.binary} not found (apt-get install uhubctl)") from None
        code = getattr(res, "returncode", 0)
        if code != 0:
            why = (getattr(res, "stderr", "") or "").strip().splitlines()
            raise PowerError(f"uhubctl -l {self.location} -p {self.port} -a {action} failed "
                             f"(exit {code}): {why[-1] if why else 'no message'}")

    def off(self) -> None:
        self._switch("off")

    def on(self) -> None:
        self._switch("on")


def relay_command(relay: int, closed: bool) -> bytes:
    """The 4 bytes that open or close `relay` (1..255) of a USB serial relay module."""
    if not 1 <= relay <= 255:
        raise ValueError(f"relay number must be 1..255, not {relay}")
    state = 1 if closed else 0
    return bytes([0xA0, relay, state, (0xA0 + relay + state) & 0xFF])


class SerialRelay:
    """One relay of a USB serial relay module switching the board's supply."""

    def __init__(self, port: str, relay: int = 1, powered_when_closed: bool = True,
                 serial_factory: Callable[[str], Any] | None = None) -> None:
        relay_command(relay, True)  # validates the number
        self.port = port
        self.relay = relay
        self.powered_when_closed = powered_when_closed
        self.serial_factory = serial_factory or _open_relay_port

    def _send(self, powered: bool) -> None:
        data = relay_command(self.relay, powered == self.powered_when_closed)
        try:
            ser = self.serial_factory(self.port)
        except OSError as exc:
            raise PowerError(f"relay {self.port}: cannot open ({exc})") from None
        try:
            ser.write(data)
            ser.flush()
        finally:
            ser.close()

    def off(self) -> None:
        self._send(False)

    def on(self) -> None:
        self._send(True)


def _open_relay_port(port: str) -> Any:
    import serial

    try:
        return serial.Serial(port, 9600, timeout=1)
    except serial.SerialException as exc:
        raise OSError(str(exc)) from None


class ProcessPower:
    """The power of a virtual board: off kills its process (no sync, no goodbye), on
    starts it again on the same state dir. `board` is a hardware.virtual VirtualBoard."""

    def __init__(self, board: Any) -> None:
        self.board = board

    def off(self) -> None:
        self.board.kill()

    def on(self) -> None:
        self.board.start()


def from_config(cfg: dict[str, Any], run: Runner = _run) -> PowerControl:
    """A power control from a rig file's [board.power] table (kind uhubctl or relay)."""
    kind = cfg.get("kind")
    if kind == "uhubctl":
        return Uhubctl(str(cfg.get("hub", "")), int(cfg.get("port", 0)),
                       int(cfg.get("repeat", 0)), run=run)
    if kind == "relay":
        return SerialRelay(str(cfg["port"]), int(cfg.get("relay", 1)),
                           bool(cfg.get("powered_when_closed", True)))
    raise ValueError(f"power kind {kind!r}: use uhubctl or relay (virtual boards: a kill)")
