"""`armlock flash`: put a build on a board, give it its identity, prove what is there.

Steps (each becomes a row of the report):
  image      with --micropython-image: `esptool --chip CHIP --port PORT --baud B
             write_flash OFFSET IMAGE` (0x1000 on the ESP32, 0x0 on the S3; with --erase,
             `erase_flash` first, which also wipes NVS and the app's data)
  repl       enter the raw REPL over mpremote's serial transport (mpremote's Python
             API, in this process: nothing secret goes on a command line)
  clean      remove the previous firmware/, protocols/ and top-level app files (never
             the app's data: /data on an ESP32, /storage on the virtual board)
  deploy     create the folders and write every file of the build
  provision  write the device id and key (HKDF of the master key and the id) with
             firmware/ports/esp32/nvs.py: esp32.NVS + commit() on an ESP32, identity.json
             in the storage folder on the virtual board (no NVS there). The key crosses the
             raw REPL once as hex inside the executed code (the raw REPL does not echo);
             it is never printed, and any error text is scrubbed of it. The board answers
             with the key's fingerprint, which must match.
  verify     SHA-256 of every file computed on the board, compared with manifest.json
  reset      machine.reset(): the board boots the new firmware
  boot       INFO over the wire protocol: the board answers with the provisioned id

A production build disables Ctrl-C in boot.py and its main.py never returns, so a board
running one cannot be flashed this way again: write a MicroPython image with --erase.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from hardware import boards, harden
from hardware import build as B
from protocols import permit as P

CHUNK = 1024            # file bytes per write call on the board
CHUNKS_PER_EXEC = 4     # write calls per raw-REPL exec
TOP_FILES = ("boot.py", "main.py", "armlock_build.py", "board.json", "boot.mpy", "main.mpy",
             "armlock_build.mpy")
TOP_DIRS = ("firmware", "protocols")
KEY_MASK = "<device key>"


class FlashError(RuntimeError):
    """A step failed; the message names the step and never contains the device key."""


class ReplLink(Protocol):
    """What flash needs from mpremote's SerialTransport."""

    def enter_raw_repl(self, soft_reset: bool = True) -> None: ...
    def exec(self, command: str) -> bytes: ...
    def exec_raw_no_follow(self, command: str) -> None: ...
    def close(self) -> None: ...


Report = list[tuple[str, str]]


def fingerprint(key: bytes) -> str:
    """Public fingerprint of a key (as `armlock keys` and the board print it)."""
    return hashlib.sha256(b"armlock-key-fp" + key).hexdigest()[:16]


def scrub(text: str, key: bytes | None) -> str:
    """`text` with every spelling of the key (hex, HEX, bytes repr) replaced."""
    if not key:
        return text
    for form in (key.hex(), key.hex().upper(), repr(key), str(key)):
        text = text.replace(form, KEY_MASK)
    return text


# -- esptool ---------------------------------------------------------------------------------


def esptool_argv(chip: str, port: str, image: Path, offset: int, baud: int = 460800) -> list[str]:
    """The esptool command line that writes a MicroPython image."""
    return [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud",
            str(baud), "write_flash", f"{offset:#x}", str(image)]


def esptool_erase_argv(chip: str, port: str) -> list[str]:
    return [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "erase_flash"]


def write_image(board: boards.Board, port: str, image: Path, erase: bool = False,
                baud: int = 460800, run: Callable[..., Any] = subprocess.run) -> list[list[str]]:
    """Run esptool (erase, then write); returns the command lines run."""
    if not image.is_file():
        raise FlashError(f"--micropython-image {image}: no such file")
    cmds = []
    if erase:
        cmds.append(esptool_erase_argv(board.chip.esptool_chip, port))
    cmds.append(esptool_argv(board.chip.esptool_chip, port, image, board.image_offset, baud))
    for argv in cmds:
        proc = run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()
            raise FlashError(f"esptool failed ({' '.join(argv[3:])}): "
                             f"{tail[-1] if tail else 'exit ' + str(proc.returncode)}")
    return cmds


# -- mpremote --------------------------------------------------------------------------------


def open_link(port: str, repl_timeout: float = 10.0) -> ReplLink:
    """mpremote's serial transport on `port`, in the raw REPL (after a soft reset)."""
    import contextlib
    import io

    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport
    try:
        # timeout: on a pty mpremote reads without polling first; without a timeout a
        # board that never answers (production build) would block the read forever
        t = SerialTransport(port, baudrate=115200, timeout=1.0)
    except TransportError as exc:
        raise FlashError(f"cannot open {port}: {exc}") from None
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # mpremote prints what it got
            t.enter_raw_repl(soft_reset=True, timeout_overall=repl_timeout)
    except TransportError:
        t.close()
        raise FlashError(f"{port}: no raw REPL (a production build disables it, or another "
                         "program holds the port); write an image with --micropython-image "
                         "--erase to start over") from None
    return t  # type: ignore[return-value]


