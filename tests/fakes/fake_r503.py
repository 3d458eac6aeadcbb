"""Byte-level fake of an R503 fingerprint module behind a FakeUART.

The host's bytes are assembled into packets (header, address, PID, length, checksum
checked like the module does: a bad checksum gets confirmation code 0x01); each
command runs against a template library and the finger currently on the sensor, and
the acknowledge packet is queued for the host to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.drivers import r503 as r

from .fake_machine import FakeUART


class OP:
    """R503 packet ids and instruction codes (R503 user manual v1.2 section 5): the
    fake's own copy (the driver's are const)."""

    PID_COMMAND = 0x01
    PID_DATA = 0x02
    PID_ACK = 0x07
    PID_END = 0x08
    GEN_IMG = 0x01
    IMG2TZ = 0x02
    SEARCH = 0x04
    REG_MODEL = 0x05
    STORE = 0x06
    DELETE_CHAR = 0x0C
    EMPTY = 0x0D
    READ_SYS_PARA = 0x0F
    VFY_PWD = 0x13
    TEMPLATE_NUM = 0x1D


@dataclass(frozen=True)
class Finger:
    """A finger on the sensor: `ident` stands for its features; `score` is what a
    search reports when it matches a stored template; collected=False is a bad touch
    (moved, wet, partial): GenImg answers 0x03 "fail to collect finger"."""

    ident: str
    score: int = 120
    collected: bool = True


class FakeR503:
    """R503 module. Test knobs:

    finger / finger_script: the finger on the sensor (script: one per GenImg, then finger).
    fail_next[instruction] = code: answer that instruction once with this code.
    force_code: answer every command with this code (None: off).
    bad_checksum / bad_header / truncate / silent: corrupt the next answers this way.
    capacity: the library size ReadSysPara reports (R503: 200, R307: 1,000).
    """

    def __init__(self, address: int = 0xFFFFFFFF, password: int = 0, capacity: int = 200,
                 need_password: bool = False, security_level: int = 3) -> None:
        self.uart = FakeUART(self)
        self.address = address
        self.password = password
        self.capacity = capacity
        self.need_password = need_password
        self.security_level = security_level
        self.verified = False
        self.finger: Finger | None = None
        self.finger_script: list[Finger | None] = []
        self.library: dict[int, str] = {}
        self.image: str | None = None
        self.buffers: dict[int, str | None] = {1: None, 2: None}
        self.fail_next: dict[int, int] = {}
        self.force_code: int | None = None
        self.bad_checksum = False
        self.bad_header = False
        self.truncate = False
        self.silent = False
        self.commands: list[int] = []
        self._score = 0
        self._rx = bytearray()

    # -- link ----------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        self._rx += data
        while len(self._rx) >= 9:
            if self._rx[:2] != b"\xef\x01":   # the packet header
                del self._rx[0]
                continue
            length = (self._rx[7] << 8) | self._rx[8]
            if len(self._rx) < 9 + length:
                return
            packet, self._rx = bytes(self._rx[: 9 + length]), self._rx[9 + length:]
            self._packet(packet)

    def _packet(self, p: bytes) -> None:
        if int.from_bytes(p[2:6], "big") != self.address:
            return                                   # not for us: the module stays silent
        pid, length, payload = p[6], (p[7] << 8) | p[8], p[9:-2]
        if int.from_bytes(p[-2:], "big") != r.checksum(pid, length, payload) or not payload:
            self._answer(0x01)
            return
        self._answer(*self._execute(payload[0], payload[1:]))

    def _answer(self, code: int, data: bytes = b"") -> None:
        if self.silent:
            return
        pkt = bytearray(r.build_packet(self.address, OP.PID_ACK, bytes((code,)) + data))
        if self.bad_checksum:
            pkt[-1] ^= 0xFF
        if self.bad_header:
            pkt[1] = 0x02
        if self.truncate:
            pkt = pkt[:-3]
        self.uart.feed(bytes(pkt))

    # -- instructions ------------------------------------------------------------------
    def _execute(self, ins: int, params: bytes) -> tuple[int, bytes]:
        self.commands.append(ins)
        if ins in self.fail_next:
            return self.fail_next.pop(ins), b""
        if self.force_code is not None:
            return self.force_code, b""
        if ins == OP.VFY_PWD:
            self.verified = int.from_bytes(params[:4], "big") == self.password
            return (0x00 if self.verified else 0x13), b""
        if self.need_password and not self.verified:
            return 0x21, b""
        handler = {
            OP.GEN_IMG: self._gen_img, OP.IMG2TZ: self._img2tz, OP.SEARCH: self._search,
            OP.REG_MODEL: self._reg_model, OP.STORE: self._store, OP.DELETE_CHAR: self._delete,
            OP.EMPTY: self._empty, OP.TEMPLATE_NUM: self._count,
            OP.READ_SYS_PARA: self._sys_para,
        }.get(ins)
        if handler is None:
            return 0xFC, b""
        return handler(params)

    def _gen_img(self, params: bytes) -> tuple[int, bytes]:
        finger = self.finger_script.pop(0) if self.finger_script else self.finger
        if finger is not None and not finger.collected:
            self.image = None
            return 0x03, b""
        self.image = finger.ident if finger else None
        self._score = finger.score if finger else 0
        return (0x00 if finger else 0x02), b""

    def _sys_para(self, params: bytes) -> tuple[int, bytes]:
        """Basic parameter list, 8 big-endian words (R503 manual v1.2, ReadSysPara):
        status register, system id 0x0009, library size, security level, address (2
        words), packet size code (2: 128 bytes), baud N (x 9600: 6 = 57600)."""
        ssr = 0x0004 if self.verified else 0x0000        # bit 2 PWD: password verified
        words = (ssr, 0x0009, self.capacity, self.security_level, self.address >> 16,
                 self.address & 0xFFFF, 2, 6)
        return 0x00, b"".join(w.to_bytes(2, "big") for w in words)

    def _img2tz(self, params: bytes) -> tuple[int, bytes]:
        if params[0] not in (1, 2):
            return 0x1A, b""
        if self.image is None:
            return 0x15, b""
        self.buffers[params[0]] = self.image
        return 0x00, b""

    def _search(self, params: bytes) -> tuple[int, bytes]:
        ident = self.buffers.get(params[0])
        start, count = int.from_bytes(params[1:3], "big"), int.from_bytes(params[3:5], "big")
        for page in range(start, min(start + count, self.capacity)):
            if ident is not None and self.library.get(page) == ident:
                return 0x00, page.to_bytes(2, "big") + self._score.to_bytes(2, "big")
        return 0x09, bytes(4)

    def _reg_model(self, params: bytes) -> tuple[int, bytes]:
        if self.buffers[1] is None or self.buffers[1] != self.buffers[2]:
            return 0x0A, b""
        return 0x00, b""

    def _store(self, params: bytes) -> tuple[int, bytes]:
        page = int.from_bytes(params[1:3], "big")
        if page >= self.capacity:
            return 0x0B, b""
        ident = self.buffers.get(params[0])
        if ident is None:
            return 0x0C, b""
        self.library[page] = ident
        return 0x00, b""

    def _delete(self, params: bytes) -> tuple[int, bytes]:
        page, n = int.from_bytes(params[0:2], "big"), int.from_bytes(params[2:4], "big")
        if page + n > self.capacity:
            return 0x0B, b""
        for p in range(page, page + n):
            self.library.pop(p, None)
        return 0x00, b""

    def _empty(self, params: bytes) -> tuple[int, bytes]:
        self.library.clear()
        return 0x00, b""

    def _count(self, params: bytes) -> tuple[int, bytes]:
        return 0x00, len(self.library).to_bytes(2, "big")
