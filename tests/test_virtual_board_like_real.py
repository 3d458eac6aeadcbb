"""The virtual board behaves like a MicroPython ESP32 on its serial port: one test per
behaviour of issue 13 (line endings, Ctrl-C, streamed output with backpressure, raw-paste
flow control, "/" is the flash, clean tracebacks, ESP32 identity, machine, heap cap),
with stock mpremote where a user would use it. What still differs: README.md."""

from __future__ import annotations

import os
import socket
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from hardware.virtual.launcher import VirtualBoard
from tests.test_virtual_board import mpremote, needs_node

pytestmark = needs_node


class Repl:
    """A pyserial session at the board's REPL (the app interrupted with Ctrl-C)."""

    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, timeout=0.05)
        self.text = bytearray()
        self.ser.write(b"\r\x03\x03")
        self.until(b">>> ")
        time.sleep(0.3)                      # the prompts of the second Ctrl-C
        self.ser.read(65536)
        self.text.clear()

    def until(self, marker: bytes, wait: float = 10.0) -> bytes:
        end = time.monotonic() + wait
        while marker not in self.text and time.monotonic() < end:
            self.text += self.ser.read(4096)
        assert marker in self.text, f"{marker!r} not in {bytes(self.text[-300:])!r}"
        i = self.text.index(marker) + len(marker)
        out = bytes(self.text[:i])
        del self.text[:i]
        return out

    def run(self, line: str, wait: float = 10.0) -> str:
        """Type one line at the friendly REPL; what it printed (without the echo)."""
        self.ser.write(line.encode() + b"\r")
        self.until(line.encode() + b"\r\n", wait)  # the echo
        return self.until(b">>> ", wait).decode("latin1")[: -len(">>> ")]

    def close(self) -> None:
        self.ser.close()


@pytest.fixture
def board(tmp_path: Path) -> Iterator[VirtualBoard]:
    with VirtualBoard(tmp_path / "b") as vb:
        yield vb


@pytest.fixture
def repl(board: VirtualBoard) -> Iterator[Repl]:
    r = Repl(board.port)
    yield r
    r.close()


def test_output_lines_end_in_crlf(repl: Repl) -> None:
    out = repl.run("print('a\\nb'); print(1/0 if 0 else 'c')")
    assert out == "a\r\nb\r\nc\r\n"
    tb = repl.run("1/0")
    assert tb.endswith("ZeroDivisionError: divide by zero\r\n")
    assert b"\n" not in tb.replace("\r\n", "").encode()


def test_ctrl_c_interrupts_a_busy_loop_and_the_board_stays_usable(board: VirtualBoard,
                                                                  repl: Repl) -> None:
    repl.ser.write(b"while True: pass\r\r")
    time.sleep(0.5)
    t = time.monotonic()
    repl.ser.write(b"\x03")
    out = repl.until(b">>> ", wait=5).decode("latin1")
    assert "KeyboardInterrupt" in out
    assert time.monotonic() - t < 3
    assert repl.run("print(6 * 7)") == "42\r\n"
    repl.close()
    r = mpremote(board.port, "exec", "print('after', 1 + 1)", timeout=20)  # stock client
    assert r.returncode == 0, r.stderr
    assert "after 2" in r.stdout


def test_ctrl_c_interrupts_a_blocking_input_and_keeps_the_session(repl: Repl) -> None:
    repl.run("kept = 'still here'")
    repl.ser.write(b"x = input('name? ')\r")
    repl.until(b"name? ")
    repl.ser.write(b"\x03")
    assert "KeyboardInterrupt" in repl.until(b">>> ", wait=3).decode("latin1")
    assert repl.run("print(kept)") == "still here\r\n"  # the REPL's state survived
    repl.ser.write(b"y = input('> ')\r")
    repl.until(b"> ")
    repl.ser.write(b"typed\r")
    repl.until(b">>> ")
    assert repl.run("print(y)") == "typed\r\n"