def _run(link: ReplLink, step: str, code: str, key: bytes | None = None) -> str:
    try:
        return link.exec(code).decode("utf-8", "replace")
    except Exception as exc:  # mpremote TransportError / TransportExecError, OSError
        detail = str(exc).strip().splitlines()
        raise FlashError(scrub(f"{step}: {detail[-1] if detail else type(exc).__name__}",
                               key)) from None


CLEAN_CODE = """import os
def _rm(p):
    try:
        m = os.stat(p)[0]
    except OSError:
        return
    if m & 0x4000:
        for n in os.listdir(p):
            _rm(p + '/' + n)
        os.rmdir(p)
    else:
        os.remove(p)
for _p in %r:
    _rm(_p)
"""

MKDIR_CODE = """import os
for _d in %r:
    try:
        os.mkdir(_d)
    except OSError:
        pass
"""

HASH_CODE = """import hashlib, binascii
_b = bytearray(512)
_mv = memoryview(_b)
for _p in %r:
    try:
        _h = hashlib.sha256()
        with open(_p, 'rb') as _f:
            while True:
                _n = _f.readinto(_b)
                if not _n:
                    break
                _h.update(_mv[:_n])
        print(_p, binascii.hexlify(_h.digest()).decode())
    except OSError:
        print(_p, 'missing')
"""


def clean(link: ReplLink) -> None:
    _run(link, "clean", CLEAN_CODE % (list(TOP_DIRS) + list(TOP_FILES),))


def folders(names: list[str]) -> list[str]:
    """Every folder the files need, parents first."""
    out: set[str] = set()
    for n in names:
        parts = n.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return sorted(out, key=lambda d: (d.count("/"), d))


def write_file(link: ReplLink, name: str, data: bytes) -> None:
    _run(link, f"deploy {name}", f"_f=open({name!r},'wb')\n_w=_f.write")
    pieces = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
    for i in range(0, len(pieces), CHUNKS_PER_EXEC):
        code = "\n".join(f"_w({p!r})" for p in pieces[i:i + CHUNKS_PER_EXEC])
        _run(link, f"deploy {name}", code)
    _run(link, f"deploy {name}", "_f.close()")


def deploy(link: ReplLink, build_dir: Path, manifest: dict[str, Any]) -> tuple[int, int]:
    """Write every manifest file; returns (files, bytes)."""
    names = sorted(manifest["files"])
    _run(link, "deploy", MKDIR_CODE % (folders(names),))
    total = 0
    for n in names:
        data = (build_dir / n).read_bytes()
        if hashlib.sha256(data).hexdigest() != manifest["files"][n]["sha256"]:
            raise FlashError(f"deploy: {build_dir / n} changed since the build; rebuild")
        write_file(link, n, data)
        total += len(data)
    return len(names), total


def board_hashes(link: ReplLink, names: list[str]) -> dict[str, str]:
    out = _run(link, "verify", HASH_CODE % (names,))
    got: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            got[parts[0]] = parts[1]
    return got


def verify(link: ReplLink, manifest: dict[str, Any]) -> list[str]:
    """Files whose SHA-256 on the board differs from the manifest (or that are missing)."""
    names = sorted(manifest["files"])
    got = board_hashes(link, names)
    return [n for n in names if got.get(n) != manifest["files"][n]["sha256"]]


def provision(link: ReplLink, device_id: str, key: bytes,
              authority: tuple[bytes, ...] = ()) -> str:
    """Write the identity (id, key, the authority public keys it trusts) on the board;
    returns where ("nvs" or the identity file)."""
    auth = b"".join(authority).hex()
    code = ("from firmware.ports.esp32 import nvs\n"
            f"nvs.provision({device_id!r}, {key.hex()!r}, None, {auth!r})\n")
    out = _run(link, "provision", code, key).strip().splitlines()
    words = out[-1].split() if out else []
    if len(words) != 4 or words[0] != "provisioned" or words[2] != device_id:
        raise FlashError(scrub(f"provision: unexpected answer {' '.join(words)!r}", key))
    if words[3] != fingerprint(key):
        raise FlashError("provision: the board holds a different key (fingerprint "
                         f"{words[3]}, expected {fingerprint(key)})")
    return words[1]


def reset(link: ReplLink) -> None:
    """machine.reset(); the line may drop as the board resets (the boot step checks it)."""
    try:
        link.exec_raw_no_follow("import machine\nmachine.reset()\n")
    except Exception:  # noqa: S110 - a reset board cannot acknowledge
        pass


