"""The full tour on the virtual board: build, start, flash, verify, report.

    run_tour(Path("out/demo")) -> Path of report.html

1. `armlock build` code path: the esp32-devkitc dev build into <out>/build.
2. A dev-mode virtual board (MicroPython WASM under Node) on <out>/board.
3. `armlock flash` code path: deploy the build onto it over its pty (raw REPL), provision
   it with a device id and the key derived from a fresh authority master key
   (<out>/master.key), verify every file, reset, check INFO.
4. The verification suite (hardware/hil/suite) against that running board
   (`--armlock-target pty:<port>`), writing JUnit XML, results.json, report.md and
   report.html into <out>/hil. The board's log lines go to <out>/board.log.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from armlock import authority as auth

BOARD = "esp32-devkitc"
DEVICE_ID = "AL-TOUR-0001"


class TourError(RuntimeError):
    """A step of the tour failed; the message says which."""


def run_tour(out: Path, progress: Callable[[str], None] = print, runtime: str = "micropython",
             k: str | None = None) -> Path:
    """Run the tour into `out` (replaced); return the path of the HTML report."""
    from hardware import build as B
    from hardware import flash as FL
    from hardware.hil import run_suite
    from hardware.virtual.launcher import VirtualBoard

    out = Path(out)
    for sub in ("build", "board", "hil"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    key_path = out / "master.key"
    key_path.unlink(missing_ok=True)
    auth.create_keys(key_path)
    master = auth.load_master_key(key_path)
    progress(f"build: {BOARD} dev -> {out / 'build'}")
    manifest = B.build(BOARD, "dev", out / "build")
    progress(f"build: {len(manifest['files'])} files, {manifest['total_bytes']:,} bytes")
    board = VirtualBoard(out / "board", mode="dev", runtime=runtime)
    log = (out / "board.log").open("w")

    def on_log(line: str) -> None:
        log.write(line + "\n")
        log.flush()

    board.on_log = on_log
    board.start()
    try:
        progress(board.describe())
        key = auth.derive_device_key(master, DEVICE_ID)
        for step, what in FL.flash(board.port, BOARD, DEVICE_ID, key, out / "build", "dev",
                                   progress=lambda s: progress(f"flash: {s}"),
                                   authority=(auth.signer_for(key_path).public,)):
            progress(f"flash: {step}: {what}")
        progress(f"hil: verification suite against pty:{board.port}")
        code = run_suite(f"pty:{board.port}", out / "hil", key=key_path, k=k)
    finally:
        board.stop()
        log.close()
    report = out / "hil" / "report.html"
    if not report.exists():
        raise TourError(f"hil: no report written (pytest exit code {code})")
    if code != 0:
        raise TourError(f"hil: the verification suite failed (pytest exit code {code}); "
                        f"report: {report.resolve()}")
    return report