def test_output_is_streamed_while_the_code_runs(repl: Repl) -> None:
    repl.run("import time")
    prog = ("print('early')\\nt = time.ticks_ms()\\n"
            "while time.ticks_diff(time.ticks_ms(), t) < 2000: pass\\nprint('late')")
    repl.ser.write(f'exec("{prog}")\r'.encode())
    repl.until(b"early\r\n", wait=5)
    t = time.monotonic()
    repl.until(b"late\r\n", wait=10)
    assert time.monotonic() - t > 1.0, "the first line came before the program ended"


def test_a_slow_reader_gets_all_output_in_order(repl: Repl) -> None:
    repl.ser.write(b"for i in range(3000): print('%05d' % i, 'x' * 60)\r\r")
    got = bytearray()
    end = time.monotonic() + 90
    last = b"02999 " + b"x" * 60 + b"\r\n"     # the whole last line, not its start
    while last not in got and time.monotonic() < end:
        time.sleep(0.02)                  # a slow reader: 4 KB per 20 ms at most
        got += repl.ser.read(4096)
    rows = [r for r in got.split(b"\r\n") if len(r) == 66 and r[:5].isdigit()]
    assert [int(r[:5]) for r in rows] == list(range(3000)), "every line (200 KB), in order"


def test_raw_paste_end_is_acknowledged_before_the_code_runs(repl: Repl) -> None:
    s = repl.ser
    s.write(b"\x01")
    repl.until(b"raw REPL; CTRL-B to exit\r\n>")
    s.write(b"\x05A\x01")
    head = repl.until(b"R\x01", wait=3)
    assert head.endswith(b"R\x01")
    time.sleep(0.1)
    repl.text += s.read(2)                # the window size, u16 LE
    code = (b"import time\nt = time.ticks_ms()\n"
            b"while time.ticks_diff(time.ticks_ms(), t) < 2000:\n    pass\nprint('done')\n")
    s.write(code + b"\x04")
    t = time.monotonic()
    repl.until(b"\x04", wait=3)           # the end acknowledged at once...
    assert time.monotonic() - t < 1.5
    out = repl.until(b"\x04>", wait=10)   # ... then the program's output
    assert b"done" in out and time.monotonic() - t >= 1.5


