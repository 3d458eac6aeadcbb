"""`armlock flash --production`'s hardening step (hardware/harden.py).

Against FakeTools (tests/fakes/fake_espefuse.py: every command line parsed and checked,
eFuses laid out by espefuse's own definitions) and, for the eFuse burns, against the real
espefuse of the installed esptool package on a virtual chip (`espefuse --virt`) with the
real espsecure signing and encrypting: what the user relies on is that the plan is shown,
nothing burns without confirmation, old ESP32s are refused, the burns come in a safe
order, a failure stops everything and says what is burned, and the chip ends up in the
state the board's own boot check (firmware/ports/esp32/security.py + the core) accepts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from firmware.core import platform
from firmware.ports.esp32 import security
from hardware import flash as FL
from hardware import harden as H
from tests.fakes.fake_espefuse import Efuses, FakeTools, Mem32

PORT = "/dev/ttyUSB0"
DEVICE = "AL-0042"
OFFSETS = {"esp32": 0x1000, "esp32s3": 0x0}


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    p = tmp_path_factory.mktemp("keys") / "secure_boot_signing_key.pem"
    p.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()))
    return p


def image_dir(tmp: Path, chip: str) -> Path:
    """An ESP-IDF build folder as the MicroPython esp32 port leaves it (flash_args)."""
    d = tmp / f"build-{chip}"
    (d / "bootloader").mkdir(parents=True)
    (d / "partition_table").mkdir()
    (d / "bootloader" / "bootloader.bin").write_bytes(b"\xe9" + bytes(4095))
    (d / "partition_table" / "partition-table.bin").write_bytes(b"\xaa\x50" + bytes(3070))
    (d / "micropython.bin").write_bytes(b"\xe9" + bytes(range(256)) * 64)
    (d / "flash_args").write_text(
        "--flash_mode dio --flash_freq 40m --flash_size 4MB\n"
        f"{OFFSETS[chip]:#x} bootloader/bootloader.bin\n0x10000 micropython.bin\n"
        "0x8000 partition_table/partition-table.bin\n")
    return d


def opts(tmp: Path, chip: str, key: Path, **over: object) -> H.Options:
    o = H.options(chip, PORT, DEVICE, key, image_dir(tmp, chip), tmp / "keys")
    return replace(o, **over)  # type: ignore[arg-type]


SUBCOMMANDS = ("chip-id", "write-flash", "summary", "burn-efuse", "burn-key", "burn-key-digest",
               "write-protect-efuse", "digest-sbv2-public-key", "generate-flash-encryption-key",
               "sign-data", "encrypt-flash-data")


def sub(argv: list[str]) -> str:
    """The tool and subcommand(s) of a command line, without interpreter, target, values."""
    return " ".join([argv[2]] + [a for a in argv[3:] if a in SUBCOMMANDS])


def burned_order(calls: list[list[str]]) -> list[str]:
    """eFuse names in the order the command lines burn or protect them."""
    out = []
    for argv in calls:
        if argv[2] != "espefuse" or "--do-not-confirm" not in argv:
            continue
        rest = argv[argv.index("--do-not-confirm") + 1:]
        cmd = None
        for a in rest:
            if a in ("burn-efuse", "burn-key", "burn-key-digest", "write-protect-efuse"):
                cmd = a
            elif cmd == "burn-efuse" and a.isupper() or cmd == "write-protect-efuse":
                out.append(("wp:" if cmd == "write-protect-efuse" else "") + a)
            elif cmd in ("burn-key", "burn-key-digest") and not out[-1:] == [cmd]:
                out.append(cmd)
    return out


# -- plan and confirmation --------------------------------------------------------------------


@pytest.mark.parametrize("chip", ["esp32", "esp32s3"])
def test_plan_names_every_efuse_its_effect_and_that_it_is_irreversible(
        tmp_path: Path, signing_key: Path, chip: str) -> None:
    chipfs = Efuses(chip, rev=301 if chip == "esp32" else 2)
    tools = FakeTools(chipfs)
    shown: list[str] = []
    with pytest.raises(H.HardenError, match="not confirmed"):
        H.harden(opts(tmp_path, chip, signing_key), ask=lambda q: "", run=tools,
                 out=shown.append)
    text = shown[0]
    steps = H.chip_steps(H.validate(opts(tmp_path / "x", chip, signing_key)), [])
    for st in steps:
        for name, value, effect in st.fuses:
            assert f"IRREVERSIBLE  {name} = {value}: {effect}" in text
    must = {"esp32": ["ABS_DONE_1", "FLASH_CRYPT_CNT = 0x7f", "JTAG_DISABLE",
                      "UART_DOWNLOAD_DIS", "SECURE_VERSION = 0x1", "BLOCK1", "BLOCK2"],
            "esp32s3": ["SECURE_BOOT_EN", "SPI_BOOT_CRYPT_CNT = 7", "DIS_PAD_JTAG",
                        "ENABLE_SECURITY_DOWNLOAD", "SECURE_VERSION = 0x1", "BLOCK_KEY0",
                        "BLOCK_KEY1", "SECURE_BOOT_KEY_REVOKE1"]}[chip]
    for m in must:
        assert m in text, m
    assert "one-way" in text and "JTAG is gone" in text and "ciphertext" in text
    # refused without confirmation: only the two read-only probes ran, nothing else
    assert [sub(c) for c in tools.calls] == ["esptool chip-id", "espefuse summary"]
    assert chipfs.v == Efuses(chip, rev=chipfs.rev).v


def test_wrong_device_id_typed_is_not_a_confirmation(tmp_path: Path, signing_key: Path) -> None:
    tools = FakeTools(Efuses("esp32", 300))
    with pytest.raises(H.HardenError, match="nothing was burned"):
        H.harden(opts(tmp_path, "esp32", signing_key), ask=lambda q: "AL-0043", run=tools,
                 out=lambda s: None)
    assert len(tools.calls) == 2
    ok = FakeTools(Efuses("esp32", 300))
    H.harden(opts(tmp_path / "b", "esp32", signing_key), ask=lambda q: f" {DEVICE}\n",
             run=ok, out=lambda s: None)
    assert ok.e.v["ABS_DONE_1"] == 1


@pytest.mark.parametrize("rev", [0, 100, 200, 201])
def test_esp32_below_rev3_refused_citing_the_cves(tmp_path: Path, signing_key: Path,
                                                   rev: int) -> None:
    tools = FakeTools(Efuses("esp32", rev))
    with pytest.raises(H.HardenError) as e:
        H.harden(opts(tmp_path, "esp32", signing_key), yes=True, run=tools, out=lambda s: None)
    msg = str(e.value)
    assert f"v{rev // 100}.{rev % 100}" in msg
    assert "CVE-2019-17391" in msg and "CVE-2020-13629" in msg
    assert [sub(c) for c in tools.calls] == ["esptool chip-id", "espefuse summary"]


def test_chip_with_security_efuses_already_burned_is_refused(tmp_path: Path,
                                                              signing_key: Path) -> None:
    tools = FakeTools(Efuses("esp32s3", 2).set(SECURE_BOOT_EN=1, KEY_PURPOSE_1=9))
    with pytest.raises(H.HardenError, match="SECURE_BOOT_EN, KEY_PURPOSE_1"):
        H.harden(opts(tmp_path, "esp32s3", signing_key), yes=True, run=tools,
                 out=lambda s: None)
    assert len(tools.calls) == 2


def test_bad_options_refused_before_any_command(tmp_path: Path, signing_key: Path) -> None:
    tools = FakeTools(Efuses("esp32", 300))
    for o, text in [(opts(tmp_path / "a", "esp32", signing_key, secure_version=0), "1..32"),
                    (opts(tmp_path / "b", "esp32s3", signing_key, secure_version=17), "1..16"),
                    (opts(tmp_path / "c", "esp32s3", signing_key, download="open"), "--download"),
                    (opts(tmp_path / "d", "esp32", tmp_path / "none.pem"), "no signing key"),
                    (replace(opts(tmp_path / "e", "esp32", signing_key), chip="esp32c3"),
                     "only esp32")]:
        with pytest.raises(H.HardenError, match=text):
            H.harden(o, yes=True, run=tools, out=lambda s: None)
    (tmp_path / "f").mkdir()
    with pytest.raises(H.HardenError, match="flash_args: missing"):
        H.harden(replace(opts(tmp_path / "g", "esp32", signing_key), image_dir=tmp_path / "f"),
                 yes=True, run=tools, out=lambda s: None)
    assert tools.calls == []


# -- the sequence -----------------------------------------------------------------------------


@pytest.mark.parametrize("chip", ["esp32", "esp32s3"])
def test_every_command_line_and_the_order_of_burns(tmp_path: Path, signing_key: Path,
                                                   chip: str) -> None:
    tools = FakeTools(Efuses(chip, 300 if chip == "esp32" else 2))
    o = opts(tmp_path, chip, signing_key)
    rows = H.harden(o, yes=True, run=tools, out=lambda s: None)
    assert [p for p, _ in rows][-7:] == ["keys", "keys", "enable", "write", "disable",
                                         "check", "final"]
    kinds = [sub(c) for c in tools.calls]
    assert kinds[:3] == ["esptool chip-id", "espefuse summary",
                         "espsecure digest-sbv2-public-key"]
    assert kinds.count("espsecure sign-data") == 2            # bootloader and app only
    assert kinds.count("espsecure encrypt-flash-data") == 3   # and the partition table
    order = burned_order(tools.calls)
    key_burns = [i for i, n in enumerate(order) if n.startswith("burn-key")]
    disables = {"esp32": ["JTAG_DISABLE", "DISABLE_DL_DECRYPT", "UART_DOWNLOAD_DIS"],
                "esp32s3": ["DIS_PAD_JTAG", "DIS_DOWNLOAD_MANUAL_ENCRYPT",
                            "ENABLE_SECURITY_DOWNLOAD"]}[chip]
    enable = "ABS_DONE_1" if chip == "esp32" else "SECURE_BOOT_EN"
    assert order[:2] == ["burn-key", "burn-key-digest"]      # keys and digests first
    assert max(key_burns) < order.index(enable) < min(order.index(d) for d in disables)
    protects = [i for i, n in enumerate(order) if n.startswith("wp:")]
    assert protects and min(protects) > max(order.index(d) for d in disables)
    # the images written are the encrypted ones, at the build's offsets, after enabling
    # and before anything is disabled
    assert sorted(tools.written) == sorted(
        (off, str(o.work / name)) for off, name in [
            (OFFSETS[chip], "bootloader.enc.bin"), (0x10000, "micropython.enc.bin"),
            (0x8000, "partition-table.enc.bin")])
    write_at = kinds.index("esptool write-flash")
    burns = [i for i, c in enumerate(tools.calls) if "--do-not-confirm" in c]
    assert burns[1] < burns[2] < write_at < burns[3]
    assert kinds[-2:] == ["espefuse summary", "espefuse burn-efuse write-protect-efuse"]
    # and the board's own boot check accepts the result
    facts = security.read_state(Mem32(tools.e.mem32()), chip)
    assert platform.hardened(facts) == (True, []), facts


def test_flash_encryption_key_is_per_device_and_private(tmp_path: Path,
                                                        signing_key: Path) -> None:
    tools = FakeTools(Efuses("esp32", 300))
    o = opts(tmp_path, "esp32", signing_key)
    H.harden(o, yes=True, run=tools, out=lambda s: None)
    key = tmp_path / "keys" / f"{DEVICE}.flash_encryption_key.bin"
    assert key.stat().st_mode & 0o777 == 0o600
    burn = [c for c in tools.calls if "burn-key" in c][0]
    assert burn[-2:] == ["flash_encryption", str(key)]
    failed = FakeTools(Efuses("esp32", 300), fail="burn-key-digest")
    o2 = replace(o, device_id="AL-0043", work=tmp_path / "w2")
    with pytest.raises(H.HardenError):
        H.harden(o2, yes=True, run=failed, out=lambda s: None)
    key2 = tmp_path / "keys" / "AL-0043.flash_encryption_key.bin"
    assert key2.stat().st_mode & 0o777 == 0o600 and key2.read_bytes() != b""


@pytest.mark.parametrize("fail, burned, wrote", [
    ("digest-sbv2-public-key", [], False),
    ("burn-key-digest", ["BLOCK1"], False),
    ("write-flash", ["BLOCK1", "BLOCK2", "FLASH_CRYPT_CONFIG", "FLASH_CRYPT_CNT",
                     "ABS_DONE_1", "SECURE_VERSION"], False),
    ("JTAG_DISABLE", ["ABS_DONE_1"], True),
])
def test_a_failed_command_stops_and_says_what_is_burned(
        tmp_path: Path, signing_key: Path, fail: str, burned: list[str], wrote: bool) -> None:
    tools = FakeTools(Efuses("esp32", 300), fail=fail)
    with pytest.raises(H.HardenError) as e:
        H.harden(opts(tmp_path, "esp32", signing_key), yes=True, run=tools, out=lambda s: None)
    msg = str(e.value)
    assert "failed: A fatal error occurred" in msg
    assert fail in " ".join(tools.calls[-1])                  # nothing ran after it
    if not burned:
        assert "nothing was burned" in msg
    for name in burned:
        assert name in msg.split("burned so far: ")[1]
    if burned:
        assert ("images were written" in msg) == wrote
        assert "UART_DOWNLOAD_DIS" not in msg                 # download still works
    assert tools.e.v["UART_DOWNLOAD_DIS"] == 0


def test_check_step_stops_before_download_is_disabled(tmp_path: Path,
                                                      signing_key: Path) -> None:
    """A digest that is not the signing key's (or a chip that ignored a burn) is caught
    while the ROM download mode still works."""
    tools = FakeTools(Efuses("esp32", 300))
    real = tools._burn_key_digest

    def wrong_digest(a: list[str]) -> None:
        tools.digests[a[0]] = bytes(32 * [7])
        real(a)

    tools._burn_key_digest = wrong_digest  # type: ignore[method-assign]
    with pytest.raises(H.HardenError, match="BLOCK2 does not hold the digest"):
        H.harden(opts(tmp_path, "esp32", signing_key), yes=True, run=tools, out=lambda s: None)
    assert tools.e.v["UART_DOWNLOAD_DIS"] == 0
    ignored = FakeTools(Efuses("esp32", 300))
    ignored._burn_efuse = lambda a: None  # type: ignore[method-assign]
    with pytest.raises(H.HardenError, match="Secure Boot V2 is off"):
        H.harden(opts(tmp_path / "b", "esp32", signing_key), yes=True, run=ignored,
                 out=lambda s: None)


def test_flash_hook_needs_a_production_build(tmp_path: Path) -> None:
    from hardware import build as B
    out = tmp_path / "dev"
    B.build("esp32-devkitc", "dev", out)
    called = []
    with pytest.raises(FL.FlashError, match="not a production build"):
        FL.flash(PORT, "esp32-devkitc", DEVICE, bytes(32), build_dir=out,
                 harden_with=lambda: called.append(1) or [])
    assert not called


# -- the real espefuse on a virtual chip -----------------------------------------------------


def _virtual_runner(efuse_file: Path, rev: int, fake: FakeTools):
    """espefuse and espsecure for real (espefuse on a virtual chip); esptool (chip-id,
    write-flash: no virtual mode) from the fake."""
    target = ["--virt", "--path-efuse-file", str(efuse_file)]

    def run(argv: list[str]) -> tuple[int, str]:
        if argv[2] == "esptool":
            return fake(argv[:5] + ["--port", PORT] + argv[5 + len(target):])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, COLUMNS="200", TERM="dumb"))
        return proc.returncode, proc.stdout + proc.stderr

    return target, run


@pytest.mark.parametrize("chip", ["esp32", pytest.param("esp32s3", marks=pytest.mark.slow)])
def test_real_espefuse_accepts_every_burn_and_the_board_check_passes(
        tmp_path: Path, signing_key: Path, chip: str) -> None:
    efile = tmp_path / "efuses.bin"
    py = [sys.executable, "-m", "espefuse", "--chip", chip, "--virt", "--path-efuse-file",
          str(efile)]
    if chip == "esp32":   # a v3 chip's factory revision bits
        subprocess.run(py + ["--do-not-confirm", "burn-efuse", "CHIP_VER_REV1", "1",
                             "CHIP_VER_REV2", "1"], check=True, capture_output=True)
    fake = FakeTools(Efuses(chip, 300))
    target, run = _virtual_runner(efile, 300, fake)
    o = replace(opts(tmp_path, chip, signing_key), target=target)
    rows = H.harden(o, yes=True, run=run, out=lambda s: None)
    assert rows[-1] == ("final", "download mode, write protection")
    proc = subprocess.run(py + ["summary", "--format", "json", "--file",
                                str(tmp_path / "s.json")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert platform.hardened(H.facts(chip, 300, s)) == (True, [])
    # the same state as registers, read the way the board reads it at boot
    e = Efuses(chip, 300)
    for name, f in s.items():
        if f["bit_len"] <= 32 and name in e.defs and f["raw_value"].startswith("0x") \
                and "?" not in f["raw_value"]:
            e.v[name] = int(f["raw_value"], 16)
    assert platform.hardened(security.read_state(Mem32(e.mem32()), chip)) == (True, [])
    digest = (o.work / "sbv2_digest.bin").read_bytes()
    block = "BLOCK_KEY1" if chip == "esp32s3" else "BLOCK2"
    assert int(s[block]["raw_value"], 16) == int.from_bytes(digest, "big")
    assert not s["BLOCK_KEY0" if chip == "esp32s3" else "BLOCK1"]["readable"]


# -- the rig waiver in the build ---------------------------------------------------------------


def test_waiver_is_in_the_build_manifest_and_module(tmp_path: Path) -> None:
    from hardware import build as B
    m = B.build("esp32-devkitc", "production", tmp_path / "rig", waive_hardening="rig bench 2")
    assert m["waive_hardening"] == "rig bench 2"
    assert B.load_manifest(tmp_path / "rig")["waive_hardening"] == "rig bench 2"
    ns: dict[str, object] = {}
    exec((tmp_path / "rig" / "armlock_build.py").read_text(), ns)
    assert ns["WAIVE_HARDENING"] == "rig bench 2"
    m = B.build("esp32-devkitc", "production", tmp_path / "field")
    assert m["waive_hardening"] is None
    exec((tmp_path / "field" / "armlock_build.py").read_text(), ns)
    assert ns["WAIVE_HARDENING"] is None
    for bad in ("", "x" * 41, "rig\nbench"):
        with pytest.raises(B.BuildError, match="--waive-hardening"):
            B.build("esp32-devkitc", "production", tmp_path / "bad", waive_hardening=bad)
    assert not (tmp_path / "bad").exists()


# -- `armlock flash --production`: the command line carries the step ------------------------


def test_flash_production_needs_its_keys_and_burns_nothing_unconfirmed(
        tmp_path: Path, signing_key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI refuses --production without a signing key, and a wrong device id typed at
    the prompt stops before any eFuse is burned (the plan was printed first)."""
    from typer.testing import CliRunner

    from armlock.authority import create_keys
    from armlock.cli import app
    from hardware import build as B

    master = tmp_path / "master.key"
    create_keys(master)
    built = tmp_path / "build"
    B.build("esp32-devkitc", "production", built)
    parent, child = os.openpty()
    port = os.ttyname(child)
    tools = FakeTools(Efuses("esp32"), port=port)
    monkeypatch.setattr(H, "run_argv", tools)
    base = ["flash", "--port", port, "--board", "esp32-devkitc", "--device-id", DEVICE,
            "--key", str(master), "--build", str(built), "--production"]
    runner = CliRunner()
    try:
        r = runner.invoke(app, base)
        assert r.exit_code == 2 and "--production needs --signing-key" in r.output
        r = runner.invoke(app, base + ["--signing-key", str(signing_key), "--secure-image",
                                       str(image_dir(tmp_path, "esp32"))], input="AL-9999\n")
        assert r.exit_code == 1, r.output
        assert "IRREVERSIBLE" in r.output and "not confirmed" in r.output
        assert not [c for c in tools.calls if "burn-efuse" in c or "burn-key" in c]
    finally:
        os.close(parent)
        os.close(child)
