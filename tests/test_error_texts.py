"""The failure wording kept off the resident heap (texts modules imported on an error
only): every key a driver raises with names a text, with as many arguments as the text
has fields, so a rare failure never turns into a KeyError or TypeError of its own."""

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


def _calls(path: Path, helper: str, at: int) -> list[tuple[int, str, int]]:
    """(line, key, number of format arguments) of every helper(..., "key", ...) call, the
    key its argument number `at`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == helper):
            key = node.args[at]
            assert isinstance(key, ast.Constant), f"{path}:{node.lineno}: key not a literal"
            out.append((node.lineno, key.value, len(node.args) - at - 1))
    return out


@pytest.mark.parametrize(("rel", "helper", "at", "module", "table"), CASES)
def test_every_key_names_a_text_with_its_fields(rel: str, helper: str, at: int,
                                                module: str, table: str) -> None:
    import importlib

    texts = getattr(importlib.import_module(module), table)
    calls = _calls(ROOT / rel, helper, at)
    assert calls
    for line, key, nargs in calls:
        assert key in texts, f"{rel}:{line}: no text {key!r}"
        fields = len(re.findall(r"%[-0-9.]*[sdrx]", texts[key]))
        assert fields == nargs, f"{rel}:{line}: {key!r} has {fields} fields, given {nargs}"


def test_texts_word_the_failure() -> None:
    """What a reader of the error sees is the text with its values."""
    from firmware.drivers.mfrc522 import ProtocolError, error
    from protocols import cbor, frame

    exc = error(ProtocolError, "atqa", 3, 4)
    assert isinstance(exc, ProtocolError)
    assert str(exc) == "rfid: ATQA is 3 bytes, 4 bits, expected 2 bytes"
    with pytest.raises(cbor.MessageError, match=r"^cbor: map key \(1, 2\) is not a str$"):
        cbor.encode({(1, 2): 0})
    assert frame.oversize_error(9) == frame.FrameError("oversize", "oversize frame (>9 bytes)")
