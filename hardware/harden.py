"""`armlock flash --production`: harden an ESP32 (revision >= v3.0) or ESP32-S3 for good.

Secure Boot V2 (RSA-3072 PSS signing key; the SHA-256 digest of its public key burned),
flash encryption in release mode (a per-device key burned read- and write-protected,
the counter burned to its last value), JTAG off, ROM download off (ESP32) or secure
download mode (S3, default) or off, anti-rollback `secure_version`. eFuses are one-way:
`harden` prints the plan (every eFuse, its effect, that it is irreversible) and burns
only after the device id is typed back or `--yes-burn-efuses` is given.

Order (each step one command line of the installed esptool package, run by `run`):
  probe      `esptool chip-id` (revision) and `espefuse summary --format json`: refuse an
             ESP32 below v3.0 (CVE-2019-17391, CVE-2020-13629) and a chip whose security
             eFuses are not blank
  prepare    on the host only: public-key digest, per-device flash-encryption key
             (kept in --keys, mode 0600), bootloader and app signed (`espsecure sign-data
             --version 2`), every image encrypted for its address (`encrypt-flash-data`)
  keys       flash-encryption key, then the secure-boot digest (`burn-key`, `burn-key-digest`)
  enable     flash encryption counter, secure boot, revoked unused digest slots (S3),
             secure_version
  write      the encrypted images (`esptool write-flash`, the offsets of the build's
             flash_args)
  disable    JTAG, download-mode encryption/decryption/cache, ROM BASIC / direct boot
  check      `espefuse summary` again: the burned digest is the key's, and the core
             (firmware/core/platform.py) finds nothing missing but the download mode
  final      download off / secure download, write-protect the counter and RD_DIS (one
             espefuse call: on an ESP32 WR_DIS bit 2 covers both FLASH_CRYPT_CNT and
             UART_DOWNLOAD_DIS, and with download off no further call reaches the chip)

A failed command stops the sequence; the error names the step and what is burned.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from firmware.core import platform
from firmware.ports.esp32 import security

Runner = Callable[[list[str]], tuple[int, str]]
CHIPS = ("esp32", "esp32s3")
DOWNLOAD = ("secure", "disabled")
CVE_TEXT = ("ESP32 revision v{rev} is below v3.0: its secure boot and flash encryption fall "
            "to voltage / EM fault injection (CVE-2019-17391, CVE-2020-13629); refusing to "
            "harden it (use an ESP32-D0WD-V3 / rev v3.x module or an ESP32-S3)")


class HardenError(RuntimeError):
    """The board cannot be hardened, the burn was not confirmed, or a step failed."""


@dataclass
class Step:
    """One command line; `fuses` (name, value, effect) for the eFuses it burns."""
    phase: str
    title: str
    argv: list[str]
    fuses: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def irreversible(self) -> bool:
        return bool(self.fuses)


@dataclass
class Options:
    chip: str
    target: list[str]          # ["--port", PORT] (tests: a virtual chip)
    device_id: str
    signing_key: Path          # Secure Boot V2 RSA-3072 private key (PEM)
    image_dir: Path            # ESP-IDF build folder of the MicroPython image (flash_args)
    key_dir: Path              # where the per-device flash-encryption key is kept
    work: Path                 # signed and encrypted images
    secure_version: int = 1
    download: str = "secure"   # S3: "secure" (secure download mode) or "disabled"


def options(chip: str, port: str, device_id: str, signing_key: Path, image_dir: Path,
            key_dir: Path, secure_version: int = 1, download: str = "secure",
            work: Path | None = None) -> Options:
    """Options for a board on a serial port (what `armlock flash --production` passes)."""
    return Options(chip, ["--port", port], device_id, Path(signing_key), Path(image_dir),
                   Path(key_dir), Path(work) if work else Path(image_dir) / "armlock-signed",
                   secure_version, download)


def run_argv(argv: list[str]) -> tuple[int, str]:
    """The real runner: (exit code, stdout + stderr)."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def tool(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", name, *args]


