"""Rig files (TOML): the boards of one bench, each found by what does not change on
replug, and what the report must say about it. `--armlock-rig FILE`.

    name = "bench-2"
    retries = 1              # infrastructure errors (port missing, busy, no answer,
                             # board lost, flash failed) retried this many times per test
    reconnect_s = 10         # a board that re-enumerates must be back within this

    [[boards]]
    name = "lock-a"          # devices["lock-a"] in tests; the first board is `device`
    usb_serial = "0001A2"    # exactly one of: usb_serial, usb_location ("1-1.4"),
                             #   port ("/dev/ttyUSB0"), ble ("AA:BB:.."), virtual
                             #   ("micropython" | "cpython": the harness starts it)
    board = "esp32-devkitc"  # board definition (hardware/boards); its chip is expected
    chip = "ESP32"           # optional: must agree with the board definition
    manifest = "out/build/manifest.json"   # the firmware build flashed on it
    gnss_port = "/dev/ttyUSB3"             # serial port wired to its GNSS UART
    key = "keys/master.key"                # authority master key it was provisioned with
    mode = "dev"             # virtual boards: dev | production
    [boards.power]           # optional: kind = "uhubctl" (hub, port[, repeat]) or
    kind = "uhubctl"         #   "relay" (port, relay[, powered_when_closed])
    hub = "1-1"
    port = 2
    [boards.options]         # free per-board options for tests (e.g. role = "tag")

Paths are relative to the rig file's folder.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.link.factory import TargetSpec

MAX_RETRIES = 5  # per test, for infrastructure errors
WHERE_KEYS = ("usb_serial", "usb_location", "port", "ble", "virtual")
BOARD_KEYS = frozenset(WHERE_KEYS + ("name", "board", "chip", "manifest", "gnss_port", "key",
                                     "mode", "power", "options"))
TOP_KEYS = frozenset({"name", "retries", "reconnect_s", "boards"})


class RigFileError(ValueError):
    """A rig file that cannot be used, with a one-line message naming the place."""


@dataclass(frozen=True)
class RigBoard:
    """One board of the rig."""

    name: str
    target: TargetSpec
    board: str | None = None
    chip: str | None = None
    manifest: Path | None = None
    gnss_port: str | None = None
    key: Path | None = None
    mode: str = "dev"
    power: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def manifest_sha256(self) -> str | None:
        """SHA-256 of the manifest file (what the report calls the firmware build)."""
        if self.manifest is None:
            return None
        return hashlib.sha256(self.manifest.read_bytes()).hexdigest()

    def identity(self) -> dict[str, Any]:
        """What the report's identity block says about this board's rig entry."""
        return {"name": self.name, "target": str(self.target), "board": self.board,
                "chip": self.chip, "manifest": str(self.manifest) if self.manifest else None,
                "manifest_sha256": self.manifest_sha256()}


@dataclass(frozen=True)
class RigFile:
    """A parsed rig file."""

    path: Path
    name: str
    boards: tuple[RigBoard, ...]
    retries: int = 0
    reconnect_s: float = 10.0

    def board(self, name: str) -> RigBoard:
        for b in self.boards:
            if b.name == name:
                return b
        raise KeyError(f"rig {self.name}: no board {name!r} "
                       f"(boards: {', '.join(b.name for b in self.boards)})")

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def load_rig(path: str | Path) -> RigFile:
    """Parse and check a rig file; RigFileError with the file and board named."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise RigFileError(f"rig file {p}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise RigFileError(f"rig file {p}: not TOML ({exc})") from None
    where = f"rig file {p}"
    _no_unknown(data, TOP_KEYS, where)
    entries = data.get("boards")
    if not isinstance(entries, list) or not entries:
        raise RigFileError(f"{where}: needs at least one [[boards]] table")
    boards = tuple(_board(e, i, p.parent, where) for i, e in enumerate(entries))
    names = [b.name for b in boards]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RigFileError(f"{where}: board names must differ ({', '.join(dup)} twice)")
    retries = data.get("retries", 0)
    reconnect = data.get("reconnect_s", 10.0)
    if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
        raise RigFileError(f"{where}: retries must be an integer 0..{MAX_RETRIES}, "
                           f"not {retries!r}")
    if not isinstance(reconnect, int | float) or not 0 <= reconnect <= 300:
        raise RigFileError(f"{where}: reconnect_s must be 0..300 seconds, not {reconnect!r}")
    return RigFile(p, str(data.get("name", p.stem)), boards, retries, float(reconnect))


