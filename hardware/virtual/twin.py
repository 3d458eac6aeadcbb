"""The CPython twin of board.mjs: the firmware app on stdin/stdout under CPython.

`python -m hardware.virtual.twin --state-dir DIR` imports the board's files from
<state-dir>/flash (flashed from the repo on first use) and drives the same
``start/step/wake_ms`` app API as the WASM board; the launcher puts a pty in front.
There is no REPL in this runtime: 0x03 is data.
"""

from __future__ import annotations

import argparse
import importlib
import os
import selectors
import signal
import sys
import threading
import time
from pathlib import Path

from hardware.virtual.launcher import MODES, REPO, ensure_flash


class HostBoard:
    """What the app sees as `board` under CPython (the JS module of the same name in WASM)."""

    runtime = "cpython"

    def __init__(self, mode: str, storage: Path, reset_cause: str = "power_on") -> None:
        self.mode = mode
        self.storage = str(storage)
        self.reset_cause = reset_cause
        self.heap_kb = 0
        self.rtc_offset_ms = 0
        self.reset_requested = False

    def set_rtc(self, utc_s: int) -> None:
        """Set the board RTC (kept as an offset to host UTC)."""
        self.rtc_offset_ms = int(utc_s) * 1000 - int(time.time() * 1000)

    def rtc_s(self) -> int:
        """The board RTC in UTC seconds."""
        return (int(time.time() * 1000) + self.rtc_offset_ms) // 1000

    def reset(self) -> None:
        """Ask for a hard reset once the current step has returned (REBOOT)."""
        self.reset_requested = True

    def sync(self) -> None:
        """Nothing to do: the app writes host files directly."""

    def log(self, text: str) -> None:
        """A diagnostic line for the host (stderr)."""
        sys.stderr.write(f"board: app: {text}\n")
        sys.stderr.flush()


def run_cpython_board(state_dir: Path, mode: str, tick_ms: int, cause: str = "power_on") -> int:
    """Run the firmware app under CPython on stdin/stdout until stdin ends or SIGTERM.

    A reset asked by the app (REBOOT) re-executes this process with the same pipes."""
    flash, storage = state_dir / "flash", state_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    if ensure_flash(flash):
        _diag(f"flashed firmware from {REPO} into {flash}")
    sys.dont_write_bytecode = True  # keep the board's flash free of __pycache__
    sys.path.insert(0, str(flash))
    app = importlib.import_module("main")  # the board's /flash/main.py, as on the VM

    host = HostBoard(mode, storage, cause)
    t0 = time.monotonic()

    def now_ms() -> int:
        return int((time.monotonic() - t0) * 1000)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _write_all(app.start(host, now_ms(), host.rtc_s()))
    _diag(f"booted cause={cause} state=app firmware={_origin(flash)}")
    if cause == "power_on":
        _diag(f"ready mode={mode} runtime=cpython version={sys.version.split()[0]}")
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ)
    while not stop.is_set():
        wake = app.wake_ms()
        delay = tick_ms if wake is None else max(0, min(tick_ms, wake - now_ms()))
        data = b""
        if sel.select(timeout=delay / 1000):
            data = os.read(0, 65536)
            if not data:
                break
        _write_all(app.step(data, now_ms(), host.rtc_s()))
        if host.reset_requested:
            args = ["--state-dir", str(state_dir), "--mode", mode, "--tick-ms", str(tick_ms),
                    "--reset-cause", "hard"]
            os.execv(sys.executable, [sys.executable, "-m", "hardware.virtual.twin", *args])
    return 0


def _origin(flash: Path) -> str:
    mod = sys.modules.get("firmware")
    where = Path(getattr(mod, "__file__", "") or "")
    return "flash" if flash in where.parents else f"elsewhere:{where}"


def _write_all(data: bytes | None) -> None:
    view = memoryview(data or b"")
    while view:
        view = view[os.write(1, view):]


def _diag(msg: str) -> None:
    sys.stderr.write(f"board: {msg}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry of the CPython twin (`python -m hardware.virtual.twin --state-dir DIR`)."""
    ap = argparse.ArgumentParser(description="CPython twin of hardware/virtual/board.mjs")
    ap.add_argument("--state-dir", required=True, type=Path)
    ap.add_argument("--mode", choices=MODES, default="dev")
    ap.add_argument("--tick-ms", type=int, default=20)
    ap.add_argument("--reset-cause", default="power_on", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    return run_cpython_board(args.state_dir, args.mode, args.tick_ms, args.reset_cause)


if __name__ == "__main__":
    sys.exit(main())
