"""Record a driver's conversation with a fake under CPython, to replay it under MicroPython.

Every call the driver makes on its bus, pins, clock, cipher and random source is logged
in order as a JSON-able tape: ["cs", v], ["w", hex], ["wr", out_hex, in_hex], ["t", n],
["aes", in_hex, out_hex], ["rnd", hex], ["uw", hex], ["ua", n], ["ur", n, hex].
tests/fakes/mp_replay_prog.py plays the tape back to the same driver code in the
MicroPython VM, which must make exactly the same calls and reach the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Tape = list[list[Any]]


class RecSPI:
    def __init__(self, spi: Any, tape: Tape) -> None:
        self.spi, self.tape = spi, tape

    def write(self, buf: bytes) -> None:
        self.tape.append(["w", bytes(buf).hex()])
        self.spi.write(buf)

    def write_readinto(self, out: bytes, inbuf: bytearray) -> None:
        self.spi.write_readinto(out, inbuf)
        self.tape.append(["wr", bytes(out).hex(), bytes(inbuf).hex()])


class RecPin:
    def __init__(self, pin: Any, tape: Tape) -> None:
        self.pin, self.tape = pin, tape

    def value(self, v: int | None = None) -> int | None:
        self.tape.append(["cs", v])
        return self.pin.value(v)


class RecUART:
    def __init__(self, uart: Any, tape: Tape) -> None:
        self.uart, self.tape = uart, tape

    def write(self, buf: bytes) -> int:
        self.tape.append(["uw", bytes(buf).hex()])
        return self.uart.write(buf)

    def any(self) -> int:
        n = self.uart.any()
        self.tape.append(["ua", n])
        return n

    def read(self, n: int) -> bytes | None:
        data = self.uart.read(n)
        self.tape.append(["ur", n, None if data is None else data.hex()])
        return data


def rec_ticks(ticks: Callable[[], int], tape: Tape) -> Callable[[], int]:
    def t() -> int:
        v = ticks()
        tape.append(["t", v])
        return v
    return t


def rec_random(random: Callable[[int], bytes], tape: Tape) -> Callable[[int], bytes]:
    def r(n: int) -> bytes:
        v = bytes(random(n))
        tape.append(["rnd", v.hex()])
        return v
    return r


class _RecCipher:
    def __init__(self, cipher: Any, tape: Tape) -> None:
        self.cipher, self.tape = cipher, tape

    def encrypt(self, data: bytes) -> bytes:
        out = self.cipher.encrypt(data)
        self.tape.append(["aes", bytes(data).hex(), out.hex()])
        return out

    def decrypt(self, data: bytes) -> bytes:
        out = self.cipher.decrypt(data)
        self.tape.append(["aes", bytes(data).hex(), out.hex()])
        return out


def rec_aes(factory: Callable[..., Any], tape: Tape) -> Callable[..., Any]:
    def f(key: bytes, mode: int, iv: bytes | None = None) -> _RecCipher:
        return _RecCipher(factory(key, mode, iv), tape)
    return f