def efuse(o: Options, *args: str) -> list[str]:
    return tool("espefuse", "--chip", o.chip, *o.target, "--do-not-confirm", *args)


# -- probe -----------------------------------------------------------------------------------


def probe_steps(o: Options) -> list[Step]:
    return [Step("probe", "chip revision", tool("esptool", "--chip", o.chip, *o.target,
                                                  "chip-id")),
            Step("probe", "eFuse summary", tool("espefuse", "--chip", o.chip, *o.target,
                                                  "summary", "--format", "json"))]


def parse_revision(text: str) -> int:
    """major*100+minor from esptool's "Chip type: ... (revision v3.1)" line."""
    m = re.search(r"revision v(\d+)\.(\d+)", text)
    if m is None:
        raise HardenError("chip-id: esptool did not report the chip revision")
    return int(m.group(1)) * 100 + int(m.group(2))


def parse_summary(text: str) -> dict[str, Any]:
    """The JSON object of `espefuse summary --format json` (after its banner lines)."""
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start:end + 1]) if start >= 0 else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise HardenError("summary: espefuse printed no JSON eFuse summary")
    return data


def raw(summary: dict[str, Any], name: str) -> int:
    """An eFuse's raw value as an integer (0 if espefuse did not list it)."""
    f = summary.get(name)
    if f is None:
        return 0
    try:
        return int(str(f.get("raw_value", "0x0")), 16)
    except ValueError:   # an unreadable block prints "??"
        return -1


# espefuse's name of each field firmware/ports/esp32/security.py reads from the registers
FIELDS = {
    "esp32": {"wr_dis": "WR_DIS", "crypt_cnt": "FLASH_CRYPT_CNT",
              "uart_dl_dis": "UART_DOWNLOAD_DIS", "abs_done_1": "ABS_DONE_1",
              "jtag_dis": "JTAG_DISABLE", "dl_enc_dis": "DISABLE_DL_ENCRYPT",
              "dl_dec_dis": "DISABLE_DL_DECRYPT", "dl_cache_dis": "DISABLE_DL_CACHE",
              "secure_version": "SECURE_VERSION"},
    "esp32s3": {"wr_dis": "WR_DIS", "dl_icache_dis": "DIS_DOWNLOAD_ICACHE",
                "dl_dcache_dis": "DIS_DOWNLOAD_DCACHE", "pad_jtag_dis": "DIS_PAD_JTAG",
                "dl_enc_dis": "DIS_DOWNLOAD_MANUAL_ENCRYPT", "crypt_cnt": "SPI_BOOT_CRYPT_CNT",
                "sb_en": "SECURE_BOOT_EN", "usb_jtag_dis": "DIS_USB_JTAG",
                "dl_dis": "DIS_DOWNLOAD_MODE", "sec_dl": "ENABLE_SECURITY_DOWNLOAD",
                "secure_version": "SECURE_VERSION"},
}


def facts(chip: str, rev: int, s: dict[str, Any]) -> dict[str, Any]:
    """The facts firmware/core/platform.py judges, from an espefuse summary: the same
    derivation the board makes from its registers at boot (security.judge); the revision
    is esptool's (it needs a register outside the eFuses)."""
    named = {k: max(raw(s, n), 0) for k, n in FIELDS[chip].items()}  # revision fields: 0
    out = security.judge(chip, [named.get(entry[0], 0) for entry in security.MAPS[chip]])
    out["rev"] = rev
    return out


