"""A `cryptolib.aes(key, mode, iv)` look-alike on ``cryptography`` (host only), so the
device's AES users (protocols.cmac, protocols.diversify, firmware/drivers/ntag424.py) run
unchanged on CPython: ECB (mode 1) or CBC (mode 2), one direction per object, CBC chaining
across calls as on MicroPython."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

MODE_ECB = 1
MODE_CBC = 2


class Aes:
    """One AES key and mode, with encrypt(buf) / decrypt(buf) like cryptolib.aes."""

    def __init__(self, key: bytes, mode: int, iv: bytes | None = None) -> None:
        if mode not in (MODE_ECB, MODE_CBC):
            raise ValueError(f"AES mode {mode} unsupported (1 = ECB, 2 = CBC)")
        mode_obj = modes.ECB() if mode == MODE_ECB else modes.CBC(iv or bytes(16))
        self._cipher = Cipher(algorithms.AES(bytes(key)), mode_obj)
        self._enc: CipherContext | None = None
        self._dec: CipherContext | None = None

    def encrypt(self, data: bytes) -> bytes:
        if self._enc is None:
            self._enc = self._cipher.encryptor()
        return self._enc.update(bytes(data))

    def decrypt(self, data: bytes) -> bytes:
        if self._dec is None:
            self._dec = self._cipher.decryptor()
        return self._dec.update(bytes(data))


def aes(key: bytes, mode: int, iv: bytes | None = None) -> Aes:
    """AES factory with the MicroPython cryptolib.aes(key, mode, iv) signature."""
    return Aes(key, mode, iv)
