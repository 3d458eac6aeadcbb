"""`armlock build` and `armlock flash`: compile the firmware for a board and put it on one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.table import Table

from armlock.authority import AuthorityError, derive_device_key, load_master_key, signer_for
from armlock.authority.checks import check_device_id
from armlock.cli.common import (
    EXIT_ABSENT,
    EXIT_FAILED,
    UserError,
    check_port_path,
    console,
    err_console,
    friendly,
)
from armlock.cli.keys import KEY_OPT, key_path
from hardware import boards, harden
from hardware import build as B
from hardware import flash as FL

BOARD_OPT = typer.Option(..., "--board", help="Board name (hardware/boards/<name>.json) or "
                         "a board file.")
MODE_OPT = typer.Option("dev", "--mode", help="dev (REPL kept for mpremote) or production "
                        "(REPL and Ctrl-C disabled, STIMULUS refused, watchdog on).")


def _table(title: str, rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> Table:
    t = Table(title=title, title_justify="left")
    for i, h in enumerate(headers):
        t.add_column(h, justify="right" if i and h in ("files", "bytes") else "left")
    for r in rows:
        t.add_row(*r)
    return t


@friendly
def build_cmd(board: str = BOARD_OPT, mode: str = MODE_OPT,
              out: Path = typer.Option(None, "--out", help="Deploy folder (default "
                                       "build/<board>-<mode>)."),
              frozen: bool = typer.Option(False, "--frozen", help="Write freeze/manifest.py "
                                          "for a custom MicroPython image instead of .mpy "
                                          "files (needed without PSRAM: see build.py)."),
              freeze_base: str = typer.Option(None, "--freeze-base", metavar="DIR",
                                              help="With --frozen: the folder holding the "
                                              "armlock sources on the machine that builds "
                                              "the image, written into freeze/manifest.py "
                                              "(default: copies beside the manifest)."),
              waive: str = typer.Option(None, "--waive-hardening", metavar="TEXT",
                                        help="For rig builds only: why this build may open "
                                        "on a board that is not hardened (1..40 "
                                        "characters). Recorded in the manifest and in the "
                                        "board's boot audit record; docs/HARDENING.md."),
              as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
              ) -> None:
    """Validate the board file, mpy-cross the firmware for it, write the manifest."""
    if freeze_base is not None and not frozen:
        raise UserError("--freeze-base needs --frozen (it names where the frozen sources "
                        "are)")
    try:
        m = B.build(board, mode, out, frozen=frozen, freeze_base=freeze_base,
                    waive_hardening=waive)
    except (boards.BoardError, B.BuildError) as exc:
        raise UserError(str(exc)) from None
    dest = out if out is not None else B.default_out(m["board"], mode)
    if as_json:
        print(json.dumps({"board": m["board"], "mode": mode, "out": str(dest),
                          "files": len(m["files"]), "total_bytes": m["total_bytes"],
                          "waive_hardening": m["waive_hardening"],
                          "kinds": [{"kind": k, "files": n, "bytes": b}
                                    for k, n, b in B.summary(m)]}, indent=1))
        return
    rows = [(k, str(n), f"{size:,}") for k, n, size in B.summary(m)]
    rows.append(("total", str(len(m["files"])), f"{m['total_bytes']:,}"))
    console.print(f"built {m['board']} ({m['chip']}, -march={m['mpy_arch']}, {mode} mode) "
                  f"into {dest}", highlight=False, soft_wrap=True)
    console.print(_table("", rows, ("kind", "files", "bytes")))
    console.print(f"manifest: {Path(dest) / B.MANIFEST} (SHA-256 of every file)",
                  highlight=False, soft_wrap=True)
    if waive is not None:
        err_console.print(f"[yellow]warning:[/yellow] hardening waived ({waive!r}): this "
                          "build opens on a board that is not hardened; for rig builds "
                          "only, never for the field (recorded in the manifest and the "
                          "boot audit record)", highlight=False)
    if not frozen and not m["psram"]:
        err_console.print(f"[yellow]warning:[/yellow] {m['board']} has no PSRAM: the app's "
                          "modules loaded from .mpy files need about 150 KB of heap, more "
                          "than its ~110 KB; build with --frozen for a custom image "
                          "(bench/bench_build.py has the figures)", highlight=False)
    if frozen:
        where = f"sources under {freeze_base}; " if freeze_base else ""
        console.print(f"freeze manifest: {Path(dest) / 'freeze' / 'manifest.py'} ({where}"
                      "build a MicroPython image with FROZEN_MANIFEST= it, flash it with "
                      "--micropython-image)", highlight=False, soft_wrap=True)


@friendly
def flash_cmd(
    port: str = typer.Option(..., "--port", help="Serial port of the board (or the virtual "
                             "board's pty)."),
    board: str = BOARD_OPT,
    device_id: str = typer.Option(..., "--device-id", help="Device id to provision."),
    key: Path | None = KEY_OPT,
    mode: str = MODE_OPT,
    image: Path = typer.Option(None, "--micropython-image", help="MicroPython firmware "
                               "image to write with esptool first."),
    erase: bool = typer.Option(False, "--erase", help="With --micropython-image: erase the "
                               "whole flash first (NVS and app data too)."),
    build_dir: Path = typer.Option(None, "--build", help="Use this build folder instead of "
                                   "building now."),
    no_boot_check: bool = typer.Option(False, "--no-boot-check", help="Do not wait for the "
                                       "board to answer INFO after the reset."),
    as_json: bool = typer.Option(False, "--json", help="Print the steps as JSON."),
    production: bool = typer.Option(False, "--production", help="Harden the chip first: "
                                    "Secure Boot V2, flash encryption (release), JTAG and "
                                    "ROM download off, anti-rollback (docs/HARDENING.md). "
                                    "eFuses are one-way: the plan is printed and must be "
                                    "confirmed."),
    signing_key: Path = typer.Option(None, "--signing-key", help="--production: the Secure "
                                     "Boot V2 RSA-3072 signing key (PEM)."),
    secure_image: Path = typer.Option(None, "--secure-image", help="--production: the "
                                      "ESP-IDF build folder of the secure MicroPython image "
                                      "(with flash_args)."),
    keys_dir: Path = typer.Option(None, "--keys", help="--production: folder for the "
                                  "flash-encryption key (default: beside --secure-image)."),
    secure_version: int = typer.Option(1, "--secure-version", help="--production: the "
                                       "anti-rollback version burned (unary eFuse)."),
    download: str = typer.Option("secure", "--download", help="--production, ESP32-S3: "
                                 "secure (secure download mode) or disabled."),
    yes_burn: bool = typer.Option(False, "--yes-burn-efuses", help="--production: burn "
                                  "without typing the device id (irreversible)."),
) -> None:
    """Write the image (optional), deploy the build, provision id and key, verify, reset.
    Without --build, builds into ./build/<board>-<mode> first. With --production the chip
    is hardened first (one-way eFuses: see docs/HARDENING.md)."""
    check_device_id(device_id, "--device-id")
    harden_with = None
    if production:
        harden_with = _hardening(board, port, device_id, signing_key, secure_image, keys_dir,
                                 secure_version, download, yes_burn)
        mode = "production"
    if erase and image is None:
        raise UserError("--erase needs --micropython-image (an erased board has no "
                        "MicroPython)")
    check_port_path(port)
    if image is not None:
        _check_image(image)
    try:
        dkey = derive_device_key(load_master_key(key_path(key)), device_id)
        trusted = (signer_for(key_path(key)).public,)
    except AuthorityError as exc:
        raise UserError(str(exc)) from None
    try:
        if build_dir is None:
            build_dir = Path("build") / f"{boards.load(board).name}-{mode}"
            err_console.print(f"[dim]building into {build_dir}...[/dim]", highlight=False)
            B.build(board, mode, build_dir)
        rows = FL.flash(port, board, device_id, dkey, build_dir, mode, image, erase,
                        check_boot=not no_boot_check,
                        progress=lambda s: err_console.print(f"[dim]{s}...[/dim]"),
                        harden_with=harden_with, authority=trusted)
    except boards.BoardError as exc:
        raise UserError(str(exc)) from None
    except B.BuildError as exc:
        raise UserError(str(exc), code=EXIT_FAILED) from None
    except FL.FlashError as exc:
        raise UserError(FL.scrub(str(exc), dkey), code=EXIT_ABSENT) from None
    if as_json:
        print(json.dumps({"device_id": device_id, "port": port,
                          "steps": [{"step": a, "done": b} for a, b in rows]}, indent=1))
        return
    console.print(f"flashed {device_id} on {port}", highlight=False, soft_wrap=True)
    console.print(_table("", [(a, b) for a, b in rows], ("step", "done")))


def _hardening(board: str, port: str, device_id: str, signing_key: Path | None,
               secure_image: Path | None, keys_dir: Path | None, secure_version: int,
               download: str, yes: bool) -> Callable[[], list[tuple[str, str]]]:
    """The --production step for FL.flash: plan, confirmation, burns (hardware/harden.py)."""
    if signing_key is None or secure_image is None:
        missing = "--signing-key" if signing_key is None else "--secure-image"
        raise UserError(f"--production needs {missing} (docs/HARDENING.md)")
    try:
        chip = boards.load(board).chip.esptool_chip
    except boards.BoardError as exc:
        raise UserError(str(exc)) from None
    o = harden.options(chip, port, device_id, signing_key, secure_image,
                       keys_dir if keys_dir is not None else secure_image / "armlock-keys",
                       secure_version, download)
    try:
        o = harden.validate(o)
    except harden.HardenError as exc:
        raise UserError(str(exc)) from None

    def step() -> list[tuple[str, str]]:
        try:
            return harden.harden(o, ask=typer.prompt, yes=yes, run=harden.run_argv,
                                 out=lambda t: console.print(t, highlight=False))
        except harden.HardenError as exc:
            raise UserError(f"harden: {exc}", code=EXIT_FAILED) from None
    return step


def _check_image(image: Path) -> None:
    """An ESP32 firmware image: a readable file starting with the ESP image magic 0xE9."""
    if not image.is_file():
        what = "is a directory" if image.is_dir() else "does not exist"
        raise UserError(f"--micropython-image {image}: {what}, expected a MicroPython "
                        "firmware file (.bin)")
    try:
        with image.open("rb") as f:
            head = f.read(1)
    except OSError as exc:
        raise UserError(f"--micropython-image {image}: cannot read ({exc.strerror})") from None
    if head != b"\xe9":
        got = f"0x{head[0]:02X}" if head else "nothing (empty file)"
        raise UserError(f"--micropython-image {image}: not an ESP32 firmware image (starts "
                        f"with {got}, an image starts with 0xE9)")


def register(app: typer.Typer) -> None:
    """Attach `build` and `flash` to the root command."""
    app.command("build")(build_cmd)
    app.command("flash")(flash_cmd)