# eFuses that must still be blank before the plan runs (the plan assumes a fresh chip).
BLANK = {
    "esp32": ("FLASH_CRYPT_CNT", "ABS_DONE_0", "ABS_DONE_1", "JTAG_DISABLE",
              "UART_DOWNLOAD_DIS", "DISABLE_DL_ENCRYPT", "DISABLE_DL_DECRYPT",
              "DISABLE_DL_CACHE", "SECURE_VERSION", "RD_DIS", "BLOCK1", "BLOCK2",
              "CODING_SCHEME"),
    "esp32s3": ("SPI_BOOT_CRYPT_CNT", "SECURE_BOOT_EN", "DIS_PAD_JTAG", "SOFT_DIS_JTAG",
                "DIS_USB_JTAG", "DIS_DOWNLOAD_MODE", "ENABLE_SECURITY_DOWNLOAD",
                "SECURE_VERSION", "KEY_PURPOSE_0", "KEY_PURPOSE_1", "BLOCK_KEY0",
                "BLOCK_KEY1", "SECURE_BOOT_KEY_REVOKE0", "SECURE_BOOT_KEY_REVOKE1",
                "SECURE_BOOT_KEY_REVOKE2", "RD_DIS"),
}


def check_chip(o: Options, rev: int, summary: dict[str, Any]) -> None:
    """HardenError unless this chip may be hardened by this plan."""
    if o.chip == "esp32" and rev < platform.ESP32_MIN_REV:
        raise HardenError(CVE_TEXT.format(rev=f"{rev // 100}.{rev % 100}"))
    burned = [n for n in BLANK[o.chip] if raw(summary, n) != 0]
    if burned:
        raise HardenError("eFuses not blank (burned or unreadable): " + ", ".join(burned)
                          + "; this plan only hardens a blank chip (nothing was changed)")


# -- the plan --------------------------------------------------------------------------------


@dataclass
class Image:
    offset: int
    path: Path
    role: str                  # bootloader | partition_table | app | plain


def read_flash_args(image_dir: Path) -> list[Image]:
    """(offset, file, role) of every image in ESP-IDF's build/flash_args."""
    p = image_dir / "flash_args"
    try:
        lines = p.read_text().split("\n")
    except OSError:
        raise HardenError(f"{p}: missing (the ESP-IDF build folder of the signed-boot "
                          "MicroPython image, see docs/HARDENING.md)") from None
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0].startswith("--"):
            continue
        name = parts[1]
        role = ("bootloader" if "bootloader" in name else "partition_table"
                if "partition" in name else "plain" if "ota_data" in name else "app")
        path = image_dir / name
        if not path.is_file():
            raise HardenError(f"{p}: lists {name}, which is missing")
        out.append(Image(int(parts[0], 0), path, role))
    if not any(i.role == "bootloader" for i in out) or not any(i.role == "app" for i in out):
        raise HardenError(f"{p}: needs a bootloader and an app image")
    return out


def fe_key(o: Options) -> Path:
    return o.key_dir / f"{o.device_id}.flash_encryption_key.bin"


def prepare_steps(o: Options, images: list[Image]) -> tuple[list[Step], list[Image]]:
    """Host-only steps and the images to write (signed, encrypted)."""
    key = fe_key(o)
    steps = [Step("prepare", "secure boot public-key digest", tool(
        "espsecure", "digest-sbv2-public-key", "--keyfile", str(o.signing_key),
        "--output", str(o.work / "sbv2_digest.bin")))]
    if not key.exists():
        steps.append(Step("prepare", "per-device flash-encryption key", tool(
            "espsecure", "generate-flash-encryption-key", "--keylen", "256", str(key))))
    out = []
    for img in images:
        src = img.path
        if img.role in ("bootloader", "app"):
            signed = o.work / f"{src.stem}.signed.bin"
            steps.append(Step("prepare", f"sign {src.name}", tool(
                "espsecure", "sign-data", "--version", "2", "--keyfile", str(o.signing_key),
                "--output", str(signed), str(src))))
            src = signed
        if img.role != "plain":
            enc = o.work / f"{img.path.stem}.enc.bin"
            xts = ["--aes-xts"] if o.chip == "esp32s3" else []
            steps.append(Step("prepare", f"encrypt {img.path.name} for {img.offset:#x}", tool(
                "espsecure", "encrypt-flash-data", *xts, "--keyfile", str(key),
                "--address", str(img.offset), "--output", str(enc), str(src))))
            src = enc
        out.append(Image(img.offset, src, img.role))
    return steps, out


