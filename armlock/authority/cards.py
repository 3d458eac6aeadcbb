"""Per-card keys (host only): each NTAG 424 DNA card's AES key is diversified from the card
master (AN10922, firmware/drivers/cmac.py) and carried in a permit wrapped to the one
device the permit names, so a permit (or a device) reveals no other device's cards.

    wrapped = wrap_for(master, device_id, uid)   # 16 bytes, AES-128-ECB(K_wrap, card key)
"""

from __future__ import annotations

from armlock.authority.keys import card_master, derive_device_key
from firmware.app.identity import wrap_key
from firmware.drivers import cmac
from hardware.aes import MODE_ECB, Aes

UID_LEN = 7  # NTAG 424 DNA


def card_key(master: bytes, uid: bytes) -> bytes:
    """The card's AES-128 key (key slot 0), from the card master."""
    return cmac.card_key(Aes, card_master(master), uid)


def wrap_for(master: bytes, device_id: str, uid: bytes) -> bytes:
    """The card key of `uid` wrapped to `device_id`: AES-128-ECB under its K_wrap (one
    block: the card key is uniformly random and the token signature covers it)."""
    kwrap = wrap_key(derive_device_key(master, device_id), device_id)
    return Aes(kwrap, MODE_ECB).encrypt(card_key(master, uid))


def wrap_holders(master: bytes, device_id: str, holders: list) -> list:
    """Holders with each 7-byte (NTAG 424) UID paired with its wrapped card key; other
    UIDs stay UID-only (weak reads, only where the device allows them)."""
    out = []
    for h in holders:
        creds = []
        for c in h[1]:
            uid = bytes.fromhex(c) if isinstance(c, str) else bytes(c)
            creds.append((uid, wrap_for(master, device_id, uid)) if len(uid) == UID_LEN
                         else uid)
        out.append((h[0], tuple(creds), tuple(h[2])))
    return out
