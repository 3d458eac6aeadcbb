"""Byte-level fake of an MFRC522 on SPI, with simulated ISO 14443-A / NTAG 424 DNA cards.

The fake decodes SPI address bytes as the chip does (datasheet rev 3.9, 8.1.2), keeps
a register file, a 64-byte FIFO and the command engine for the subset the driver uses
(Idle, CalcCRC, Transceive, SoftReset), and hands transmitted frames to the cards in
the field. Time runs on a FakeClock: every SPI byte costs `spi_byte_us`, a card answer
costs its `latency_us + relay_us`, and no answer (or one later than the chip timer
programmed in TMode/TPrescaler/TReload) costs the full timer period and sets TimerIRq.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from hardware.aes import Aes, aes

from .fake_machine import FakeClock, FakePin


class R:
    """MFRC522 register addresses, commands and bits (datasheet rev 3.9, tables 20 and
    149) and the ISO/IEC 14443-3 A codes: the fake's own copy (the driver's are const)."""

    COMMAND = 0x01
    COM_IEN = 0x02
    DIV_IEN = 0x03
    COM_IRQ = 0x04
    DIV_IRQ = 0x05
    ERROR = 0x06
    STATUS1 = 0x07
    STATUS2 = 0x08
    FIFO_DATA = 0x09
    FIFO_LEVEL = 0x0A
    CONTROL = 0x0C
    BIT_FRAMING = 0x0D
    COLL = 0x0E
    MODE = 0x11
    TX_MODE = 0x12
    RX_MODE = 0x13
    TX_CONTROL = 0x14
    TX_ASK = 0x15
    CRC_RESULT_H = 0x21
    CRC_RESULT_L = 0x22
    MOD_WIDTH = 0x24
    T_MODE = 0x2A
    T_PRESCALER = 0x2B
    T_RELOAD_H = 0x2C
    T_RELOAD_L = 0x2D
    VERSION = 0x37
    CMD_IDLE = 0x00
    CMD_CALC_CRC = 0x03
    CMD_TRANSCEIVE = 0x0C
    CMD_SOFT_RESET = 0x0F
    IRQ_TIMER = 0x01
    IRQ_ERR = 0x02
    IRQ_IDLE = 0x10
    IRQ_RX = 0x20
    DIV_IRQ_CRC = 0x04
    ERR_PROTOCOL = 0x01
    ERR_PARITY = 0x02
    ERR_CRC = 0x04
    ERR_COLL = 0x08
    ERR_BUFFER_OVFL = 0x10
    START_SEND = 0x80
    FLUSH_BUFFER = 0x80
    POWER_DOWN = 0x10
    PICC_REQA = 0x26
    PICC_WUPA = 0x52
    PICC_HLTA = 0x50
    PICC_RATS = 0xE0
    CASCADE_TAG = 0x88
    SAK_CASCADE = 0x04
    SAK_ISO14443_4 = 0x20
    TIMER_PRESCALER = 0x0A9
    FC_HZ = 13560000
    SEL_CL = (0x93, 0x95, 0x97)


CRC_PRESETS = (0x0000, 0x6363, 0xA671, 0xFFFF)


def crc_a(data: bytes, preset: int = 0x6363) -> bytes:
    """ISO/IEC 14443-3 CRC_A (reflected CCITT, x^16+x^12+x^5+1), low byte first."""
    crc = preset
    for b in data:
        b ^= crc & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = (crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return bytes((crc & 0xFF, crc >> 8))


def cpython_aes(key: bytes, mode: int, iv: bytes | None = None) -> Aes:
    """AES factory with the MicroPython cryptolib.aes(key, mode, iv) signature."""
    return aes(key, mode, iv)


def _cmac(key: bytes, data: bytes) -> bytes:
    c = CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def _mac_t(key: bytes, data: bytes) -> bytes:
    return _cmac(key, data)[1::2]


def _rotl1(b: bytes) -> bytes:
    return b[1:] + b[:1]


class SimCard:
    """A type A card: 4- or 7-byte UID; with `key` set, an NTAG 424 DNA answering
    RATS, ISO SelectFile, AuthenticateEV2First (key slot 0..4, all the same key) and,
    in the session that opens (keys per AN12196, computed here with `cryptography`'s
    CMAC), GetCardUID in CommMode.Full returning `card_uid` (default: the UID).

    latency_us: processing time added to each answer; relay_us: extra delay (a relay).
    corrupt_crc: flip a bit in the CRC_A of every answer that carries one."""

    def __init__(self, uid: bytes, key: bytes | None = None, latency_us: int = 400,
                 relay_us: int = 0, random: Callable[[int], bytes] = os.urandom) -> None:
        if len(uid) not in (4, 7):
            raise ValueError("SimCard: UID must be 4 or 7 bytes")
        self.uid = bytes(uid)
        self.key = key
        self.latency_us = latency_us
        self.relay_us = relay_us
        self.random = random
        self.corrupt_crc = False
        self.state = "idle"
        self.level = 0
        self.rnd_b: bytes | None = None
        self.authenticated = False
        self.apdus: list[bytes] = []
        self.card_uid = self.uid
        self.session: tuple[bytes, bytes, bytes] | None = None  # TI, SesAuthENC, SesAuthMAC
        self.ctr = 0

    def parts(self) -> list[bytes]:
        if len(self.uid) == 4:
            return [self.uid]
        return [bytes((R.CASCADE_TAG,)) + self.uid[:3], self.uid[3:]]

    def _crc(self, data: bytes) -> bytes:
        out = data + crc_a(data)
        if self.corrupt_crc:
            out = out[:-1] + bytes((out[-1] ^ 0x01,))
        return out

    def power_off(self) -> None:
        self.state, self.level, self.rnd_b, self.session = "idle", 0, None, None

    def handle(self, frame: bytes, bits: int) -> bytes | None:
        """Answer one frame (bits: valid bits of the last byte, 0 = 8) or stay silent."""
        if bits == 7 and len(frame) == 1:
            ok = frame[0] == R.PICC_REQA and self.state == "idle"
            if ok or (frame[0] == R.PICC_WUPA and self.state in ("idle", "halt")):
                self.state, self.level = "ready", 0
                return b"\x04\x00" if len(self.uid) == 4 else b"\x44\x00"
            return None
        if self.state == "ready":
            return self._select(frame)
        if len(frame) < 3 or crc_a(frame[:-2]) != frame[-2:]:
            return None
        body = frame[:-2]
        if self.state == "active":
            if body == bytes((R.PICC_HLTA, 0)):
                self.state = "halt"
                return None
            if body[0] == R.PICC_RATS and self.key is not None:
                self.state = "proto"
                return self._crc(b"\x06\x77\x77\x71\x02\x80")
            return None
        if self.state == "proto":
            pcb = body[0]
            if pcb == 0xC2:                       # S(DESELECT)
                self.state = "halt"
                return self._crc(body)
            if pcb & 0xE2 == 0x02:
                return self._crc(bytes((pcb,)) + self._apdu(body[1:]))
        return None

    def _select(self, frame: bytes) -> bytes | None:
        part = self.parts()[self.level]
        bcc = bytes((part[0] ^ part[1] ^ part[2] ^ part[3],))
        if len(frame) < 2 or frame[0] != R.SEL_CL[self.level]:
            return None
        if frame[1] == 0x20 and len(frame) == 2:
            return part + bcc
        if frame[1] != 0x70 or len(frame) != 9 or crc_a(frame[:7]) != frame[7:]:
            return None
        if frame[2:7] != part + bcc:
            self.state = "idle"
            return None
        if self.level + 1 < len(self.parts()):
            self.level += 1
            return self._crc(bytes((R.SAK_CASCADE,)))
        self.state = "active"
        return self._crc(bytes((R.SAK_ISO14443_4 if self.key is not None else 0x00,)))

    def _apdu(self, apdu: bytes) -> bytes:
        self.apdus.append(apdu)
        assert self.key is not None
        if apdu[:4] == b"\x00\xa4\x04\x0c":
            return b"\x90\x00" if apdu[5:12] == b"\xd2\x76\x00\x00\x85\x01\x01" else b"\x6a\x82"
        if apdu[:5] == b"\x90\x71\x00\x00\x02" and len(apdu) == 8:
            if apdu[5] > 4:
                return b"\x91\x40"
            self.rnd_b = bytes(self.random(16))
            self.authenticated = False
            return cpython_aes(self.key, 2, bytes(16)).encrypt(self.rnd_b) + b"\x91\xaf"
        if apdu[:5] == b"\x90\xaf\x00\x00\x20" and len(apdu) == 38:
            if self.rnd_b is None:
                return b"\x91\xca"
            plain = cpython_aes(self.key, 2, bytes(16)).decrypt(apdu[5:37])
            rnd_b, self.rnd_b = self.rnd_b, None
            if plain[16:] != _rotl1(rnd_b):
                return b"\x91\xae"
            self.authenticated = True
            ti = bytes(self.random(4))
            self._open_session(ti, plain[:16], rnd_b)
            body = ti + _rotl1(plain[:16]) + bytes(12)
            return cpython_aes(self.key, 2, bytes(16)).encrypt(body) + b"\x91\x00"
        if apdu[:5] == b"\x90\x51\x00\x00\x08" and len(apdu) == 14:
            return self._get_card_uid(apdu[5:13])
        return b"\x91\x1c"

    def _open_session(self, ti: bytes, rnd_a: bytes, rnd_b: bytes) -> None:
        assert self.key is not None
        mixed = bytes(a ^ b for a, b in zip(rnd_a[2:8], rnd_b[:6], strict=True))
        ctx = rnd_a[:2] + mixed + rnd_b[6:] + rnd_a[8:]
        self.session = (ti, _cmac(self.key, b"\xa5\x5a\x00\x01\x00\x80" + ctx),
                        _cmac(self.key, b"\x5a\xa5\x00\x01\x00\x80" + ctx))
        self.ctr = 0

    def _get_card_uid(self, mac: bytes) -> bytes:
        if self.session is None:
            return b"\x91\xae"
        ti, enc, mkey = self.session
        if _mac_t(mkey, b"\x51" + self.ctr.to_bytes(2, "little") + ti) != mac:
            self.session = None
            return b"\x91\x1e"                   # INTEGRITY_ERROR: session is over
        self.ctr += 1
        ctr = self.ctr.to_bytes(2, "little")
        iv = cpython_aes(enc, 1).encrypt(b"\x5a\xa5" + ti + ctr + bytes(8))
        data = self.card_uid + b"\x80" + bytes(15 - len(self.card_uid))
        body = cpython_aes(enc, 2, iv).encrypt(data)
        return body + _mac_t(mkey, b"\x00" + ctr + ti + body) + b"\x91\x00"


class FakeMFRC522:
    """The chip behind `spi` (write / readinto / write_readinto) and chip-select `cs`.

    Attributes for tests: `writes` (every register write as (reg, value), FIFO bytes
    one by one), `frames` (every transmitted frame as (bytes, tx_last_bits)), `cards`
    (SimCards in the field), `clock`, `inject_error` (ErrorReg bits for the next
    transceive), `collision` (force CollErr on anticollision)."""

    def __init__(self, cards: list[SimCard] | None = None, clock: FakeClock | None = None,
                 spi_byte_us: int = 1, version: int = 0x92) -> None:
        self.cards = list(cards or [])
        self.clock = clock or FakeClock()
        self.spi_byte_us = spi_byte_us
        self.version = version
        self.cs = FakePin(1, self._cs_changed)
        self.writes: list[tuple[int, int]] = []
        self.frames: list[tuple[bytes, int]] = []
        self.inject_error = 0
        self.collision = False
        self._reset_registers()
        self._mode: str | None = None
        self._addr = 0

    # -- SPI ------------------------------------------------------------------------
    def _cs_changed(self, v: int) -> None:
        self._mode = None

    def _byte(self, mosi: int) -> int:
        if self.cs.value() != 0:
            raise AssertionError("SPI transfer with chip select high")
        self.clock.advance(self.spi_byte_us)
        if self._mode is None:
            self._addr = (mosi >> 1) & 0x3F
            self._mode = "read" if mosi & 0x80 else "write"
            return 0
        if self._mode == "write":
            self._write(self._addr, mosi)
            return 0
        out = self._read(self._addr)
        self._addr = (mosi >> 1) & 0x3F
        return out

    def write(self, buf: bytes) -> None:
        for b in bytes(buf):
            self._byte(b)

    def readinto(self, buf: bytearray, write: int = 0) -> None:
        for i in range(len(buf)):
            buf[i] = self._byte(write)

    def write_readinto(self, out: bytes, inbuf: bytearray) -> None:
        for i, b in enumerate(bytes(out)):
            inbuf[i] = self._byte(b)

    # -- register file ---------------------------------------------------------------
    def _reset_registers(self) -> None:
        self.regs = bytearray(64)
        self.regs[R.COMMAND] = 0x20
        self.regs[R.COM_IEN] = 0x80
        self.regs[R.TX_CONTROL] = 0x80
        self.regs[R.MODE] = 0x3F
        self.regs[R.VERSION] = self.version
        self.fifo = bytearray()
        for card in self.cards:
            card.power_off()

    def reg(self, r: int) -> int:
        """Peek a register without side effects."""
        return self.regs[r]

    def _read(self, r: int) -> int:
        if r == R.FIFO_DATA:
            return self.fifo.pop(0) if self.fifo else 0
        if r == R.FIFO_LEVEL:
            return len(self.fifo)
        return self.regs[r]

    def _write(self, r: int, v: int) -> None:
        self.writes.append((r, v))
        if r == R.FIFO_DATA:
            if len(self.fifo) >= 64:
                self.regs[R.ERROR] |= R.ERR_BUFFER_OVFL
            else:
                self.fifo.append(v)
        elif r == R.FIFO_LEVEL:
            if v & R.FLUSH_BUFFER:
                self.fifo = bytearray()
                self.regs[R.ERROR] &= ~R.ERR_BUFFER_OVFL & 0xFF
        elif r in (R.COM_IRQ, R.DIV_IRQ):
            mask = v & 0x7F
            self.regs[r] = self.regs[r] | mask if v & 0x80 else self.regs[r] & ~mask & 0xFF
        elif r == R.COMMAND:
            self._command(v)
        elif r == R.BIT_FRAMING:
            self.regs[r] = v & 0x77
            if v & R.START_SEND and self.regs[R.COMMAND] & 0x0F == R.CMD_TRANSCEIVE:
                self._transceive(v & 0x07)
        elif r == R.TX_CONTROL:
            self.regs[r] = v
            if v & 0x03 != 0x03:
                for card in self.cards:
                    card.power_off()
        elif r != R.VERSION:
            self.regs[r] = v

    def _command(self, v: int) -> None:
        cmd = v & 0x0F
        if cmd == R.CMD_SOFT_RESET:
            self._reset_registers()
            return
        self.regs[R.COMMAND] = v & 0x3F
        if cmd == R.CMD_CALC_CRC:
            preset = CRC_PRESETS[self.regs[R.MODE] & 0x03]
            crc = crc_a(bytes(self.fifo), preset)
            self.fifo = bytearray()
            self.regs[R.CRC_RESULT_L], self.regs[R.CRC_RESULT_H] = crc[0], crc[1]
            self.regs[R.DIV_IRQ] |= R.DIV_IRQ_CRC

    def timer_us(self) -> int:
        """The receive timeout programmed in TMode/TPrescaler/TReload, in microseconds."""
        presc = ((self.regs[R.T_MODE] & 0x0F) << 8) | self.regs[R.T_PRESCALER]
        reload = (self.regs[R.T_RELOAD_H] << 8) | self.regs[R.T_RELOAD_L]
        return (2 * presc + 1) * (reload + 1) * 100 // 1356

    # -- RF side -----------------------------------------------------------------------
    def _transceive(self, last_bits: int) -> None:
        frame = bytes(self.fifo)
        self.fifo = bytearray()
        self.frames.append((frame, last_bits))
        self.regs[R.ERROR] = 0
        self.regs[R.COM_IRQ] |= 0x40                        # TxIRq
        answers: list[tuple[SimCard, bytes]] = []
        if self.regs[R.TX_CONTROL] & 0x03 == 0x03:
            for card in self.cards:
                ans = card.handle(frame, last_bits)
                if ans is not None:
                    answers.append((card, ans))
        timeout = self.timer_us()
        delay = max((c.latency_us + c.relay_us for c, _ in answers), default=timeout + 1)
        if not answers or delay > timeout:
            self.clock.advance(timeout)
            self.regs[R.COM_IRQ] |= R.IRQ_TIMER
            return
        self.clock.advance(delay)
        data = answers[0][1]
        err = self.inject_error
        self.inject_error = 0
        distinct = {a for _, a in answers}
        anticoll = len(frame) == 2 and frame[1] == 0x20
        if (self.collision and anticoll) or len(distinct) > 1:
            err |= R.ERR_COLL
            merged = bytearray(max(len(a) for a in distinct))
            for a in distinct:
                for i, b in enumerate(a):
                    merged[i] |= b
            data = bytes(merged)
        self.fifo = bytearray(data)
        self.regs[R.CONTROL] &= 0xF8                        # RxLastBits: whole bytes
        self.regs[R.ERROR] = err
        self.regs[R.COM_IRQ] |= R.IRQ_RX | R.IRQ_IDLE | (R.IRQ_ERR if err else 0)