def test_ctrl_c_aborts_a_raw_paste_left_by_a_host_that_vanished(board: VirtualBoard,
                                                                repl: Repl) -> None:
    s = repl.ser
    s.write(b"\x01")
    repl.until(b"raw REPL; CTRL-B to exit\r\n>")
    s.write(b"\x05A\x01")
    repl.until(b"R\x01")
    s.write(b"print('half of a prog")  # ... and the host goes away
    repl.close()
    r = mpremote(board.port, "exec", "print('next client')", timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "next client"


def test_root_is_the_flash_and_removals_persist(tmp_path: Path) -> None:
    state = tmp_path / "b"
    src = tmp_path / "x.txt"
    src.write_text("on the flash\n")
    with VirtualBoard(state) as vb:
        r = mpremote(vb.port, "fs", "cp", str(src), ":/x.txt", "+", "fs", "mkdir", ":/d1",
                     "+", "fs", "mkdir", ":/d2", "+", "fs", "cp", str(src), ":/d2/y.txt")
        assert r.returncode == 0, r.stderr
        r = mpremote(vb.port, "fs", "rmdir", ":/d1", "+", "fs", "rm", "-r", ":/d2")
        assert r.returncode == 0, r.stderr
    assert (state / "flash" / "x.txt").read_text() == "on the flash\n"
    with VirtualBoard(state) as vb:          # the next power-on sees the same flash
        r = mpremote(vb.port, "exec", "import os; print(sorted(os.listdir('/')))")
        assert r.returncode == 0, r.stderr
        names = eval(r.stdout.strip())  # noqa: S307 - a list literal printed by the board
        assert "x.txt" in names and "main.py" in names
        assert not {"d1", "d2", "dev", "proc", "tmp", "home"} & set(names)
        r = mpremote(vb.port, "exec", "print(open('/x.txt').read())")
        assert "on the flash" in r.stdout


def test_tracebacks_show_only_the_users_frames(board: VirtualBoard) -> None:
    prog = "def f():\n    open('/nope')\nf()\n"
    r = mpremote(board.port, "exec", prog)
    assert r.returncode == 1
    tb = r.stdout + r.stderr
    assert "OSError: [Errno 2] ENOENT" in tb
    frames = [ln for ln in tb.splitlines() if ln.strip().startswith("File ")]
    assert frames == ['  File "<stdin>", line 3, in <module>',
                      '  File "<stdin>", line 2, in f'], tb


def test_presents_as_an_esp32(repl: Repl) -> None:
    assert repl.run("import sys, os; print(sys.platform)") == "esp32\r\n"
    assert repl.run("print(os.uname().sysname, os.uname().machine)") == (
        "esp32 Generic ESP32 module with ESP32\r\n")
    assert "ESP32" in repl.run("print(sys.implementation._machine)")
    repl.ser.write(b"\x02")                   # Ctrl-B: the banner
    banner = repl.until(b">>> ").decode("latin1")
    assert "Generic ESP32 module with ESP32" in banner and "Emscripten" not in banner


def test_machine_has_pin_rtc_freq_and_reset_cause(board: VirtualBoard, repl: Repl) -> None:
    assert repl.run("import machine; print(machine.reset_cause() == machine.PWRON_RESET)") == (
        "True\r\n")
    assert repl.run("p = machine.Pin(2, machine.Pin.OUT); p.value(1); print(p.value(), p)") == (
        "1 Pin(2)\r\n")
    assert "ValueError" in repl.run("machine.Pin(34, machine.Pin.OUT)")  # input-only pin
    assert repl.run("print(machine.freq())") == "160000000\r\n"
    assert repl.run("machine.freq(240000000); print(machine.freq())") == "240000000\r\n"
    dt = repl.run("print(machine.RTC().datetime())")
    assert time.strftime("(%Y, ", time.gmtime()) in dt
    repl.close()
    r = mpremote(board.port, "soft-reset", "exec",
                 "import machine; print(machine.reset_cause() == machine.SOFT_RESET)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"


def test_heap_cap_makes_large_allocations_fail_as_on_the_chip(tmp_path: Path) -> None:
    """A capped heap refuses what does not fit. The cap is 4 MB here, not the chip's
    112 KB: the WASM VM collects garbage only between calls from JS, and the boot's
    P-256 comb tables (signed tokens) make over 1 MB of garbage in one call, so a chip-
    sized cap would stop the boot (README: what still differs)."""
    with VirtualBoard(tmp_path / "capped", heap_max_kb=4096) as vb:
        r = mpremote(vb.port, "exec", "b = bytearray(5 * 1024 * 1024)")
        assert "MemoryError" in r.stdout + r.stderr
        r = mpremote(vb.port, "exec", "b = bytearray(20 * 1024); print(len(b))")
        assert r.stdout.strip() == "20480"
    with VirtualBoard(tmp_path / "uncapped", heap_max_kb=0) as vb:
        r = mpremote(vb.port, "exec", "b = bytearray(5 * 1024 * 1024); print(len(b))")
        assert r.stdout.strip() == str(5 * 1024 * 1024)


@needs_node
def test_running_out_of_a_capped_heap_reports_memory_error_and_reaches_the_repl(
        tmp_path: Path) -> None:
    """A dev boot that needs more than the cap (the comb tables' garbage, above) does not
    hang the board: it prints the MemoryError, as a chip prints an uncaught one, and the
    REPL answers."""
    t0 = time.monotonic()
    with VirtualBoard(tmp_path / "tight", heap_max_kb=512, ready_timeout=60) as vb:
        assert time.monotonic() - t0 < 30
        assert any("vm out of memory" in line for line in vb.log_lines)
        r = mpremote(vb.port, "exec", "print(6 * 7)")
        assert r.stdout.strip() == "42", r.stdout + r.stderr


@pytest.mark.parametrize("runtime", ["cpython", pytest.param("micropython", marks=needs_node)])
def test_dtr_rts_reach_the_board_over_rfc2217_and_the_esptool_reset_resets_it(
        tmp_path: Path, runtime: str) -> None:
    """The pty refuses modem-line ioctls (Linux); the board's RFC 2217 bridge accepts
    DTR/RTS as a USB bridge does, and an EN pulse over RTS (esptool's reset) resets it."""
    from hardware.client import CounterStore, DeviceClient
    from hardware.link.factory import open_target
    from hardware.link.serial import SerialTransport
    from hardware.virtual.rfc2217 import Rfc2217Bridge

    with VirtualBoard(tmp_path / "b", runtime=runtime) as vb, Rfc2217Bridge(vb) as bridge:
        with serial.Serial(vb.port) as pty, pytest.raises(OSError):
            pty.dtr = False                                # what a pty does
        c = DeviceClient(open_target(bridge.url, reconnect_s=10.0), timeout=5.0,
                         counter_store=CounterStore(tmp_path / "c.json"))
        with c:
            first = c.info()
            pid = vb._proc.pid
            assert isinstance(c.transport, SerialTransport)
            booted = sum("booted cause=" in ln for ln in vb.log_lines)
            c.transport.pulse_reset()  # EN low through RTS, released: esptool's hard reset
            deadline = time.monotonic() + 30
            while getattr(vb._proc, "pid", pid) == pid or \
                    sum("booted cause=" in ln for ln in vb.log_lines) <= booted:
                assert time.monotonic() < deadline, "the EN pulse did not reset the board"
                time.sleep(0.1)
            assert any("booted cause=power_on" in ln for ln in list(vb.log_lines)[-3:])
            boots = [e for e in c.events(timeout=5.0) if e.get("kind") == "boot"]
            assert [e["reset_cause"] for e in boots[:1]] == ["power_on"], \
                "the boot EVENT of the reset did not reach the RFC 2217 client"
            assert c.info() == first


class _PtyBoard:
    """What the RFC 2217 bridge uses of a board: `link`, the stable name of its pty."""

    def __init__(self, link: Path) -> None:
        self.link = link


def _plug(link: Path) -> tuple[int, int]:
    """A new pty (master, slave) named by `link`, as the board's start gives."""
    master, slave = os.openpty()
    tty.setraw(slave)
    tmp = link.with_name("tty.new")
    os.symlink(os.ttyname(slave), tmp)
    os.replace(tmp, link)
    return master, slave


def _recv_until(s: socket.socket, marker: bytes, wait: float = 5.0) -> None:
    got, end = b"", time.monotonic() + wait
    s.settimeout(0.1)
    while marker not in got and time.monotonic() < end:
        try:
            got += s.recv(4096)
        except TimeoutError:
            pass
    assert marker in got, f"{marker!r} not relayed: {got[-200:]!r}"


def test_the_rfc2217_bridge_reads_the_new_pty_after_a_reset_hangs_the_old_one_up(
        tmp_path: Path) -> None:
    """The bridge's reader may open the board's pty again by its name just before a reset
    closes it; that pty then reads empty forever (hung up). The bridge leaves it for the
    new pty, so the boot output of the reset reaches the client."""
    from hardware.virtual.rfc2217 import Rfc2217Bridge

    link = tmp_path / "tty"
    old = _plug(link)
    with Rfc2217Bridge(_PtyBoard(link)) as bridge, \
            socket.create_connection(("127.0.0.1", bridge.port)) as s:
        os.write(old[0], b"before")
        _recv_until(s, b"before")             # the bridge holds the old pty open
        link.unlink()
        for fd in old:                        # the reset: the old pty hangs up
            os.close(fd)
        new = _plug(link)
        os.write(new[0], b"booted")
        _recv_until(s, b"booted")
    for fd in new:
        os.close(fd)


def test_every_soft_reset_boots_a_fresh_vm(board: VirtualBoard) -> None:
    """Each reset runs in a new VM (its own worker: no module state of the last one)."""
    r = mpremote(board.port, "exec", "import builtins; builtins.LEFT = 1", "+", "soft-reset",
                 "+", "exec", "import builtins; print(hasattr(builtins, 'LEFT'))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("False")
    vms = [ln.split("vm=")[1].split()[0] for ln in board.log_lines if "booted cause=" in ln]
    assert len(vms) >= 2 and len(set(vms)) == len(vms), vms
