"""A chip's eFuses for tests, laid out by esptool's own definitions (not by the code under
test): field positions from espefuse/efuse_defs/<chip>.yaml, block read addresses from
espefuse's EfuseDefineBlocks, the ESP32's APB_CTRL_DATE address from esptool's ESP32ROM.

`Efuses(chip)` holds raw field values; `.mem32()` is the register image a board's
`machine.mem32` would show; `.summary_json()` is what `espefuse summary --format json`
prints. `FakeTools` is a runner for hardware/harden.py: it parses each espefuse /
espsecure / esptool command line, refuses what the real tools refuse (unknown eFuse
names, values wider than the field, burning a write-protected field (in command order,
stricter than espefuse's batch burn of a chained call), a missing
--do-not-confirm, a wrong chip or port), applies burns, and records every argv.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import espefuse
import yaml
from espefuse.efuse.esp32 import mem_definition as md32
from espefuse.efuse.esp32s3 import mem_definition as md_s3
from esptool.targets.esp32 import ESP32ROM

DEFS_DIR = Path(espefuse.__file__).resolve().parent / "efuse_defs"
BLOCK_READ = {
    "esp32": {b[2]: b[3] for b in md32.EfuseDefineBlocks.BLOCKS},
    "esp32s3": {b[2]: b[3] for b in md_s3.EfuseDefineBlocks.BLOCKS},
}
KEY_BLOCKS = {"flash_encryption": "BLOCK1", "BLOCK1": "BLOCK1", "secure_boot_v2": "BLOCK2",
              "BLOCK2": "BLOCK2"}
COMMANDS = ("burn-efuse", "burn-key", "burn-key-digest", "write-protect-efuse", "summary")


def field_defs(chip: str) -> dict[str, dict[str, Any]]:
    """name -> {blk, word, pos, len, wr_dis, rd_dis, alt} from espefuse's yaml."""
    data = yaml.safe_load((DEFS_DIR / f"{chip}.yaml").read_text())
    return data["EFUSES"]


