"""The failure wording kept off the resident heap (texts modules imported on an error
only), by index: every _T_ const a driver raises with is the index of the text it names,
with as many arguments as the text has fields, so a rare failure never turns into the
wrong text, an IndexError or a TypeError of its own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# (module raising through a texts module, the helper's name, the position of the key
# among its arguments, the texts table: module and name)
CASES = [
    ("firmware/drivers/mfrc522.py", "error", 1, "firmware.drivers.rfid_texts", "TEXTS"),
    ("firmware/drivers/ntag424.py", "error", 1, "firmware.drivers.rfid_texts", "TEXTS"),
    ("firmware/drivers/r503.py", "packet_error", 0, "firmware.drivers.r503_codes", "DETAILS"),
    ("protocols/frame.py", "frame_error", 1, "protocols.wire_texts", "TEXTS"),
] + [(f"protocols/{m}.py", "message_error", 0, "protocols.wire_texts", "TEXTS")
     for m in ("schema", "msg_types", "cbor", "messages")]


ENTRY = re.compile(r'^\s*(?P<text>"[^"]*"),\s*# (?P<i>\d+) (?P<name>\w+)$')


def _entries(module: str, table: str) -> dict[str, int]:
    """name -> index of a texts table, from the comment of each entry ("# 3 crc_a"),
    checked against the table itself: every entry is commented with its own index."""
    import importlib

    texts = getattr(importlib.import_module(module), table)
    src = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    body = src[src.index(f"{table} = ("):]
    body = body[:body.index("\n)\n")]
    found = [m for m in map(ENTRY.match, body.splitlines()) if m]
    assert [int(m["i"]) for m in found] == list(range(len(texts))), f"{module}: numbering"
    assert [ast.literal_eval(m["text"]) for m in found] == list(texts)
    names = [m["name"] for m in found]
    assert len(set(names)) == len(names), f"{module}: a name twice"
    return {n: i for i, n in enumerate(names)}


def _consts(tree: ast.Module) -> dict[str, int]:
    """The module's _T_NAME = const(i) definitions."""
    out = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.startswith("_T_")):
            call = node.value
            assert isinstance(call, ast.Call) and getattr(call.func, "id", "") == "const"
            arg = call.args[0]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, int)
            out[node.targets[0].id] = arg.value
    return out


def _calls(tree: ast.Module, helper: str, at: int) -> list[tuple[int, str, int]]:
    """(line, const name, number of format arguments) of every helper(..., _T_X, ...)
    call, the const its argument number `at`."""
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == helper):
            key = node.args[at]
            assert isinstance(key, ast.Name), f"line {node.lineno}: not a _T_ const"
            out.append((node.lineno, key.id, len(node.args) - at - 1))
    return out


@pytest.mark.parametrize(("rel", "helper", "at", "module", "table"), CASES)
def test_every_const_names_its_text_with_its_fields(rel: str, helper: str, at: int,
                                                    module: str, table: str) -> None:
    """Each caller's _T_NAME const is the index of the entry its comment names `name`
    (a renumbered table or a wrong const fails here), and each raise gives the text as
    many arguments as it has fields."""
    import importlib

    texts = getattr(importlib.import_module(module), table)
    entries = _entries(module, table)
    tree = ast.parse((ROOT / rel).read_text())
    consts = _consts(tree)
    assert consts, rel
    for const, i in consts.items():
        name = const[len("_T_"):].lower()
        assert entries.get(name) == i, f"{rel}: {const} = {i}, but {name!r} is {entries.get(name)}"
    calls = _calls(tree, helper, at)
    assert calls
    for line, const, nargs in calls:
        assert const in consts, f"{rel}:{line}: {const} is not defined there"
        fields = len(re.findall(r"%[-0-9.]*[sdrx]", texts[consts[const]]))
        assert fields == nargs, f"{rel}:{line}: {const} has {fields} fields, given {nargs}"
    assert {c for _, c, _ in calls} == set(consts), f"{rel}: a const no raise uses"


def test_every_text_is_raised_somewhere() -> None:
    """No orphan text: every entry of a table is some caller's const."""
    used: dict[tuple[str, str], set[int]] = {}
    for rel, _helper, _at, module, table in CASES:
        used.setdefault((module, table), set()).update(
            _consts(ast.parse((ROOT / rel).read_text())).values())
    for (module, table), idx in used.items():
        assert sorted(idx) == sorted(_entries(module, table).values()), module


def test_texts_word_the_failure() -> None:
    """What a reader of the error sees is the text with its values."""
    from firmware.drivers import mfrc522
    from firmware.drivers.mfrc522 import ProtocolError, error
    from protocols import cbor, frame

    exc = error(ProtocolError, mfrc522._T_ATQA, 3, 4)  # type: ignore[attr-defined]
    assert isinstance(exc, ProtocolError)
    assert str(exc) == "rfid: ATQA is 3 bytes, 4 bits, expected 2 bytes"
    with pytest.raises(cbor.MessageError, match=r"^cbor: map key \(1, 2\) is not a str$"):
        cbor.encode({(1, 2): 0})
    assert frame.oversize_error(9) == frame.FrameError("oversize", "oversize frame (>9 bytes)")