def boot_info(port: str, timeout: float = 15.0) -> dict[str, Any]:
    """INFO from the freshly booted board (retried until `timeout`)."""
    from hardware.client import DeviceClient
    from hardware.link.base import LinkError
    from hardware.link.serial import SerialTransport
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with DeviceClient(SerialTransport(port, reconnect_s=2.0), timeout=1.0) as c:
                return c.info()
        except LinkError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise FlashError(f"boot: the board did not answer INFO within {timeout:g} s ({last})")


# -- the whole command -----------------------------------------------------------------------


def flash(port: str, board: str, device_id: str, key: bytes, build_dir: Path | None = None,
          mode: str = "dev", image: Path | None = None, erase: bool = False,
          link_factory: Callable[[str], ReplLink] = open_link,
          run: Callable[..., Any] = subprocess.run, check_boot: bool = True,
          progress: Callable[[str], None] = lambda s: None,
          harden_with: Callable[[], list[tuple[str, str]]] | None = None,
          authority: tuple[bytes, ...] = ()) -> Report:
    """Flash `board` on `port`; returns the report rows (step, what was done).
    harden_with (--production): burns the eFuses and writes the signed, encrypted image
    instead of the plain image step (hardware/harden.py; e.g. `lambda: harden.harden(o)`).
    authority: the authority public keys the board trusts (armlock keys public)."""
    b = boards.load(board)
    if not 1 <= len(device_id) <= P.MAX_ID or not all(0x21 <= ord(c) <= 0x7E for c in device_id):
        raise FlashError(f"--device-id {device_id!r}: 1..{P.MAX_ID} printable ASCII characters "
                         "without spaces (the permit's limit)")
    report: Report = []
    if build_dir is None:
        progress("building")
        manifest = B.build(b.name, mode)
        build_dir = B.default_out(b.name, mode)
        report.append(("build", f"{b.name} {mode} -> {build_dir}"))
    else:
        manifest = B.load_manifest(build_dir)
        if manifest["board"] != b.name:
            raise FlashError(f"{build_dir}: built for {manifest['board']}, not {b.name}")
        report.append(("build", f"using {build_dir} ({manifest['board']} {manifest['mode']})"))
    if harden_with is not None:
        if manifest["mode"] != "production":
            raise FlashError("--production: the build is not a production build")
        progress("hardening the chip")
        try:
            rows = harden_with()
        except harden.HardenError as exc:
            raise FlashError(f"harden: {exc}") from None
        report += [("harden", f"{phase}: {what}") for phase, what in rows]
    elif image is not None:
        progress("writing MicroPython image")
        cmds = write_image(b, port, image, erase, run=run)
        report.append(("image", "; ".join("esptool " + " ".join(c[3:]) for c in cmds)))
    else:
        report.append(("image", "skipped (no --micropython-image)"))
    progress("entering raw REPL")
    link = link_factory(port)
    try:
        report += _on_board(link, build_dir, manifest, device_id, key, progress, authority)
    finally:
        link.close()
    if check_boot:
        progress("waiting for the board to boot")
        info = boot_info(port)
        if info.get("device_id") != device_id:
            raise FlashError(f"boot: the board says it is {info.get('device_id')!r}, "
                             f"not {device_id!r}")
        report.append(("boot", f"INFO: {info['device_id']} fw {info.get('fw_version')} "
                               f"mode {info.get('mode')} runtime {info.get('runtime')}"))
    return report


def _on_board(link: ReplLink, build_dir: Path, manifest: dict[str, Any], device_id: str,
              key: bytes, progress: Callable[[str], None],
              authority: tuple[bytes, ...] = ()) -> Report:
    rows: Report = [("repl", "raw REPL entered (soft reset)")]
    progress("removing the previous firmware")
    clean(link)
    rows.append(("clean", "removed " + ", ".join(f"{d}/" for d in TOP_DIRS)
                 + " and top-level app files"))
    progress("deploying")
    n, size = deploy(link, build_dir, manifest)
    rows.append(("deploy", f"{n} files, {size:,} bytes"))
    progress("provisioning")
    where = provision(link, device_id, key, authority)
    rows.append(("provision", f"{device_id} in {where} (key fingerprint {fingerprint(key)})"))
    progress("verifying")
    bad = verify(link, manifest)
    if bad:
        raise FlashError(f"verify: {len(bad)} of {n} files differ on the board: "
                         + ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
    rows.append(("verify", f"{n}/{n} files match manifest SHA-256"))
    reset(link)
    rows.append(("reset", "machine.reset()"))
    return rows