class Efuses:
    """Raw values of every eFuse of one chip (all blank), plus the chip revision."""

    def __init__(self, chip: str, rev: int = 300) -> None:
        self.chip = chip
        self.rev = rev
        self.defs = field_defs(chip)
        self.alias = {d["alt"]: n for n, d in self.defs.items() if d.get("alt")}
        self.v: dict[str, int] = dict.fromkeys(self.defs, 0)
        if chip == "esp32":   # what a v3 chip carries from the factory
            self.v["CHIP_VER_REV1"] = int(rev >= 100)
            self.v["CHIP_VER_REV2"] = int(rev >= 200)
            self.v["WAFER_VERSION_MINOR"] = rev % 100
        else:
            self.v["WAFER_VERSION_MAJOR"] = rev // 100
            self.v["WAFER_VERSION_MINOR_LO"] = rev % 100 & 7

    def name(self, n: str) -> str:
        if n in self.defs:
            return n
        if n in self.alias:
            return self.alias[n]
        raise ValueError(f"unknown eFuse {n}")

    def set(self, **values: int) -> Efuses:
        for n, val in values.items():
            self.v[self.name(n)] = val
        return self

    def protected(self, n: str) -> bool:
        bit = self.defs[n]["wr_dis"]
        return bit is not None and bool(self.v["WR_DIS"] >> bit & 1)

    def burn(self, n: str, val: int) -> None:
        n = self.name(n)
        if val >> self.defs[n]["len"]:
            raise ValueError(f"{n}: {val:#x} is wider than {self.defs[n]['len']} bits")
        if self.protected(n) and val & ~self.v[n]:
            raise ValueError(f"{n} is write protected")
        self.v[n] |= val

    def write_protect(self, n: str) -> None:
        self.v["WR_DIS"] |= 1 << self.defs[self.name(n)]["wr_dis"]

    def read_protect(self, n: str) -> None:
        self.v["RD_DIS"] |= 1 << self.defs[self.name(n)]["rd_dis"]

    def mem32(self, apb_rev3: bool | None = None) -> dict[int, int]:
        """address -> 32-bit word, every field placed at its block/word/pos."""
        mem: dict[int, int] = {}
        for n, d in self.defs.items():
            if d["len"] > 32 or not self.v[n]:
                continue
            addr = BLOCK_READ[self.chip][d["blk"]] + 4 * d["word"]
            mem[addr] = mem.get(addr, 0) | self.v[n] << d["pos"]
        if self.chip == "esp32" and (apb_rev3 if apb_rev3 is not None else self.rev >= 300):
            mem[ESP32ROM.APB_CTL_DATE_ADDR] = 1 << ESP32ROM.APB_CTL_DATE_S
        return mem

    def summary_json(self) -> str:
        out = {}
        for n, d in self.defs.items():
            rd = d["rd_dis"]
            hidden = rd is not None and bool(self.v["RD_DIS"] >> rd & 1)
            width = (d["len"] + 3) // 4
            out[n] = {"name": n, "block": d["blk"], "word": d["word"], "pos": d["pos"],
                      "bit_len": d["len"], "readable": not hidden,
                      "writeable": not self.protected(n),
                      "raw_value": "0x" + ("??" * (width // 2) if hidden
                                           else f"{self.v[n]:0{width}x}")}
        return json.dumps(out, indent=4)


class Mem32:
    """machine.mem32 over a register image (unmapped words read 0)."""

    def __init__(self, words: dict[int, int]) -> None:
        self.words = words
        self.reads: list[int] = []

    def __getitem__(self, addr: int) -> int:
        self.reads.append(addr)
        return self.words.get(addr, 0)


class FakeTools:
    """The runner harden.execute calls: (rc, output) for each command line."""

    def __init__(self, efuses: Efuses, port: str = "/dev/ttyUSB0",
                 fail: str | None = None) -> None:
        self.e = efuses
        self.port = port
        self.fail = fail            # a substring of the argv (joined) that makes it fail
        self.calls: list[list[str]] = []
        self.written: list[tuple[int, str]] = []
        self.digests: dict[str, bytes] = {}

    def __call__(self, argv: list[str]) -> tuple[int, str]:
        self.calls.append(list(argv))
        assert argv[:2] == [sys.executable, "-m"], argv
        if self.fail and self.fail in " ".join(argv):
            return 2, "A fatal error occurred: Failed to connect to ESP32: No serial data"
        tool, args = argv[2], argv[3:]
        try:
            return 0, getattr(self, tool)(args)
        except (ValueError, AssertionError, KeyError) as exc:
            return 2, f"A fatal error occurred: {exc}"

    def _target(self, args: list[str]) -> list[str]:
        assert args[:4] == ["--chip", self.e.chip, "--port", self.port], args
        return args[4:]

    def esptool(self, args: list[str]) -> str:
        rest = self._target(args)
        if rest == ["chip-id"]:
            r = self.e.rev
            name = "ESP32-D0WD-V3" if self.e.chip == "esp32" else "ESP32-S3 (QFN56)"
            return (f"Connected to {self.e.chip.upper()} on {self.port}:\n"
                    f"Chip type:          {name} (revision v{r // 100}.{r % 100})\n"
                    "Chip ID: 0x00000000\n")
        assert rest[0] == "write-flash" and len(rest) % 2 == 1, rest
        for off, path in zip(rest[1::2], rest[2::2], strict=True):
            assert Path(path).is_file(), f"{path} does not exist"
            self.written.append((int(off, 0), path))
        return "Hash of data verified.\n"

    def espsecure(self, args: list[str]) -> str:
        cmd, opts = args[0], _options(args[1:])
        if cmd == "digest-sbv2-public-key":
            pem = Path(opts["--keyfile"]).read_bytes()
            digest = hashlib.sha256(pem).digest()
            self.digests[opts["--keyfile"]] = digest
            Path(opts["--output"]).write_bytes(digest)
        elif cmd == "generate-flash-encryption-key":
            assert opts["--keylen"] == "256"
            Path(opts[""]).write_bytes(bytes(range(32)))
        elif cmd == "sign-data":
            assert opts["--version"] == "2"
            Path(opts["--output"]).write_bytes(Path(opts[""]).read_bytes() + b"SIG")
        elif cmd == "encrypt-flash-data":
            assert ("--aes-xts" in args) == (self.e.chip == "esp32s3"), args
            int(opts["--address"])
            data = Path(opts[""]).read_bytes()
            Path(opts["--output"]).write_bytes(bytes(b ^ 0x5A for b in data))
        else:
            raise ValueError(f"espsecure {cmd}: not expected")
        return "espsecure v5.6.0\n"

    def espefuse(self, args: list[str]) -> str:
        rest = self._target(args)
        if rest[:1] == ["summary"]:
            assert rest == ["summary", "--format", "json"], rest
            return 'espefuse v5.6.0\n\n=== Run "summary" command ===\n' + self.e.summary_json()
        assert rest[0] == "--do-not-confirm", "burns must pass --do-not-confirm"
        for cmd, cargs in _chain(rest[1:]):
            getattr(self, "_" + cmd.replace("-", "_"))(cargs)
        return "BURN BLOCK0  - OK (all write block bits are set)\nSuccessful.\n"

    def _burn_efuse(self, a: list[str]) -> None:
        assert a and len(a) % 2 == 0, a
        for n, val in zip(a[::2], a[1::2], strict=True):
            self.e.burn(n, int(val, 0))

    def _burn_key(self, a: list[str]) -> None:
        if self.e.chip == "esp32":
            block, key = KEY_BLOCKS[a[0]], Path(a[1]).read_bytes()
            assert len(a) == 2 and len(key) == 32, a
            self.e.burn(block, int.from_bytes(key, "big"))
            self.e.write_protect(block)
            self.e.read_protect(block)
        else:
            block, key, purpose = a
            assert purpose == "XTS_AES_128_KEY" and len(Path(key).read_bytes()) == 32, a
            self._s3_key(block, Path(key).read_bytes(), 4, read_protect=True)

    def _burn_key_digest(self, a: list[str]) -> None:
        if self.e.chip == "esp32":
            assert len(a) == 1, a
            digest = self.digests[a[0]]
            self.e.burn("BLOCK2", int.from_bytes(digest, "big"))
            self.e.write_protect("BLOCK2")
        else:
            block, pem, purpose = a
            assert purpose == "SECURE_BOOT_DIGEST0", a
            self._s3_key(block, self.digests[pem], 9, read_protect=False)

    def _s3_key(self, block: str, data: bytes, purpose: int, read_protect: bool) -> None:
        idx = int(block[-1])
        self.e.burn(block, int.from_bytes(data, "big"))
        self.e.burn(f"KEY_PURPOSE_{idx}", purpose)
        self.e.write_protect(block)
        self.e.write_protect(f"KEY_PURPOSE_{idx}")
        if read_protect:
            self.e.v["RD_DIS"] |= 1 << idx

    def _write_protect_efuse(self, a: list[str]) -> None:
        assert a, "write-protect-efuse needs names"
        for n in a:
            self.e.write_protect(n)


def _options(args: list[str]) -> dict[str, str]:
    """--opt value pairs and the one positional argument (key "")."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        if args[i] == "--aes-xts":
            i += 1
        elif args[i].startswith("--"):
            out[args[i]] = args[i + 1]
            i += 2
        else:
            assert "" not in out, f"two positional arguments: {args}"
            out[""] = args[i]
            i += 1
    return out


def _chain(args: list[str]) -> list[tuple[str, list[str]]]:
    """espefuse's chained commands: [(command, its arguments)]."""
    out: list[tuple[str, list[str]]] = []
    for a in args:
        if a in COMMANDS:
            out.append((a, []))
        else:
            assert out, f"{a}: not an espefuse command"
            out[-1][1].append(a)
    return out
