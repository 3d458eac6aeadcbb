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

from firmware.drivers import mfrc522 as m
from hardware.aes import Aes, aes

from .fake_machine import FakeClock, FakePin

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
        return [bytes((m.CASCADE_TAG,)) + self.uid[:3], self.uid[3:]]

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
            ok = frame[0] == m.PICC_REQA and self.state == "idle"
            if ok or (frame[0] == m.PICC_WUPA and self.state in ("idle", "halt")):
                self.state, self.level = "ready", 0
                return b"\x04\x00" if len(self.uid) == 4 else b"\x44\x00"
            return None
        if self.state == "ready":
            return self._select(frame)
        if len(frame) < 3 or crc_a(frame[:-2]) != frame[-2:]:
            return None
        body = frame[:-2]
        if self.state == "active":
            if body == bytes((m.PICC_HLTA, 0)):
                self.state = "halt"
                return None
            if body[0] == m.PICC_RATS and self.key is not None:
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
        if len(frame) < 2 or frame[0] != m.SEL_CL[self.level]:
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
            return self._crc(bytes((m.SAK_CASCADE,)))
        self.state = "active"
        return self._crc(bytes((m.SAK_ISO14443_4 if self.key is not None else 0x00,)))

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
        self.regs[m.COMMAND] = 0x20
        self.regs[m.COM_IEN] = 0x80
        self.regs[m.TX_CONTROL] = 0x80
        self.regs[m.MODE] = 0x3F
        self.regs[m.VERSION] = self.version
        self.fifo = bytearray()
        for card in self.cards:
            card.power_off()

    def reg(self, r: int) -> int:
        """Peek a register without side effects."""
        return self.regs[r]

    def _read(self, r: int) -> int:
        if r == m.FIFO_DATA:
            return self.fifo.pop(0) if self.fifo else 0
        if r == m.FIFO_LEVEL:
            return len(self.fifo)
        return self.regs[r]

    def _write(self, r: int, v: int) -> None:
        self.writes.append((r, v))
        if r == m.FIFO_DATA:
            if len(self.fifo) >= 64:
                self.regs[m.ERROR] |= m.ERR_BUFFER_OVFL
            else:
                self.fifo.append(v)
        elif r == m.FIFO_LEVEL:
            if v & m.FLUSH_BUFFER:
                self.fifo = bytearray()
                self.regs[m.ERROR] &= ~m.ERR_BUFFER_OVFL & 0xFF
        elif r in (m.COM_IRQ, m.DIV_IRQ):
            mask = v & 0x7F
            self.regs[r] = self.regs[r] | mask if v & 0x80 else self.regs[r] & ~mask & 0xFF
        elif r == m.COMMAND:
            self._command(v)
        elif r == m.BIT_FRAMING:
            self.regs[r] = v & 0x77
            if v & m.START_SEND and self.regs[m.COMMAND] & 0x0F == m.CMD_TRANSCEIVE:
                self._transceive(v & 0x07)
        elif r == m.TX_CONTROL:
            self.regs[r] = v
            if v & 0x03 != 0x03:
                for card in self.cards:
                    card.power_off()
        elif r != m.VERSION:
            self.regs[r] = v

    def _command(self, v: int) -> None:
        cmd = v & 0x0F
        if cmd == m.CMD_SOFT_RESET:
            self._reset_registers()
            return
        self.regs[m.COMMAND] = v & 0x3F
        if cmd == m.CMD_CALC_CRC:
            preset = CRC_PRESETS[self.regs[m.MODE] & 0x03]
            crc = crc_a(bytes(self.fifo), preset)
            self.fifo = bytearray()
            self.regs[m.CRC_RESULT_L], self.regs[m.CRC_RESULT_H] = crc[0], crc[1]
            self.regs[m.DIV_IRQ] |= m.DIV_IRQ_CRC

    def timer_us(self) -> int:
        """The receive timeout programmed in TMode/TPrescaler/TReload, in microseconds."""
        presc = ((self.regs[m.T_MODE] & 0x0F) << 8) | self.regs[m.T_PRESCALER]
        reload = (self.regs[m.T_RELOAD_H] << 8) | self.regs[m.T_RELOAD_L]
        return (2 * presc + 1) * (reload + 1) * 100 // 1356

    # -- RF side -----------------------------------------------------------------------
    def _transceive(self, last_bits: int) -> None:
        frame = bytes(self.fifo)
        self.fifo = bytearray()
        self.frames.append((frame, last_bits))
        self.regs[m.ERROR] = 0
        self.regs[m.COM_IRQ] |= 0x40                        # TxIRq
        answers: list[tuple[SimCard, bytes]] = []
        if self.regs[m.TX_CONTROL] & 0x03 == 0x03:
            for card in self.cards:
                ans = card.handle(frame, last_bits)
                if ans is not None:
                    answers.append((card, ans))
        timeout = self.timer_us()
        delay = max((c.latency_us + c.relay_us for c, _ in answers), default=timeout + 1)
        if not answers or delay > timeout:
            self.clock.advance(timeout)
            self.regs[m.COM_IRQ] |= m.IRQ_TIMER
            return
        self.clock.advance(delay)
        data = answers[0][1]
        err = self.inject_error
        self.inject_error = 0
        distinct = {a for _, a in answers}
        anticoll = len(frame) == 2 and frame[1] == 0x20
        if (self.collision and anticoll) or len(distinct) > 1:
            err |= m.ERR_COLL
            merged = bytearray(max(len(a) for a in distinct))
            for a in distinct:
                for i, b in enumerate(a):
                    merged[i] |= b
            data = bytes(merged)
        self.fifo = bytearray(data)
        self.regs[m.CONTROL] &= 0xF8                        # RxLastBits: whole bytes
        self.regs[m.ERROR] = err
        self.regs[m.COM_IRQ] |= m.IRQ_RX | m.IRQ_IDLE | (m.IRQ_ERR if err else 0)
