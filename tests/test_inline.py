"""The build's constant inlining (hardware/inline.py): what it replaces, what it must
leave alone, and that the rewritten deploy behaves as the sources do."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hardware import boards
from hardware import build as B
from hardware.inline import inline
from hardware.micropython import MicroPythonVM, node_available

EVENTS = '''from micropython import const
RFID = "rfid"
LIMIT = const(40)
LONG = "a_long_reason_text"
TWICE = 1
TWICE = 2
'''


def _pkg(**mods: str) -> dict[str, str]:
    return {f"pkg/{name}.py": text for name, text in mods.items()}


def test_a_constant_read_elsewhere_is_inlined_and_its_name_dropped() -> None:
    srcs = _pkg(events=EVENTS, user='''from pkg import events as E
from pkg.events import LIMIT, TWICE
def f(kind, n):
    return kind == E.RFID and n < LIMIT, TWICE
''')
    out = inline(srcs)
    user, events = out["pkg/user.py"], out["pkg/events.py"]
    assert "'rfid'" in user and "(40)" in user and "E.RFID" not in user
    assert "from pkg.events import (TWICE" in user          # TWICE is bound twice: kept
    assert "RFID =" not in events and "LIMIT =" not in events and "TWICE = 2" in events
    for rel, text in out.items():
        assert len(text.splitlines()) == len(srcs[rel].splitlines())
        ast.parse(text)


def test_line_numbers_are_kept() -> None:
    src = '''from pkg.events import (
    LIMIT,
    RFID,
)
print(LIMIT)
'''
    out = inline(_pkg(events=EVENTS, user=src))["pkg/user.py"]
    assert out.splitlines()[4] == "print((40))" and len(out.splitlines()) == 5


@pytest.mark.parametrize("user", [
    'import pkg.events as E\ndef f():\n    return getattr(E, "RFID")\n',   # by name
    'from pkg import events as E\nE.RFID = "x"\n',                      # assigned outside
    'from pkg import events as E\ndef f(k):\n    return getattr(E, k)\n',  # any of its names
])
def test_a_constant_reached_by_name_is_left_defined(user: str) -> None:
    out = inline(_pkg(events=EVENTS, user=user))
    assert 'RFID = "rfid"' in out["pkg/events.py"]


def test_a_local_of_the_same_name_keeps_the_import() -> None:
    src = 'from pkg.events import LIMIT\ndef f(LIMIT=3):\n    return LIMIT\n'
    out = inline(_pkg(events=EVENTS, user=src))
    assert out["pkg/user.py"] == src and "LIMIT = const(40)" in out["pkg/events.py"]


def test_an_attribute_of_something_else_keeps_the_name() -> None:
    """self.RFID could be the module itself (held in an attribute): keep RFID defined."""
    user = "class A:\n    def f(self):\n        return self.m.RFID\n"
    out = inline(_pkg(events=EVENTS, user=user))
    assert 'RFID = "rfid"' in out["pkg/events.py"]


def test_a_long_string_is_moved_only_to_its_one_reader() -> None:
    one = inline(_pkg(events=EVENTS, a='from pkg.events import LONG\nX = LONG\n'))
    assert "X = 'a_long_reason_text'" in one["pkg/a.py"] and "LONG =" not in one["pkg/events.py"]
    two = inline(_pkg(events=EVENTS, a='from pkg.events import LONG\nX = LONG\n',
                      b='from pkg import events\nY = events.LONG\n'))
    assert two["pkg/a.py"].endswith("X = LONG\n") and 'LONG = "a_long' in two["pkg/events.py"]


def test_reads_through_a_module_getattr_and_a_reexport() -> None:
    out = inline(_pkg(events=EVENTS, fwd='''from pkg import events as _e
from pkg.events import LIMIT
def __getattr__(name):
    return getattr(_e, name)
''', user='from pkg import fwd\nfrom pkg.fwd import LIMIT as L\nX = (fwd.RFID, L)\n'))
    assert out["pkg/user.py"].splitlines()[-1] == "X = ('rfid', (40))"


needs_vm = pytest.mark.skipif(not node_available(), reason="Node.js is not installed")


@needs_vm
def test_the_rewritten_modules_run_as_the_sources_do(tmp_path: Path) -> None:
    user = '''from firmware.t import events as E
from firmware.t.events import LIMIT, LONG
def f(kind, n):
    return kind == E.RFID, n < LIMIT, LONG, E.TWICE
'''
    srcs = {"firmware/t/events.py": EVENTS, "firmware/t/user.py": user}
    outs = []
    for name, texts in (("src", srcs), ("inlined", inline(srcs))):
        for rel, text in texts.items():
            (tmp_path / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / rel).write_text(text)
        with MicroPythonVM(heap_kb=256, root=tmp_path / name) as vm:
            outs.append(vm.exec("from firmware.t import user\nprint(user.f('rfid', 39))"))
    assert outs[0] == outs[1] == "(True, True, 'a_long_reason_text', 2)\n"


def test_the_deploy_keeps_its_line_count_and_parses() -> None:
    """Every deployed source, rewritten: the same lines, valid Python, fewer names."""
    srcs = B.sources(B.REPO, boards.load("esp32-devkitc").data)
    texts = B.deployed_texts(B.REPO, srcs)
    for s in srcs:
        before = (B.REPO / s).read_text(encoding="utf-8")
        assert len(texts[s.as_posix()].splitlines()) == len(before.splitlines()), s
        ast.parse(texts[s.as_posix()])
    controller = texts["firmware/core/controller.py"]
    assert "E.RFID" not in controller and "'rfid'" in controller


def test_a_name_bound_to_a_constant_is_one_too() -> None:
    """`_K = E.KIND` (or a tuple of them) is inlined like E.KIND; unread, it goes."""
    out = inline(_pkg(events=EVENTS, user='''from pkg import events as E
_R, _L = (E.RFID, E.LIMIT)
ALIAS = E.LIMIT
def f():
    return _R, _L
''', other="from pkg.user import ALIAS\nZ = [ALIAS]\n"))
    lines = out["pkg/user.py"].splitlines()
    assert lines[1] == "pass" and lines[2] == "pass" and lines[4] == "    return 'rfid', (40)"
    assert out["pkg/other.py"].splitlines() == ["pass", "Z = [(40)]"]


def test_a_read_inside_an_f_string_stays() -> None:
    """Its columns are not reliable there and a quote could end the string early."""
    src = "from pkg import events as E\nX = f'{E.RFID}:{E.LIMIT}'\ndef f():\n    return E.LIMIT\n"
    out = inline(_pkg(events=EVENTS, user=src))
    assert out["pkg/user.py"] == src.replace("return E.LIMIT", "return (40)")
    assert 'RFID = "rfid"' in out["pkg/events.py"] and "LIMIT = const(40)" in out["pkg/events.py"]
