"""`armlock build` and `armlock flash`: the deploy folder, the esptool command line, the
raw-REPL steps, and the whole path against a dev-mode virtual board (build, flash, boot,
`armlock device info`)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from armlock.authority import derive_device_key
from armlock.cli import app
from hardware import boards
from hardware import build as B
from hardware import flash as FL
from hardware.micropython import node_available

runner = CliRunner()
MASTER = bytes(range(100, 132))
DEVKITC = json.loads((B.REPO / "hardware" / "boards" / "esp32-devkitc.json").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("build") / "devkitc-dev"
    return out, B.build("esp32-devkitc", "dev", out)


def test_build_compiles_every_firmware_file(built: tuple[Path, dict[str, Any]]) -> None:
    out, m = built
    files = m["files"]
    board = json.loads((out / "board.json").read_text())
    for src in B.sources(board=board):
        assert src.with_suffix(".mpy").as_posix() in files, src
    assert "firmware/drivers/actuator_servo.mpy" not in files       # a solenoid board
    assert "firmware/drivers/mfrc522.mpy" in files
    for name in ("boot.py", "main.py", "armlock_build.py", "board.json"):
        assert name in files
    assert not [n for n in files if n.startswith("firmware/") and n.endswith(".py")]
    assert "firmware/ports/esp32/loop.mpy" in files
    assert "firmware/app/device.mpy" in files and "protocols/frame.mpy" in files
    for name, f in files.items():
        data = (out / name).read_bytes()
        assert f == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
        if name.endswith(".mpy"):
            assert data[:2] == b"M\x06", name          # MicroPython .mpy v6
    assert m["mpy_bytes"] == sum(f["bytes"] for n, f in files.items() if n.endswith(".mpy"))


def test_mpy_names_its_source_by_module(built: tuple[Path, dict[str, Any]]) -> None:
    """A .mpy records its dotted module name as its source (tracebacks read
    "firmware.core.controller", line N), not a path: the name is interned by the import
    anyway, a path would be one more string held in the device's heap per module."""
    out, _ = built
    assert B.source_name("firmware/core/__init__.py") == "firmware.core"
    mpy = next(out.rglob("controller.mpy")).read_bytes()
    assert b"firmware.core.controller" in mpy and b"controller.py" not in mpy


def test_build_module_carries_mode_and_lock_pin(built: tuple[Path, dict[str, Any]]) -> None:
    out, _ = built
    ns: dict[str, Any] = {}
    exec((out / "armlock_build.py").read_text(), ns)
    pin, level = boards.load("esp32-devkitc").lock_pin()
    assert (ns["MODE"], ns["BOARD"], ns["LOCK_PIN"], ns["LOCK_LEVEL"]) == (
        "dev", "esp32-devkitc", pin, level)
    assert ns["LOCK_SERVO_DUTY"] is None and ns["WDT_MS"] == 8000
    assert json.loads((out / "board.json").read_text())["name"] == "esp32-devkitc"


