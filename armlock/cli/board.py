"""`armlock virtual-board`: an ESP32 running the armlock firmware, behind a pseudo-terminal."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from armlock.authority.checks import check_device_id
from armlock.cli.common import UserError, console, err_console, friendly
from hardware.virtual.launcher import MODES, RUNTIMES, BoardError, VirtualBoard


def register(app: typer.Typer) -> None:
    """Attach the `virtual-board` command."""
    app.command("virtual-board")(virtual_board)


@friendly
def virtual_board(
    state_dir: Path = typer.Option(
        None, "--state-dir", help="Board flash and storage (kept across runs); default: a "
        "temporary folder removed at exit."),
    mode: str = typer.Option("dev", "--mode", help="dev (REPL, stimulus) or production."),
    runtime: str = typer.Option(
        "micropython", "--runtime", help="micropython (WASM VM under Node) or cpython."),
    heap_kb: int = typer.Option(110, "--heap-kb", help="MicroPython heap budget in KB."),
    device_id: str = typer.Option(
        None, "--device-id", help="Provision this device id (key derived from --keys)."),
    keys: Path = typer.Option(
        None, "--keys", help="Authority master key file for --device-id "
        "(default: $ARMLOCK_KEY or ./armlock-master.key)."),
    reflash: bool = typer.Option(
        False, "--reflash", help="Replace the board's flash with the repo's firmware first "
        "(files copied with mpremote are lost; storage is kept)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the board's log lines."),
) -> None:
    """Start a virtual board, print its pty path, run until Ctrl-C or SIGTERM."""
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if runtime not in RUNTIMES:
        raise UserError(f"--runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if device_id is not None:
        check_device_id(device_id, "--device-id")
    if device_id:
        provision_virtual(state_dir, device_id, keys)
    board = VirtualBoard(state_dir, mode=mode, runtime=runtime, heap_kb=heap_kb,
                         reflash=reflash)
    if verbose:
        board.on_log = lambda line: err_console.print(line, highlight=False, markup=False)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            board.start()
        except BoardError as exc:
            raise UserError(str(exc), code=1) from None
        print(board.describe(), flush=True)
        if state_dir is not None:
            console.print(f"state dir: {state_dir.resolve()}", highlight=False)
        while not stop.wait(0.2) and board.alive:
            pass
        if not board.alive and not stop.is_set():
            tail = " | ".join(list(board.log_lines)[-3:])
            raise UserError(f"virtual board exited (code {board.exit_code}): {tail}", code=1)
    finally:
        board.stop()
        for s, h in old.items():
            signal.signal(s, h)
    console.print("virtual board stopped", highlight=False)


def provision_virtual(state_dir: Path, device_id: str, keys: Path | None) -> None:
    """Provision a virtual board's storage as the factory would: device id, its key
    (derived from the master key) and the authority's public signing key it trusts
    (firmware/app/identity.py's identity file, which the board reads at boot)."""
    from armlock import authority
    from firmware.app.store import FileStore

    path = keys or authority.default_key_path()
    try:
        master = authority.load_master_key(path)
        trusted = (authority.signer_for(path).public,)
    except authority.AuthorityError as exc:
        raise UserError(str(exc)) from None
    storage = state_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    FileStore(str(storage)).save_identity(
        device_id, authority.derive_device_key(master, device_id), trusted)
