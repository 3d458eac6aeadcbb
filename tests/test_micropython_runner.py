"""The MicroPython runner really runs firmware code under MicroPython (WASM, Node)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hardware import micropython as mp
from protocols import crypto

pytestmark = pytest.mark.skipif(
    not mp.node_available(), reason="node or MicroPython WASM missing: run `make setup`")


@pytest.fixture(scope="module")
def vm() -> Iterator[mp.MicroPythonVM]:
    with mp.MicroPythonVM() as machine:
        yield machine


def test_vm_is_micropython() -> None:
    out = mp.run("import sys\nprint(sys.implementation.name)")
    assert out == "micropython\n"


def test_imports_firmware_and_protocols_with_cpython_results() -> None:
    code = (
        "from firmware.core import events\n"
        "from protocols import crypto\n"
        "print(len(events.EVENT_KINDS))\n"
        "print(crypto.hmac_sha256(b'key', b'msg').hex())\n"
    )
    from firmware.core import events

    lines = mp.run(code).splitlines()
    assert lines == [str(len(events.EVENT_KINDS)), crypto.hmac_sha256(b"key", b"msg").hex()]


def test_last_line_without_newline_is_kept() -> None:
    assert mp.run("print('a')\nprint('tail', end='')") == "a\ntail"


def test_exception_carries_micropython_traceback() -> None:
    code = "print('before')\ndef f():\n    return 1 // 0\nf()\n"
    with pytest.raises(mp.MicroPythonError) as info:
        mp.run(code)
    err = info.value
    assert err.exc_type == "ZeroDivisionError"
    assert 'line 3, in f' in err.traceback and 'line 4, in <module>' in err.traceback
    assert "_armlock_rt" not in err.traceback  # runner frames are hidden
    assert err.out == "before\n"
    assert "ZeroDivisionError" in str(err)


def test_sys_exit_codes() -> None:
    assert mp.run("import sys\nprint('x')\nsys.exit(0)") == "x\n"
    with pytest.raises(mp.MicroPythonError):
        mp.run("import sys\nsys.exit(3)")


def test_heap_limit_raises_memory_error() -> None:
    grab = "b = bytearray(150 * 1024)\nprint(len(b))"
    assert mp.run(grab, heap_kb=256) == f"{150 * 1024}\n"
    with pytest.raises(mp.MicroPythonError) as info:
        mp.run(grab, heap_kb=mp.ESP32_HEAP_KB)
    assert info.value.exc_type == "MemoryError"


def test_heap_limit_counts_many_small_live_objects() -> None:
    code = "keep = []\nfor i in range(400):\n    keep.append(bytearray(1000))\n"
    with pytest.raises(mp.MicroPythonError) as info:
        mp.run(code, heap_kb=mp.ESP32_HEAP_KB)
    assert info.value.exc_type == "MemoryError"


def test_steps_collect_garbage_between_iterations() -> None:
    """Within one call nothing is collected; a __steps__ generator gets GC per step."""
    churn = "for i in range(200):\n    junk = bytearray(2000)\n"
    with pytest.raises(mp.MicroPythonError) as info:
        mp.run(churn, heap_kb=64)
    assert info.value.exc_type == "MemoryError"
    stepped = (
        "def main():\n"
        "    for i in range(200):\n"
        "        junk = bytearray(2000)\n"
        "        yield\n"
        "    print('done', i)\n"
        "__steps__ = main()\n"
    )
    assert mp.run(stepped, heap_kb=64) == "done 199\n"


def test_only_copies_listed_files() -> None:
    out = mp.run("import protocols.crypto\nprint('ok')", only=["protocols/crypto.py"])
    assert out == "ok\n"
    with pytest.raises(mp.MicroPythonError) as info:
        mp.run("import firmware.core.events", only=["protocols/crypto.py"])
    assert info.value.exc_type == "ImportError"


def test_serve_runs_many_snippets_sharing_globals(vm: mp.MicroPythonVM) -> None:
    vm.exec("total = 0")
    for i in range(200):
        vm.exec(f"total += {i}")
    assert vm.exec("print(total)") == f"{sum(range(200))}\n"


def test_serve_error_leaves_vm_usable(vm: mp.MicroPythonVM) -> None:
    vm.exec("kept = 41")
    with pytest.raises(mp.MicroPythonError) as info:
        vm.exec("raise ValueError('bad frame')")
    assert info.value.exc_type == "ValueError"
    assert "ValueError: bad frame" in info.value.traceback
    assert vm.exec("print(kept + 1)") == "42\n"


def test_serve_output_is_per_snippet(vm: mp.MicroPythonVM) -> None:
    assert vm.exec("print('one')") == "one\n"
    assert vm.exec("print('two')") == "two\n"
    assert vm.exec("x = 1") == ""


def test_serve_heap_limit() -> None:
    with mp.MicroPythonVM(heap_kb=64) as small:
        with pytest.raises(mp.MicroPythonError) as info:
            small.exec("b = bytearray(100 * 1024)")
        assert info.value.exc_type == "MemoryError"
        assert small.exec("print('alive')") == "alive\n"


def test_heap_used_counts_live_allocations() -> None:
    small = mp.heap_used("buf = bytearray(1000)")
    big = mp.heap_used("buf = bytearray(20000)")
    assert 1000 <= small < 1200
    assert 20000 <= big < 20300
    assert mp.heap_used("junk = bytearray(20000)\njunk = None") < 200


def test_missing_package_gives_setup_hint(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(mp, "PACKAGE", tmp_path / "nowhere")
    assert not mp.node_available()
    with pytest.raises(mp.MicroPythonUnavailable, match="make setup"):
        mp.run("print(1)")


def test_set_global_and_eval_json_carry_values_both_ways(vm: mp.MicroPythonVM) -> None:
    value = {"n": -(2**40), "s": "\u00e9t\u00e9", "l": [1, [True, None]], "f": 0.5}
    vm.set_global("given", value)
    assert vm.eval_json("given") == value
    assert vm.eval_json("[len(given['l']), given['n'] * 2]") == [2, -(2**41)]
    with pytest.raises(ValueError, match="not a Python identifier"):
        vm.set_global("a b", 1)


def test_grow_lifts_the_heap_cap() -> None:
    churn = "for i in range(100):\n    junk = bytearray(2000)\nprint('done')"
    with mp.MicroPythonVM(heap_kb=64) as capped:
        with pytest.raises(mp.MicroPythonError):
            capped.exec(churn)
    with mp.MicroPythonVM(heap_kb=64, grow=True) as grown:
        assert grown.exec(churn) == "done\n"


def test_heap_profile_reports_each_step() -> None:
    used = mp.heap_profile(["a = bytearray(5000)", "b = bytearray(10000)", "a = None"])
    assert len(used) == 4
    assert 5000 <= used[1] - used[0] < 5200
    assert 10000 <= used[2] - used[1] < 10200
    assert -5200 < used[3] - used[2] <= -5000
