"""The virtual board: the armlock firmware behind a pseudo-terminal, like an ESP32 on USB.

`VirtualBoard` creates a pty pair, starts the board process and pumps bytes between the
pty master and the process's stdin/stdout (the board's UART). Clients open `.port`
(e.g. /dev/pts/5) with pyserial or mpremote as they would a real board.

Runtimes:
- ``micropython`` (default): Node runs hardware/virtual/board.mjs, the MicroPython 1.27
  WebAssembly VM with the firmware files on its filesystem; dev mode has the REPL,
  raw REPL and raw-paste (mpremote works), production mode does not.
- ``cpython``: this module run as a child (``python -m hardware.virtual.twin``, twin.py) imports
  the same firmware files (from <state-dir>/flash) and drives the same
  ``start/step/wake_ms`` app API. There is no REPL in this runtime: 0x03 is data.

State dir layout (both runtimes): ``flash/`` the board's files (flashed from the repo on
first use: firmware/**/*.py, protocols/**/*.py and a main.py entry shim), ``storage/``
the app's persistent data. A board started again on the same dir keeps both.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger("armlock.virtual")

REPO = Path(__file__).resolve().parents[2]
BOARD_MJS = Path(__file__).resolve().with_name("board.mjs")
RUNTIMES = ("micropython", "cpython")
CUT_PHASES = ("before", "mid", "after")
MODES = ("dev", "production")
MAIN_SHIM = (
    "# armlock virtual board entry point: the board host drives start()/step()/wake_ms().\n"
    "# Replace this file (e.g. with mpremote) to run another app with the same three calls.\n"
    "from firmware.ports.virtual.main import start, step, wake_ms  # noqa: F401\n"
)
PTY_BACKLOG = 64 * 1024  # output held for the pty; beyond it the board is not read (backpressure)


class BoardError(RuntimeError):
    """The virtual board could not start, or stopped unexpectedly."""


def ensure_flash(flash_dir: Path, repo: Path = REPO) -> bool:
    """Flash the repo image into `flash_dir` unless it exists; True if it flashed now."""
    if flash_dir.exists():
        return False
    staging = flash_dir.with_name(flash_dir.name + ".vbtmp")
    shutil.rmtree(staging, ignore_errors=True)
    for top in ("firmware", "protocols"):
        for src in sorted((repo / top).rglob("*.py")):
            if "__pycache__" in src.parts:
                continue
            dst = staging / src.relative_to(repo)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "main.py").write_text(MAIN_SHIM)
    staging.rename(flash_dir)
    return True


def provision(state_dir: Path, device_id: str, device_key: bytes,
              authority: tuple[bytes, ...] = ()) -> None:
    """Give the board its identity (storage/identity.json, the format of
    firmware/app/identity.py), as the factory would. An unprovisioned board follows that
    file's policy: the public dev identity in dev mode, none in production (it refuses
    every token with "device not provisioned"). `authority`: the public points of the
    authority keys the board trusts (none: it refuses every token)."""
    from firmware.app import identity

    try:
        data = identity.encode(device_id, device_key, authority)
    except (ValueError, TypeError) as exc:
        raise BoardError(f"identity: {exc}") from None
    storage = state_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    tmp = storage / (identity.FILE + ".new")
    tmp.write_bytes(data)
    tmp.replace(storage / identity.FILE)


class VirtualBoard:
    """A virtual armlock board behind a pty; use as a context manager or start()/stop()."""

    def __init__(
        self,
        state_dir: str | Path | None = None,
        mode: str = "dev",
        runtime: str = "micropython",
        heap_kb: int = 56,
        heap_max_kb: int = 0,
        tick_ms: int = 20,
        ready_timeout: float = 30.0,
        identity: tuple[str, bytes, tuple[bytes, ...]] | None = None,
        reflash: bool = False,
    ) -> None:
        # absolute: the board process runs in the repo, not in the caller's directory
        self.state_dir = Path(state_dir).resolve() if state_dir is not None else None
        self.mode = mode
        self.runtime = runtime
        self.heap_kb = heap_kb
        self.heap_max_kb = heap_max_kb  # growth cap: 56 KB doubling (see board.mjs)
        self.tick_ms = tick_ms
        self.ready_timeout = ready_timeout
        self.identity = identity
        self.reflash = reflash  # replace <state-dir>/flash with the repo's firmware at start
        self.port = ""
        self.power_cut: tuple[int, str] | None = None  # see cut_power_at_write
        self.version = ""
        self.exit_code: int | None = None
        self.log_lines: collections.deque[str] = collections.deque(maxlen=200)
        self.on_log: Callable[[str], None] | None = None  # called for each board log line
        self._proc: subprocess.Popen[bytes] | None = None
        self._master = self._slave = -1
        self._wake_r = self._wake_w = -1
        self._threads: list[threading.Thread] = []
        self._ready = threading.Event()
        self._exited = threading.Event()
        self._stopping = False
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(
        self,
        state_dir: str | Path | None = None,
        mode: str | None = None,
        runtime: str | None = None,
        heap_kb: int | None = None,
    ) -> VirtualBoard:
        """Start the board (arguments override the constructor's); return when it is ready."""
        if self._proc is not None:
            raise BoardError("virtual board already started")
        self.state_dir = Path(state_dir) if state_dir is not None else self.state_dir
        self.mode = mode or self.mode
        self.runtime = runtime or self.runtime
        self.heap_kb = heap_kb or self.heap_kb
        self._check_args()
        self._ready, self._exited, self._stopping = threading.Event(), threading.Event(), False
        if self.state_dir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="armlock-board-")
            self.state_dir = Path(self._tmpdir.name)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BoardError(f"state dir {self.state_dir}: {exc.strerror}") from None
        if self.identity is not None:
            provision(self.state_dir, *self.identity)
        if self.reflash:
            shutil.rmtree(self.state_dir / "flash", ignore_errors=True)
            ensure_flash(self.state_dir / "flash")
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        env = dict(os.environ)
        if self.power_cut is not None:
            env["ARMLOCK_VB_CUT"] = "%d:%s" % self.power_cut
            self.power_cut = None  # for this power-on only
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(REPO),
            start_new_session=True,
            env=env,
        )
        self._point_link()
        self._spawn(self._pump, "vb-pump")
        self._spawn(self._read_stderr, "vb-stderr")
        self._wait_ready()
        return self

    def _point_link(self) -> None:
        """<state-dir>/tty -> the current pty: a port name that survives restarts (as
        /dev/serial/by-id/... does for a real board that re-enumerates)."""
        assert self.state_dir is not None
        tmp = self.state_dir / "tty.new"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(self.port, tmp)
        os.replace(tmp, self.link)

    @property
    def link(self) -> Path:
        """The stable port name of this board (<state-dir>/tty)."""
        assert self.state_dir is not None
        return self.state_dir / "tty"

    def cut_power_at_write(self, n: int, phase: str = "mid") -> None:
        """At the next start, the board kills itself at its `n`-th flash file write (1 is the
        first): "before" writing, "mid" (half of the new file written), or "after" it is in
        place. Node runtime only (the CPython twin writes through the app's own files)."""
        if phase not in CUT_PHASES or n < 1:
            raise BoardError(f"power cut at write {n} {phase!r}: n >= 1, phase one of "
                             f"{', '.join(CUT_PHASES)}")
        self.power_cut = (n, phase)

    def kill(self) -> None:
        """Power cut: SIGKILL the board process now (no sync), close the pty. start() again
        powers it on with whatever reached its state dir."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        self._unlink()  # unplugged: its port name goes (a reused pts number is not it)
        self._teardown(cleanup=False)

    def _unlink(self) -> None:
        if self.state_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def _check_args(self) -> None:
        if self.mode not in MODES:
            raise BoardError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.runtime not in RUNTIMES:
            raise BoardError(f"runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if self.heap_kb < 16:
            raise BoardError(f"heap_kb must be at least 16, not {self.heap_kb}")
        if self.heap_max_kb and self.heap_max_kb < self.heap_kb:
            raise BoardError(f"heap_max_kb must be 0 (no cap) or at least heap_kb "
                             f"({self.heap_kb}), not {self.heap_max_kb}")

    def _command(self) -> list[str]:
        assert self.state_dir is not None
        common = ["--state-dir", str(self.state_dir), "--mode", self.mode,
                  "--tick-ms", str(self.tick_ms)]
        if self.runtime == "cpython":
            return [sys.executable, "-m", "hardware.virtual.twin", *common]
        node = shutil.which("node")
        if node is None:
            raise BoardError("Node.js (node) not found on PATH; use --runtime cpython")
        return [node, str(BOARD_MJS), *common, "--heap-kb", str(self.heap_kb),
                "--heap-max-kb", str(self.heap_max_kb)]

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.wait(0.05):
            if self._exited.is_set() or time.monotonic() > deadline:
                why = "exited" if self._exited.is_set() else "did not become ready"
                tail = " | ".join(list(self.log_lines)[-5:])
                self.stop()
                raise BoardError(f"virtual board {why} (code {self.exit_code}): {tail}")

    @property
    def alive(self) -> bool:
        """True while the board process runs."""
        return self._proc is not None and not self._exited.is_set()

    def describe(self) -> str:
        """One line saying where the board is and what it runs."""
        what = f"MicroPython {self.version} WASM" if self.runtime == "micropython" else (
            f"CPython {sys.version.split()[0]}")
        return f"virtual board ready on {self.port} ({self.mode} mode, {what})"

    def wait_exit(self, timeout: float | None = None) -> int | None:
        """Wait for the board process to end; its exit code, or None on timeout."""
        self._exited.wait(timeout)
        return self.exit_code

    def stop(self) -> None:
        """Stop the board (it syncs its filesystem first), reap it and close the pty."""
        proc = self._proc
        self._stopping = True
        if proc is not None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()  # the board syncs and exits at end of input
            self._unlink()
        self._teardown(cleanup=True)

    def _teardown(self, cleanup: bool) -> None:
        self._stopping = True
        proc = self._proc
        if proc is not None:
            self._reap(proc)
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = -1
        if proc is not None:
            for f in (proc.stdout, proc.stderr):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()
        self._proc = None
        if cleanup and self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        for sig, wait in ((None, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if sig is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
            try:
                self.exit_code = proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> VirtualBoard:
        if self._proc is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- pumping --------------------------------------------------------------------------

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.log_lines.append(line)
            log.debug("%s", line)
            if self.on_log is not None:
                self.on_log(line)
            if line.startswith("board: ready"):
                self.version = _field(line, "version")
                self._ready.set()

    def _pump(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None and proc.stdin is not None
        out_fd, in_fd = proc.stdout.fileno(), proc.stdin.fileno()
        os.set_blocking(in_fd, False)
        to_child, to_pty = bytearray(), bytearray()
        sel = selectors.DefaultSelector()
        try:
            while True:
                _register(sel, self._master, selectors.EVENT_READ
                          | (selectors.EVENT_WRITE if to_pty else 0))
                _register(sel, out_fd, selectors.EVENT_READ if len(to_pty) < PTY_BACKLOG else 0)
                _register(sel, self._wake_r, selectors.EVENT_READ)
                _register(sel, in_fd, selectors.EVENT_WRITE if to_child else 0)
                for key, events in sel.select(timeout=0.5):
                    fd = key.fd
                    if fd == self._wake_r:
                        return
                    if fd == out_fd:
                        data = os.read(out_fd, 65536)
                        if not data:
                            self._child_gone()
                            return
                        to_pty += data
                    if fd == self._master and events & selectors.EVENT_READ:
                        to_child += _read_nb(self._master)
                    if fd == self._master and events & selectors.EVENT_WRITE:
                        del to_pty[: _write_nb(self._master, to_pty)]
                    if fd == in_fd and to_child:
                        del to_child[: _write_nb(in_fd, to_child)]
        except OSError as exc:
            if not self._stopping:
                log.error("virtual board pump stopped: %s", exc)
        finally:
            sel.close()

    def _child_gone(self) -> None:
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.exit_code = proc.wait(timeout=5)
        self._exited.set()
        if not self._stopping:
            tail = " | ".join(list(self.log_lines)[-5:])
            log.error("virtual board exited unexpectedly (code %s): %s", self.exit_code, tail)


def _register(sel: selectors.BaseSelector, fd: int, events: int) -> None:
    try:
        if events:
            sel.modify(fd, events)
        else:
            sel.unregister(fd)
    except KeyError:
        if events:
            sel.register(fd, events)


def _read_nb(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""
    except OSError as exc:  # EIO when the last slave opener closes on some systems
        if exc.errno == errno.EIO:
            return b""
        raise


def _write_nb(fd: int, data: bytearray) -> int:
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0


def _field(line: str, name: str) -> str:
    for part in line.split():
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
    return ""
