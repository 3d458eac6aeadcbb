"""Type check of firmware/ with pyright against the MicroPython ESP32 stubs.

firmware/pyrightconfig.json is the configuration (it works in an editor too). Here it is
run with the venv's site-packages as typeshedPath, so that `machine`, `esp32`,
`bluetooth`, `micropython` and the standard modules (`time`, `asyncio`, `os`, ...) are
MicroPython's (micropython-esp32-stubs, micropython-stdlib-stubs), and with stubs for
protocols/ generated from its source (every top-level name, typed Any): protocols/ is
shared with the host and checked by its own tests, and inferring its untyped decoders
costs most of pyright's time. One pyright run serves every test here.

A few diagnostics are accepted, each for a stated reason (ALLOWED); anything else fails.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "firmware" / "pyrightconfig.json"

# (file, text in the message) -> why it is accepted
ALLOWED = {
    ("firmware/drivers/_ticks.py", "monotonic_ns"):
        "CPython fallback: time.monotonic_ns exists only off-board",
    ("firmware/ports/esp32/ble.py", "Const_T"):
        "CPython fallback `def const(x)` for micropython.const",
    ("firmware/ports/virtual/main.py", "perf_counter_ns"):
        "CPython fallback import in `except ImportError`",
    ("firmware/ports/virtual/main.py", "ticks_diff"):
        "CPython fallback `def ticks_diff` for time.ticks_diff",
}

BAD_SOURCE = """import machine
import esp32
import micropython
import time

machine.Pin(5, machine.Pin.OUTPUT)
machine.WDT(timeout="8 s")
esp32.NVS("armlock").set_blob("k")
micropython.kbd_intr()
time.ticks_sub(1, 2)
"""


def stub_module(src: Path) -> str:
    """A .pyi declaring every top-level name of `src` as Any (functions take anything)."""
    tree = ast.parse(src.read_text(encoding="utf-8"))
    lines = ["from typing import Any", ""]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            lines.append(f"def {node.name}(*args: Any, **kwargs: Any) -> Any: ...")
        elif isinstance(node, ast.ClassDef):
            bases = [b.id for b in node.bases if isinstance(b, ast.Name)
                     and b.id in ("Exception", "ValueError", "RuntimeError")]
            lines += [f"class {node.name}({', '.join(bases)}):",
                      "    def __init__(self, *args: Any, **kwargs: Any) -> None: ...",
                      "    def __getattr__(self, name: str) -> Any: ..."]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            lines += [f"{t.id}: Any" for t in targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("protocols"):
            # a name of another protocols module (a class re-exported from a leaf keeps
            # its type): re-exported from that module's stub
            lines += [f"from {node.module} import {a.name} as {a.asname or a.name}"
                      for a in node.names]
        elif isinstance(node, ast.ImportFrom | ast.Import):
            lines += [f"{(a.asname or a.name).split('.')[0]}: Any" for a in node.names]
    return "\n".join(lines) + "\n"


def pyright_exe() -> str:
    exe = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which(
        "pyright")
    if exe is None:
        pytest.fail("pyright is not installed: run `make setup` (it is a dev dependency)")
    return exe


@pytest.fixture(scope="module")
def diagnostics(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("pyright")
    site = Path(sysconfig.get_paths()["purelib"])
    if not (site / "stdlib" / "VERSIONS").is_file() or not (site / "machine.pyi").is_file():
        pytest.fail(f"micropython-esp32-stubs / micropython-stdlib-stubs missing in {site}")
    stubs = tmp / "stubs" / "protocols"
    stubs.mkdir(parents=True)
    for src in (REPO / "protocols").glob("*.py"):
        (stubs / (src.stem + ".pyi")).write_text(stub_module(src))
    cfg = json.loads(CONFIG.read_text())
    cfg.pop("//", None)
    cfg.update(typeshedPath=str(site), stubPath=str(tmp / "stubs"), extraPaths=[str(REPO)])
    for env in cfg["executionEnvironments"]:
        env["root"] = str((REPO / "firmware" / env["root"]).resolve())
        env["extraPaths"] = [str(REPO)]
    (tmp / "pyrightconfig.json").write_text(json.dumps(cfg))
    bad = tmp / "bad_port.py"
    bad.write_text(BAD_SOURCE)
    proc = subprocess.run(
        [pyright_exe(), "-p", str(tmp / "pyrightconfig.json"), "--pythonpath", sys.executable,
         "--outputjson", str(REPO / "firmware"), str(bad)],
        capture_output=True, text=True, timeout=600, cwd=REPO)
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright did not run: {proc.stderr or proc.stdout}")
    assert out["summary"]["filesAnalyzed"] >= 20, out["summary"]
    return out["generalDiagnostics"]


def _rel(d: dict[str, Any]) -> str:
    p = Path(d["file"])
    return p.relative_to(REPO).as_posix() if p.is_relative_to(REPO) else p.name


def test_firmware_type_checks_against_micropython_stubs(
        diagnostics: list[dict[str, Any]]) -> None:
    problems = []
    for d in diagnostics:
        rel = _rel(d)
        if not rel.startswith("firmware/") or d["severity"] != "error":
            continue
        if any(rel == f and text in d["message"] for f, text in ALLOWED):
            continue
        line = d["range"]["start"]["line"] + 1
        problems.append(f"{rel}:{line}: {d['message'].splitlines()[0]} ({d.get('rule')})")
    assert not problems, "pyright errors in firmware/:\n" + "\n".join(problems)


def test_check_catches_hardware_api_misuse(diagnostics: list[dict[str, Any]]) -> None:
    """The stubs are in force: wrong machine/esp32/micropython/time calls are errors."""
    bad = {d["range"]["start"]["line"] + 1 for d in diagnostics
           if _rel(d) == "bad_port.py" and d["severity"] == "error"}
    assert bad >= {6, 7, 8, 9, 10}, bad


def test_stub_generator_covers_names() -> None:
    text = stub_module(REPO / "protocols" / "messages.py")
    assert "def encode_msg(*args: Any, **kwargs: Any) -> Any: ..." in text
    assert "from protocols.errors import MessageError as MessageError" in text  # re-exported
    assert "def __getattr__(" in text   # the type codes: msg_types, through __getattr__
    assert "INFO: Any" in stub_module(REPO / "protocols" / "msg_types.py")
    assert "class MessageError(ValueError):" in stub_module(REPO / "protocols" / "errors.py")
