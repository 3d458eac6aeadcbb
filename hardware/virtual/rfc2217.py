"""The virtual board's USB bridge on the network: RFC 2217 (telnet COM port control), the
way Espressif's esp_rfc2217_server shares a real board.

Linux ptys refuse the modem-line ioctls (`ser.dtr = ...` raises "Inappropriate ioctl"),
so tools that drive DTR/RTS (esptool, reset-by-RTS rigs) cannot reach the board through
its pty. Through `rfc2217://127.0.0.1:PORT` (pyserial, esptool, mpremote) they can: the
lines go to this bridge, which plays an ESP32 dev board's auto-reset circuit (RTS drives
EN, DTR drives IO0): EN released after being held low resets the board (a new power-on
of the board process on the same flash). With IO0 low at that moment the chip would enter
its ROM bootloader; the virtual board has none, so it resets normally and says so in its
log.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import socket
import termios
import threading
import time
import tty
from collections.abc import Callable
from typing import Any

import serial.rfc2217

log = logging.getLogger("armlock.virtual")


class ResetLines:
    """DTR and RTS as the auto-reset circuit of an ESP32 dev board sees them."""

    def __init__(self, on_reset: Callable[[bool], None]) -> None:
        self.on_reset = on_reset           # called with bootloader=True when IO0 was low
        self._dtr = self._rts = False
        self.resets = 0

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        self._dtr = bool(value)

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, value: bool) -> None:
        held = self._rts
        self._rts = bool(value)
        if held and not self._rts:         # EN released: the chip starts
            self.resets += 1
            self.on_reset(self._dtr)


class _Port(ResetLines):
    """What PortManager drives: line settings kept, DTR/RTS to the reset circuit."""

    baudrate, bytesize, parity, stopbits = 115200, 8, "N", 1
    xonxoff = rtscts = break_condition = False
    cts = dsr = ri = cd = False

    def reset_input_buffer(self) -> None:
        pass

    def reset_output_buffer(self) -> None:
        pass


class Rfc2217Bridge:
    """Serve `board` (a started hardware.virtual VirtualBoard) on an RFC 2217 TCP port; one
    client at a time, relayed to the board's pty (found again after each reset)."""

    def __init__(self, board: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.board = board
        self.host = host
        self._sock = socket.create_server((host, port))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._pty: int | None = None
        self._restarting = threading.Lock()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"rfc2217://{self.host}:{self.port}"

    def start(self) -> Rfc2217Bridge:
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        for t in self._threads:
            t.join(timeout=5)
        self._close_pty()

    def __enter__(self) -> Rfc2217Bridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="vb-rfc2217")
        t.start()
        self._threads.append(t)

    # -- the board side ---------------------------------------------------------------------

    # Every use of the pty fd happens under self._lock: a reset closes it from another
    # thread, and a number closed while a reader still held it is soon handed out again
    # (the restarted board's pipes): reading it then steals the board's log or output.

    def _open_pty(self) -> int:
        """The board's pty (call with self._lock held), opened non-blocking and without
        flushing what the board already sent (pyserial would flush it: the boot output
        of a reset must reach the client, as on a board)."""
        if self._pty is None:
            fd = os.open(str(self.board.link), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(fd, termios.TCSANOW)  # TCSAFLUSH (the default) drops the boot
            self._pty = fd
        return self._pty

    def _close_pty(self) -> None:
        with self._lock:
            fd, self._pty = self._pty, None
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _reset(self, bootloader: bool) -> None:
        """EN released: restart the board in the background (the client's line command is
        acknowledged at once, as by a USB bridge; its next bytes wait for the new pty)."""
        self._spawn(self._restart, bootloader)

    def _restart(self, bootloader: bool) -> None:
        if bootloader:
            log.warning("virtual board: IO0 held low at reset (bootloader requested); "
                        "there is no ROM bootloader, booting the firmware")
        with self._restarting:                 # one reset at a time, as one EN pin
            self._close_pty()
            self.board.kill()
            try:
                self.board.start()
            except Exception as exc:           # noqa: BLE001  (a thread: say it, not die)
                log.error("virtual board: restart after the EN pulse failed: %s", exc)

    # -- the network side -------------------------------------------------------------------

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        port = _Port(self._reset)
        wlock = threading.Lock()

        class _Conn:
            def write(self, data: bytes) -> None:
                with wlock:
                    conn.sendall(data)

        manager = serial.rfc2217.PortManager(port, _Conn())
        done = threading.Event()
        reader = threading.Thread(target=self._to_client, args=(conn, manager, wlock, done),
                                  daemon=True)
        reader.start()
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    break
                payload = b"".join(manager.filter(data))
                if payload:
                    self._write_board(payload)
        except OSError:
            pass
        finally:
            done.set()
            reader.join(timeout=5)

    def _write_board(self, data: bytes) -> None:
        view = memoryview(data)
        for _ in range(200):               # the board may be resetting: wait for its pty
            try:
                with self._lock:
                    view = view[os.write(self._open_pty(), view):]
                if not view:
                    return
            except BlockingIOError:        # the board is not reading yet
                pass
            except OSError:
                self._close_pty()
            time.sleep(0.025)

    def _read_pty(self) -> bytes:
        """What the board sent within 20 ms (call with self._lock held). OSError once its
        pty hung up: a reset closed it, and a hung-up tty reads ready and empty forever
        (the reader may have opened it again by the old name just before the reset)."""
        fd = self._open_pty()
        ready, _w, _x = select.select([fd], [], [], 0.02)
        if not ready:
            return b""
        data = os.read(fd, 4096)
        if not data:
            raise OSError(errno.EIO, "the board's pty hung up")
        return data

    def _to_client(self, conn: socket.socket, manager: Any, wlock: threading.Lock,
                   done: threading.Event) -> None:
        while not done.is_set() and not self._stop.is_set():
            try:
                with self._lock:
                    data = self._read_pty()
            except BlockingIOError:
                continue
            except OSError:
                self._close_pty()
                time.sleep(0.05)
                continue
            if not data:
                time.sleep(0.005)          # let a writer or a reset take the lock
                continue
            try:
                with wlock:
                    conn.sendall(b"".join(manager.escape(data)))
            except OSError:
                return