def thermometer(n: int) -> str:
    return hex((1 << n) - 1)


Fuse = tuple[str, str, str]   # (eFuse, value, effect)

ENABLE: dict[str, list[Fuse]] = {
    "esp32": [("FLASH_CRYPT_CONFIG", "0xf", "every key bit tweaked by the address"),
              ("FLASH_CRYPT_CNT", "0x7f", "flash encryption on, for good (all 7 bits)"),
              ("ABS_DONE_1", "1", "the ROM boots only a bootloader signed by the key")],
    "esp32s3": [("SPI_BOOT_CRYPT_CNT", "7", "flash encryption on, for good"),
                ("SECURE_BOOT_EN", "1", "the ROM boots only a bootloader signed by the key"),
                ("SECURE_BOOT_KEY_REVOKE1", "1", "digest slot 1 can never hold a key"),
                ("SECURE_BOOT_KEY_REVOKE2", "1", "digest slot 2 can never hold a key")],
}
DISABLE: dict[str, list[Fuse]] = {
    "esp32": [("JTAG_DISABLE", "1", "JTAG off for good"),
              ("DISABLE_DL_ENCRYPT", "1", "download mode cannot encrypt"),
              ("DISABLE_DL_DECRYPT", "1", "download mode cannot read flash decrypted"),
              ("DISABLE_DL_CACHE", "1", "download mode cannot read flash via cache"),
              ("CONSOLE_DEBUG_DISABLE", "1", "no ROM BASIC console")],
    "esp32s3": [("DIS_PAD_JTAG", "1", "JTAG pads off for good"),
                ("SOFT_DIS_JTAG", "7", "JTAG off in software, for good"),
                ("DIS_USB_JTAG", "1", "USB-JTAG off"),
                ("DIS_DOWNLOAD_MANUAL_ENCRYPT", "1", "download mode cannot encrypt"),
                ("DIS_DOWNLOAD_ICACHE", "1", "download mode cannot read flash via cache"),
                ("DIS_DOWNLOAD_DCACHE", "1", "download mode cannot read flash via cache"),
                ("DIS_DIRECT_BOOT", "1", "no legacy boot that skips verification")],
}
NO_ESPTOOL = "ROM download mode off: no esptool ever again"
DOWNLOAD_FUSE: dict[tuple[str, str], Fuse] = {
    ("esp32", "disabled"): ("UART_DOWNLOAD_DIS", "1", NO_ESPTOOL),
    ("esp32s3", "disabled"): ("DIS_DOWNLOAD_MODE", "1", NO_ESPTOOL),
    ("esp32s3", "secure"): ("ENABLE_SECURITY_DOWNLOAD", "1", "secure download mode: flash "
                            "can be written (encrypted images only), never read"),
}
PROTECT = {"esp32": ["FLASH_CRYPT_CNT", "RD_DIS", "DIS_CACHE"],
           "esp32s3": ["SPI_BOOT_CRYPT_CNT", "RD_DIS"]}
DIGEST_EFFECT = "SHA-256 of the signing public key; write-protected"


def key_steps(o: Options) -> list[Step]:
    """The flash-encryption key, then the secure-boot digest."""
    key, pub = str(fe_key(o)), str(o.signing_key)
    if o.chip == "esp32":
        return [Step("keys", "flash-encryption key",
                     efuse(o, "burn-key", "flash_encryption", key),
                     [("BLOCK1", "<key>", "AES-256 flash key; read- and write-protected")]),
                Step("keys", "secure boot digest", efuse(o, "burn-key-digest", pub),
                     [("BLOCK2", "<digest>", DIGEST_EFFECT)])]
    return [Step("keys", "flash-encryption key",
                 efuse(o, "burn-key", "BLOCK_KEY0", key, "XTS_AES_128_KEY"),
                 [("BLOCK_KEY0", "<key>", "XTS-AES-128 flash key; read- and write-protected"),
                  ("KEY_PURPOSE_0", "XTS_AES_128_KEY", "the key is for flash encryption")]),
            Step("keys", "secure boot digest",
                 efuse(o, "burn-key-digest", "BLOCK_KEY1", pub, "SECURE_BOOT_DIGEST0"),
                 [("BLOCK_KEY1", "<digest>", DIGEST_EFFECT),
                  ("KEY_PURPOSE_1", "SECURE_BOOT_DIGEST0", "the only key images may be "
                   "signed with")])]


