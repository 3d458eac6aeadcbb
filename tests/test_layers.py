"""The layering of docs/ARCHITECTURE.md: the firmware and protocols import nothing from
the host side, nothing below the CLI imports it, and nothing in the repo but tests points
outside the repo."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOST_SIDE = ("armlock", "hardware", "simulator", "tests", "bench", "tools")
SKIP = {".venv", "node_modules", ".git", "out", "sim-out", "__pycache__"}


def _files(top: str, suffix: str = ".py") -> list[Path]:
    return [p for p in (ROOT / top).rglob("*" + suffix)
            if not SKIP.intersection(p.relative_to(ROOT).parts)]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


@pytest.mark.parametrize("top", ["firmware", "protocols"])
def test_device_code_imports_nothing_from_the_host_side(top: str) -> None:
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in _files(top) for m in sorted(_imports(p))
           if m.split(".")[0] in HOST_SIDE]
    assert not bad, "device code imports host code:\n" + "\n".join(bad)


@pytest.mark.parametrize("top", ["armlock", "hardware", "simulator", "firmware", "protocols"])
def test_nothing_below_the_cli_imports_it(top: str) -> None:
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in _files(top)
           if "cli" not in p.relative_to(ROOT).parts
           for m in sorted(_imports(p)) if m == "armlock.cli" or m.startswith("armlock.cli.")]
    assert not bad, "imports of the CLI from below it:\n" + "\n".join(bad)


def test_the_registry_calls_the_authority_never_the_reverse() -> None:
    bad = [str(p.relative_to(ROOT)) for p in _files("armlock/authority")
           if any(m.startswith("armlock.registry") for m in _imports(p))]
    assert not bad, "the authority imports the registry: " + ", ".join(bad)


def test_nothing_outside_tests_points_outside_the_repo() -> None:
    bad = []
    for top in ("README.md", "docs", "armlock", "firmware", "protocols", "hardware",
                "simulator", "bench", "tools", "examples", "Makefile", "pyproject.toml"):
        paths = [ROOT / top] if (ROOT / top).is_file() else [
            p for p in (ROOT / top).rglob("*") if p.is_file()
            and not SKIP.intersection(p.relative_to(ROOT).parts)]
        for p in paths:
            try:
                text = p.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            if "../shared" in text:
                bad.append(str(p.relative_to(ROOT)))
    assert not bad, "files that point at ../shared: " + ", ".join(bad)


def test_no_property_on_device_classes() -> None:
    """On MicroPython a class with a property makes every attribute store on its
    instances look through the class first (measured on the native port: 61 ns a store
    against 14; the controller, the store and the BLE service set attributes on every
    event): the firmware and protocol classes use plain attributes and methods."""
    found = [f"{p.relative_to(ROOT)}:{d.lineno}"
             for top in ("firmware", "protocols") for p in _files(top)
             for d in ast.walk(ast.parse(p.read_text(), str(p)))
             if isinstance(d, ast.Name) and d.id == "property"]
    assert found == []