def test_build_uses_board_march(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: set[tuple[str, int]] = set()
    real = B.compile_one

    def spy(src: Path, dst: Path, arch: str, rel: str, opt: int = 0) -> None:
        seen.add((arch, opt))
        real(src, dst, arch, rel, opt)

    monkeypatch.setattr(B, "compile_one", spy)
    m = B.build("esp32-s3-devkitc-1", "production", tmp_path / "s3")
    assert seen == {("xtensawin", 3)} and m["mode"] == "production" and m["chip"] == "esp32s3"
    seen.clear()                     # dev builds keep line numbers for tracebacks
    B.build("esp32-s3-devkitc-1", "dev", tmp_path / "s3dev")
    assert seen == {("xtensawin", 0)}


def test_servo_board_gets_locked_duty(tmp_path: Path) -> None:
    d = json.loads(boards.board_path("esp32-devkitc").read_text())
    d["actuator"].update(kind="servo", locked_us=1000)
    bf = tmp_path / "servo.json"
    bf.write_text(json.dumps(d))
    out = tmp_path / "o"
    B.build(bf, "dev", out)
    assert "LOCK_SERVO_DUTY = 3277" in (out / "armlock_build.py").read_text()


def test_bad_board_refused_and_nothing_written(tmp_path: Path) -> None:
    d = json.loads(boards.board_path("esp32-devkitc").read_text())
    d["actuator"]["drive"] = 35
    bf = tmp_path / "bad.json"
    bf.write_text(json.dumps(d))
    res = runner.invoke(app, ["build", "--board", str(bf), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    err = res.stderr.replace("\n", "")
    assert "bad.json: actuator.drive = GPIO35 is input-only" in err
    assert not (tmp_path / "o").exists()


def test_build_refuses_to_wipe_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(B.BuildError, match="not an armlock build"):
        B.build("esp32-devkitc", "dev", tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_build_bad_mode() -> None:
    with pytest.raises(B.BuildError, match="--mode 'field'"):
        B.build("esp32-devkitc", "field")


def test_cli_build_prints_table(tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = runner.invoke(app, ["build", "--board", "esp32-devkitc", "--out", str(out)])
    assert res.exit_code == 0, res.output
    m = B.load_manifest(out)
    assert ".mpy" in res.stdout and f"{m['total_bytes']:,}" in res.stdout
    assert "no PSRAM" in res.stderr and "--frozen" in res.stderr   # it would not fit
    s3 = runner.invoke(app, ["build", "--board", "esp32-s3-devkitc-1", "--out",
                             str(tmp_path / "s3")])
    assert s3.exit_code == 0 and "PSRAM" not in s3.stderr


# -- esptool ---------------------------------------------------------------------------------


class FakeRun:
    def __init__(self, rc: int = 0, output: str = "") -> None:
        self.calls: list[list[str]] = []
        self.rc = rc
        self.output = output

    def __call__(self, argv: list[str], **kw: Any) -> Any:
        self.calls.append(argv)
        return type("P", (), {"returncode": self.rc, "stdout": self.output, "stderr": ""})()


@pytest.mark.parametrize("board, chip, offset", [
    ("esp32-devkitc", "esp32", "0x1000"), ("esp32-s3-devkitc-1", "esp32s3", "0x0")])
def test_esptool_command_line(tmp_path: Path, board: str, chip: str, offset: str) -> None:
    img = tmp_path / "mp.bin"
    img.write_bytes(b"\xe9" + bytes(100))
    run = FakeRun()
    FL.write_image(boards.load(board), "/dev/ttyUSB0", img, run=run)
    (argv,) = run.calls
    assert argv[1:3] == ["-m", "esptool"]
    assert argv[3:] == ["--chip", chip, "--port", "/dev/ttyUSB0", "--baud", "460800",
                        "write_flash", offset, str(img)]


def test_esptool_erase_then_write_and_failure(tmp_path: Path) -> None:
    img = tmp_path / "mp.bin"
    img.write_bytes(b"\xe9")
    run = FakeRun()
    FL.write_image(boards.load("esp32-devkitc"), "/dev/ttyUSB0", img, erase=True, run=run)
    assert [c[-1] for c in run.calls] == ["erase_flash", str(img)]
    bad = FakeRun(2, "A fatal error occurred: Failed to connect to ESP32")
    with pytest.raises(FL.FlashError, match="Failed to connect"):
        FL.write_image(boards.load("esp32-devkitc"), "/dev/ttyUSB0", img, run=bad)
    with pytest.raises(FL.FlashError, match="no such file"):
        FL.write_image(boards.load("esp32-devkitc"), "/dev/x", tmp_path / "none.bin", run=run)


# -- raw-REPL steps against an in-process link -------------------------------------------------


class FakeLink:
    """A 'board' that runs the raw-REPL snippets with CPython in a folder (its flash)."""

    def __init__(self, root: Path, fail_on: str | None = None, echo_key: bool = False) -> None:
        self.root = root
        self.fail_on = fail_on
        self.echo_key = echo_key
        self.codes: list[str] = []
        self.ns: dict[str, Any] = {}

    def enter_raw_repl(self, soft_reset: bool = True) -> None:
        pass

    def exec(self, command: str) -> bytes:
        import contextlib
        import io
        self.codes.append(command)
        if self.fail_on and self.fail_on in command:
            text = command if self.echo_key else "OSError: 28"
            raise RuntimeError(f"Traceback: {text}")
        buf = io.StringIO()
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            with contextlib.redirect_stdout(buf):
                exec(command, self.ns)
        finally:
            os.chdir(cwd)
        return buf.getvalue().encode()

    def exec_raw_no_follow(self, command: str) -> None:
        self.codes.append(command)

    def close(self) -> None:
        pass


def test_deploy_verify_on_link(built: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, m = built
    board = tmp_path / "board"
    (board / "firmware" / "core").mkdir(parents=True)
    (board / "firmware" / "core" / "controller.py").write_text("stale = 1\n")
    (board / "data").mkdir()
    (board / "data" / "state.a").write_bytes(b"keep me")
    link = FakeLink(board)
    FL.clean(link)
    assert not (board / "firmware").exists()
    assert (board / "data" / "state.a").read_bytes() == b"keep me"   # app data untouched
    assert FL.deploy(link, out, m) == (len(m["files"]), m["total_bytes"])
    assert FL.verify(link, m) == []
    (board / "firmware" / "core" / "controller.mpy").write_bytes(b"tampered")
    os.remove(board / "boot.py")
    assert FL.verify(link, m) == ["boot.py", "firmware/core/controller.mpy"]


def test_provision_error_never_shows_key(tmp_path: Path) -> None:
    key = derive_device_key(MASTER, "AL-7")
    link = FakeLink(tmp_path, fail_on="nvs.provision", echo_key=True)
    with pytest.raises(FL.FlashError) as exc:
        FL.provision(link, "AL-7", key)
    assert key.hex() not in str(exc.value) and FL.KEY_MASK in str(exc.value)
    assert key.hex() in link.codes[-1]        # it did go to the board, inside the code


def test_provision_checks_fingerprint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.fakes.fake_esp32 import fake_esp32
    flash_store: dict[str, dict[str, bytes]] = {}
    monkeypatch.setitem(__import__("sys").modules, "esp32", fake_esp32(flash_store))
    key = derive_device_key(MASTER, "AL-7")
    assert FL.provision(FakeLink(tmp_path), "AL-7", key) == "nvs"
    assert flash_store["armlock"]["device_key"] == key

    class Liar(FakeLink):
        def exec(self, command: str) -> bytes:
            return b"provisioned nvs AL-7 0000000000000000\r\n"

    with pytest.raises(FL.FlashError, match="different key"):
        FL.provision(Liar(tmp_path), "AL-7", key)


def test_flash_rejects_build_for_other_board(built: tuple[Path, dict[str, Any]]) -> None:
    out, _ = built
    with pytest.raises(FL.FlashError, match="built for esp32-devkitc"):
        FL.flash("/dev/null", "esp32-s3-devkitc-1", "AL-1", bytes(32), out,
                 link_factory=lambda p: FakeLink(out))


# -- the whole path against the virtual board --------------------------------------------------


needs_node = pytest.mark.skipif(not node_available(), reason="Node/MicroPython WASM missing")


@needs_node
def test_build_flash_boot_info_on_virtual_board(tmp_path: Path,
                                                built: tuple[Path, dict[str, Any]]) -> None:
    from hardware.virtual.launcher import VirtualBoard
    key_file = tmp_path / "master.key"
    key_file.write_text(MASTER.hex() + "\n")
    key_file.chmod(0o600)
    from armlock.authority import create_keys
    create_keys(key_file)  # the signing key next to it (the board trusts its public key)
    dkey = derive_device_key(MASTER, "AL-0042")
    out, m = built
    state = tmp_path / "vb"
    with VirtualBoard(state, mode="dev") as vb:
        res = runner.invoke(app, ["flash", "--port", vb.port, "--board", "esp32-devkitc",
                                  "--device-id", "AL-0042", "--key", str(key_file),
                                  "--build", str(out)])
        assert res.exit_code == 0, res.output
        for secret in (dkey.hex(), dkey.hex().upper(), MASTER.hex()):
            assert secret not in res.output
        for step in ("deploy", "provision", "verify", "reset", "boot"):
            assert step in res.stdout
        assert f"{len(m['files'])}/{len(m['files'])} files match" in res.stdout
        assert FL.fingerprint(dkey) in res.stdout
        info = runner.invoke(app, ["device", "--port", vb.port, "--json", "info"])
        assert info.exit_code == 0, info.output
        got = json.loads(info.stdout)
        assert got["device_id"] == "AL-0042" and got["mode"] == "dev"
    flashed = state / "flash"
    py = [p.relative_to(flashed).as_posix() for p in flashed.rglob("*.py")]
    assert sorted(py) == ["armlock_build.py", "boot.py", "main.py"]   # the rest is .mpy
    assert (flashed / "firmware" / "app" / "device.mpy").is_file()
    ident = json.loads((state / "storage" / "identity.json").read_text())
    from armlock.authority import signer_for
    assert ident == {"device_id": "AL-0042", "key": dkey.hex(),
                     "authority": [signer_for(key_file).public.hex()]}
    shutil.rmtree(state, ignore_errors=True)


def test_frozen_build_lists_modules_for_the_image(tmp_path: Path) -> None:
    """Without PSRAM the modules must be frozen: the deploy keeps only the entry files."""
    m = B.build("esp32-devkitc", "production", tmp_path / "f", frozen=True)
    assert sorted(m["files"]) == ["armlock_build.py", "board.json", "boot.py", "main.py"]
    text = (tmp_path / "f" / "freeze" / "manifest.py").read_text()
    assert text.splitlines()[2] == 'include("$(PORT_DIR)/boards/manifest.py")'
    for src in B.sources(board=DEVKITC):
        assert f"module({src.as_posix()!r}, base_path='.')" in text
    assert "FROZEN = True" in (tmp_path / "f" / "armlock_build.py").read_text()


def run_freeze_manifest(manifest: Path) -> dict[str, Path]:
    """Evaluate a manifest.py as MicroPython's tools/manifestfile.py does for the calls
    it uses: paths relative to the manifest's folder (it chdirs there), $(...) variables
    substituted; include() of the port's own manifest is skipped. -> module name: file."""
    found: dict[str, Path] = {}

    def module(path: str, base_path: str = ".", opt: int | None = None) -> None:
        assert "$(" not in base_path and not Path(path).is_absolute()
        full = Path(os.path.abspath(os.path.join(base_path, path)))
        assert full.is_file(), f"manifest names a missing file: {full}"
        found[path[:-3].replace("/", ".")] = full

    def include(path: str, **kw: object) -> None:
        assert path.startswith("$(PORT_DIR)/")

    prev = os.getcwd()
    os.chdir(manifest.parent)
    try:
        exec(manifest.read_text(), {"module": module, "include": include})  # noqa: S102
    finally:
        os.chdir(prev)
    return found


def test_frozen_build_folder_is_relocatable(tmp_path: Path) -> None:
    """The manifest points at nothing outside its folder: moved to another machine (here:
    another folder, the checkout out of reach), it still names every source, as deployed
    (constants inlined, as in the .mpy build)."""
    B.build("esp32-devkitc", "production", tmp_path / "f", frozen=True)
    moved = tmp_path / "elsewhere" / "build"
    shutil.move(tmp_path / "f", moved)
    assert str(B.REPO) not in (moved / "freeze" / "manifest.py").read_text()
    found = run_freeze_manifest(moved / "freeze" / "manifest.py")
    srcs = B.sources(board=DEVKITC)
    texts = B.deployed_texts(B.REPO, srcs)
    assert len(found) == len(srcs)
    for src in srcs:
        f = found[src.with_suffix("").as_posix().replace("/", ".")]
        assert f.is_relative_to(moved) and f.read_text() == texts[src.as_posix()]


def test_frozen_build_with_a_freeze_base(tmp_path: Path) -> None:
    """freeze_base names the folder the image build finds the sources in (a checkout)."""
    B.build("esp32-devkitc", "production", tmp_path / "f", frozen=True,
            freeze_base=str(B.REPO))
    assert not (tmp_path / "f" / "freeze" / "firmware").exists()
    found = run_freeze_manifest(tmp_path / "f" / "freeze" / "manifest.py")
    assert found["firmware.core.controller"] == B.REPO / "firmware" / "core" / "controller.py"


@needs_node
def test_flash_refused_by_production_virtual_board(tmp_path: Path,
                                                   built: tuple[Path, dict[str, Any]]) -> None:
    """A board whose REPL is closed cannot be flashed over the console; the error says so."""
    from hardware.virtual.launcher import VirtualBoard
    out, _ = built
    with VirtualBoard(tmp_path / "vb", mode="production") as vb:
        with pytest.raises(FL.FlashError, match="no raw REPL"):
            FL.flash(vb.port, "esp32-devkitc", "AL-1", bytes(32), out, check_boot=False,
                     link_factory=lambda p: FL.open_link(p, repl_timeout=2.0))


def test_flash_with_image_runs_esptool_then_deploys(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path,
                                                    built: tuple[Path, dict[str, Any]]) -> None:
    from tests.fakes.fake_esp32 import fake_esp32
    monkeypatch.setitem(__import__("sys").modules, "esp32", fake_esp32({}))
    out, m = built
    img = tmp_path / "ESP32_GENERIC.bin"
    img.write_bytes(b"\xe9" + bytes(64))
    run = FakeRun()
    board = tmp_path / "board"
    board.mkdir()
    key = derive_device_key(MASTER, "AL-9")
    rows = dict(FL.flash("/dev/ttyUSB7", "esp32-devkitc", "AL-9", key, out, image=img,
                         link_factory=lambda p: FakeLink(board), run=run, check_boot=False))
    assert run.calls[0][-5:] == ["--baud", "460800", "write_flash", "0x1000", str(img)]
    assert rows["image"].startswith("esptool --chip esp32 --port /dev/ttyUSB7")
    assert rows["provision"].startswith("AL-9 in nvs")
    assert rows["verify"] == f"{len(m['files'])}/{len(m['files'])} files match manifest SHA-256"
    assert key.hex() not in " ".join(rows.values())