def _no_unknown(data: dict[str, Any], known: frozenset[str], where: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise RigFileError(f"{where}: unknown key(s) {', '.join(extra)} "
                           f"(known: {', '.join(sorted(known))})")


def _board(e: Any, i: int, base: Path, where: str) -> RigBoard:
    if not isinstance(e, dict):
        raise RigFileError(f"{where}: boards[{i}] must be a table")
    name = e.get("name")
    here = f"{where}: board {name!r}" if isinstance(name, str) and name else \
        f"{where}: boards[{i}]"
    if not isinstance(name, str) or not name:
        raise RigFileError(f"{here}: needs a name")
    _no_unknown(e, BOARD_KEYS, here)
    given = [k for k in WHERE_KEYS if k in e]
    if len(given) != 1:
        raise RigFileError(f"{here}: give exactly one of {', '.join(WHERE_KEYS)} "
                           f"(got {', '.join(given) or 'none'})")
    target = _target(given[0], e[given[0]], here)
    board_def, chip = e.get("board"), e.get("chip")
    if board_def is not None:
        chip = _check_chip(str(board_def), chip, here)
    mode = e.get("mode", "dev")
    if mode not in ("dev", "production"):
        raise RigFileError(f"{here}: mode must be dev or production, not {mode!r}")
    power = e.get("power")
    if power is not None:
        _check_power(power, target, here)
    manifest = _path(base, e.get("manifest"))
    if manifest is not None and not manifest.is_file():
        raise RigFileError(f"{here}: manifest {manifest} does not exist")
    key = _path(base, e.get("key"))
    if key is not None and not key.is_file():
        raise RigFileError(f"{here}: key {key} does not exist")
    return RigBoard(name, target, board_def, chip, manifest, e.get("gnss_port"), key, mode,
                    power, dict(e.get("options", {})))


def _target(kind: str, value: Any, here: str) -> TargetSpec:
    if not isinstance(value, str) or not value:
        raise RigFileError(f"{here}: {kind} must be a non-empty string")
    if kind in ("usb_serial", "usb_location"):
        return TargetSpec("usb", value)
    if kind == "ble":
        return TargetSpec("ble", value)
    if kind == "virtual":
        if value not in ("micropython", "cpython"):
            raise RigFileError(f"{here}: virtual must be micropython or cpython, not {value!r}")
        return TargetSpec("virtual", value)
    pts = value.startswith("/dev/pts/")
    return TargetSpec("pty" if pts else "serial", value)


def _check_chip(board_def: str, chip: Any, here: str) -> str:
    from hardware import boards

    try:
        b = boards.load(board_def)
    except boards.BoardError as exc:
        raise RigFileError(f"{here}: board {board_def!r}: {exc}") from None
    if chip is not None and str(chip).lower() != b.chip.name.lower():
        raise RigFileError(f"{here}: chip {chip!r} but board {board_def} has {b.chip.name}")
    return b.chip.name


def _check_power(power: Any, target: TargetSpec, here: str) -> None:
    from hardware.power import from_config

    if not isinstance(power, dict):
        raise RigFileError(f"{here}: power must be a table")
    if target.spawns:
        raise RigFileError(f"{here}: a virtual board's power is its process (no power table)")
    try:
        from_config(power)
    except (ValueError, KeyError, TypeError) as exc:
        raise RigFileError(f"{here}: power: {exc}") from None


def _path(base: Path, value: Any) -> Path | None:
    if value is None:
        return None
    p = Path(str(value))
    return p if p.is_absolute() else base / p