def chip_steps(o: Options, written: list[Image]) -> list[Step]:
    """keys, enable, write, disable, check, final (see the module docstring)."""
    enable = ENABLE[o.chip] + [("SECURE_VERSION", thermometer(o.secure_version),
                                f"images below secure_version {o.secure_version} never boot")]
    disable = DISABLE[o.chip]
    dl = DOWNLOAD_FUSE[(o.chip, o.download)]
    protect = PROTECT[o.chip]
    write = tool("esptool", "--chip", o.chip, *o.target, "write-flash",
                 *[a for i in written for a in (f"{i.offset:#x}", str(i.path))])
    return key_steps(o) + [
        Step("enable", "enable secure boot and flash encryption",
             efuse(o, "burn-efuse", *_pairs(enable)), enable),
        Step("write", "write the signed, encrypted images", write),
        Step("disable", "disable JTAG and download-mode flash access",
             efuse(o, "burn-efuse", *_pairs(disable)), disable),
        Step("check", "read the eFuses back", tool(
            "espefuse", "--chip", o.chip, *o.target, "summary", "--format", "json")),
        Step("final", "download mode, write protection",
             efuse(o, "burn-efuse", *_pairs([dl]), "write-protect-efuse", *protect),
             [dl, *[(n, "write-protect", "can no longer change") for n in protect]]),
    ]


def _pairs(fuses: list[Fuse]) -> list[str]:
    return [a for name, value, _ in fuses for a in (name, value)]


def plan_text(o: Options, steps: list[Step]) -> str:
    """What will happen, eFuse by eFuse, and what it costs."""
    lines = [f"Hardening {o.device_id} ({o.chip} on {' '.join(o.target)}). eFuses are "
             "one-way: every line marked IRREVERSIBLE stays burned for the life of the chip.",
             "After this: only images signed with "
             f"{o.signing_key.name} boot; flash reads give ciphertext; JTAG is gone; "
             + ("ROM download mode is gone (no esptool, no recovery by cable)."
                if o.chip == "esp32" or o.download == "disabled" else
                "only secure download mode remains (write encrypted images, never read)."),
             f"The flash-encryption key is kept in {fe_key(o)}: whoever holds it can "
             "decrypt a dump of this board."]
    for n, st in enumerate(steps, 1):
        lines.append(f"{n:2}. [{st.phase}] {st.title}")
        for name, value, effect in st.fuses:
            lines.append(f"      IRREVERSIBLE  {name} = {value}: {effect}")
    return "\n".join(lines)


# -- running ---------------------------------------------------------------------------------


def chip_state(done: list[Step]) -> str:
    """What is burned after `done` (the steps that succeeded), in words."""
    burned = [name for st in done for name, *_ in st.fuses]
    if not burned:
        return "nothing was burned; the chip is as it was"
    wrote = any(st.phase == "write" for st in done)
    return ("burned so far: " + ", ".join(burned) + "; the signed, encrypted images were "
            + ("written" if wrote else "NOT written") + ". ROM download mode still works "
            "until the final step: fix the cause and run the remaining steps by hand "
            "(docs/HARDENING.md)")


