"""The bench's ESP32 stand-ins (tests/fakes/mp_esp32_stand_in.py) intern their names
before the app starts, so bench_heap_modules / bench_build count a name the app shares
with them as built in. Only a stock ESP32 image's own names may be shared: every
identifier (or string) of the stand-ins that the deployed firmware also uses must be in
the stand-in's BUILT_IN list (names of the real machine, bluetooth, esp32 and neopixel
APIs, as its header says) or its NOT_BUILT_IN list (the build module's, named there),
or be a Python keyword or builtin."""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import tokenize
from pathlib import Path

from hardware import build as B

REPO = Path(__file__).resolve().parents[1]
STAND_IN = REPO / "tests" / "fakes" / "mp_esp32_stand_in.py"


def names(text: str) -> set[str]:
    """The identifiers and string constants of a Python source."""
    out: set[str] = set()
    for t in tokenize.generate_tokens(io.StringIO(text).readline):
        if t.type == tokenize.NAME:
            out.add(t.string)
        elif t.type == tokenize.STRING:
            v = ast.literal_eval(t.string)
            if isinstance(v, str):
                out.add(v)
    return out


def declared() -> tuple[list[str], tuple[str, ...], str]:
    """BUILT_IN, NOT_BUILT_IN and the stand-ins' source without those two lists."""
    g: dict[str, object] = {}
    lines = STAND_IN.read_text().splitlines()
    for node in ast.parse("\n".join(lines)).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in (
                "BUILT_IN", "NOT_BUILT_IN"):
            exec(compile(ast.Module([node], []), str(STAND_IN), "exec"), g)
            assert node.end_lineno is not None
            for i in range(node.lineno - 1, node.end_lineno):
                lines[i] = ""
    return g["BUILT_IN"], g["NOT_BUILT_IN"], "\n".join(lines)  # type: ignore[return-value]


def test_stand_ins_share_only_built_in_names_with_the_firmware() -> None:
    built_in, not_built_in, code = declared()
    firmware: set[str] = set()
    for rel in B.sources() + [Path(p) for p in B.AS_SOURCE]:
        firmware |= names((REPO / rel).read_text(encoding="utf-8"))
    shared = names(code) & firmware
    allowed = set(built_in) | set(not_built_in) | set(keyword.kwlist) | set(dir(builtins))
    assert sorted(shared - allowed) == []


def test_built_in_list_names_only_what_the_stand_ins_use() -> None:
    """The list is the stand-ins' truth: each name in it is one they define or take."""
    built_in, not_built_in, code = declared()
    assert sorted(set(built_in + list(not_built_in)) - names(code)) == []
