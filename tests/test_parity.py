"""Runtime parity: every core test vector gives byte-identical traces on CPython and
MicroPython (the WebAssembly VM under Node), from the sources and from the code as
`armlock build` deploys it (.mpy, constants inlined across modules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware.core import trace
from hardware.micropython import MicroPythonVM, compiled_root, node_available

VECTORS = sorted((Path(__file__).resolve().parent.parent / "protocols" / "vectors")
                 .glob("core_*.json"))
pytestmark = pytest.mark.skipif(not node_available(), reason="node or node_modules missing")


@pytest.fixture(scope="module", params=["sources", "deployed"])
def vm(request, tmp_path_factory):
    root = None if request.param == "sources" else compiled_root(
        tmp_path_factory.mktemp("deployed"), inlined=True)
    with MicroPythonVM(heap_kb=1024, grow=True, root=root) as machine:
        machine.exec("import json, gc\nfrom firmware.core import trace")
        yield machine


def test_there_are_vectors_for_every_rule_family() -> None:
    names = {p.stem for p in VECTORS}
    assert {"core_unlock_relock", "core_permits", "core_lockout", "core_tamper_battery",
            "core_gnss_profiles", "core_time", "core_actuator"} <= names


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector_trace_identical_on_both_runtimes(vm, path: Path) -> None:
    vector = json.loads(path.read_text())
    expected = trace.run(vector)
    out = vm.exec("gc.collect()\ntrace.run(json.loads(%r), print)" % json.dumps(vector))
    got = out.splitlines()
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a == b, f"line {i} differs:\nMicroPython: {a}\nCPython:     {b}"


def test_vectors_exercise_unlock_and_relock() -> None:
    """A vector that never opens the lock proves little: each family must actuate."""
    for path in VECTORS:
        lines = trace.run(json.loads(path.read_text()))
        assert any('"actuate",true' in line for line in lines), path.stem
        assert any('"actuate",false' in line for line in lines), path.stem