def execute(steps: list[Step], run: Runner, check: Callable[[str], None],
            progress: Callable[[str], None]) -> list[tuple[str, str]]:
    """Run every step in order; stop at the first failure (HardenError with the state)."""
    done: list[Step] = []
    rows = []
    for n, st in enumerate(steps, 1):
        progress(st.title)
        try:
            rc, out = run(st.argv)
        except OSError as exc:
            rc, out = -1, str(exc)
        if rc == 0 and st.phase == "check":
            try:
                check(out)
            except HardenError as exc:
                raise HardenError(f"step {n} ({st.title}): {exc}; {chip_state(done)}") from None
        if rc != 0:
            tail = [t for t in out.strip().splitlines() if t.strip()]
            raise HardenError(f"step {n} ({st.title}) failed: "
                              f"{tail[-1] if tail else 'exit ' + str(rc)}; {chip_state(done)}")
        done.append(st)
        rows.append((st.phase, st.title))
    return rows


def check_after(o: Options, rev: int) -> Callable[[str], None]:
    """The check step: digest burned is the key's; nothing but download mode missing."""
    def check(out: str) -> None:
        s = parse_summary(out)
        digest = (o.work / "sbv2_digest.bin").read_bytes()
        block = "BLOCK_KEY1" if o.chip == "esp32s3" else "BLOCK2"
        if raw(s, block) != int.from_bytes(digest, "big"):
            raise HardenError(f"{block} does not hold the digest of {o.signing_key.name}")
        _, reasons = platform.hardened(facts(o.chip, rev, s))
        if reasons != ["download"]:
            raise HardenError("the core still finds: " + ", ".join(
                platform.describe(r) for r in reasons if r != "download"))
    return check


def harden(o: Options, ask: Callable[[str], str] | None = None, yes: bool = False,
           run: Runner = run_argv, out: Callable[[str], None] = print,
           progress: Callable[[str], None] = lambda s: None) -> list[tuple[str, str]]:
    """Probe, print the plan, confirm, burn. Returns report rows (phase, what)."""
    o = validate(o)
    images = read_flash_args(o.image_dir)
    rev_step, sum_step = probe_steps(o)
    rev = parse_revision(_must(run, rev_step))
    summary = parse_summary(_must(run, sum_step))
    check_chip(o, rev, summary)
    o.work.mkdir(parents=True, exist_ok=True)
    o.key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    prep, written = prepare_steps(o, images)
    steps = prep + chip_steps(o, written)
    out(plan_text(o, steps))
    if not yes:
        typed = ask(f"Type the device id ({o.device_id}) to burn these eFuses") if ask else ""
        if typed.strip() != o.device_id:
            raise HardenError("not confirmed (type the device id, or pass --yes-burn-efuses); "
                              "nothing was burned")
    try:
        return execute(steps, run, check_after(o, rev), progress)
    finally:
        if fe_key(o).exists():
            os.chmod(fe_key(o), 0o600)


def validate(o: Options) -> Options:
    """The options checked (HardenError in the user's terms); an ESP32 has no secure
    download mode, so its download mode is always disabled."""
    if o.chip not in CHIPS:
        raise HardenError(f"{o.chip}: only esp32 (rev >= 3.0) and esp32s3 can be hardened")
    if o.download not in DOWNLOAD:
        raise HardenError(f"--download {o.download!r}: one of {', '.join(DOWNLOAD)}")
    if o.chip == "esp32":
        o = replace(o, download="disabled")
    top = 32 if o.chip == "esp32" else 16
    if not 1 <= o.secure_version <= top:
        raise HardenError(f"--secure-version {o.secure_version}: 1..{top} (the eFuse counts "
                          "versions in unary)")
    if not o.signing_key.is_file():
        raise HardenError(f"{o.signing_key}: no signing key (espsecure generate-signing-key "
                          "--version 2 --scheme rsa3072 KEY.pem)")
    return o


def _must(run: Runner, st: Step) -> str:
    rc, text = run(st.argv)
    if rc != 0:
        tail = [t for t in text.strip().splitlines() if t.strip()]
        raise HardenError(f"{st.title}: {tail[-1] if tail else 'exit ' + str(rc)} "
                          "(nothing was burned)")
    return text
