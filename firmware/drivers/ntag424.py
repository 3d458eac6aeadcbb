# Challenge-response RFID credential: NXP NTAG 424 DNA AuthenticateEV2First over an
# MFRC522, and the reader that turns a card presentation into the core's RFID event
#     (RFID, uid_hex, rtt_us, strong)
#
# Protocol: NXP NT4H2421Gx datasheet rev 3.0 section 9.2.4 and application note
# AN12196 section 3: both parts wrapped in ISO 7816-4 as 90 71 00 00 .. and
# 90 AF 00 00 ..; AES-128 CBC with a zero IV; RndB' and RndA' are rotated left by
# one byte. The PICC answers part 2 with E(K, TI || RndA' || PDcap2 || PCDcap2).
#
# strong=True only when the card proved it holds the key (it turned our fresh
# RndA into RndA') AND, inside the session that key opened, told us its UID with
# GetCardUID (CommMode.Full: encrypted under SesAuthENCKey and MACed under
# SesAuthMACKey, AN12196 section 3 and datasheet 9.1.9-9.1.10 / 10.5.3). The UID
# reported is that one, so the holder is bound to the key that answered, not to
# the anticollision UID (a magic card can show any UID there). UID-only mode is
# WEAK: a UID is public and clonable, so it returns strong=False.
#
# rtt_us is the round trip of the challenge exchange (part 2: our RndA out, the
# card's proof back), measured with the injected ticks_us; a relay adds its delay
# here, which is what the core's relay bound checks.
#
# AES comes from an injected factory with the MicroPython `cryptolib.aes(key, mode,
# iv)` signature (objects with encrypt(buf)/decrypt(buf)); by default cryptolib.
#
# The challenge itself (AuthenticateEV2First, the session, CMAC) is
# firmware/drivers/ntag424_auth.py, imported for each card that has a key: the port frees
# it after the read (firmware/ports/esp32/trim.py), so it is not in the heap between
# cards. The import happens before the exchange, so rtt_us does not include it.

from firmware.drivers.mfrc522 import AuthError, error, hexlify

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

# Failure texts: index in firmware/drivers/rfid_texts.py TEXTS (private consts: no name on
# the device; tests/test_error_texts.py checks each against the name it has there).
_T_NO_AES = const(16)
_T_NO_RANDOM = const(17)
_T_NOT_ISO = const(18)
_T_UID_SWAP = const(19)


def default_aes_factory():
    """cryptolib.aes on MicroPython; None when not importable (inject one on CPython)."""
    try:
        import cryptolib  # pyright: ignore[reportMissingImports]
    except ImportError:
        return None
    return cryptolib.aes


class RfidReader:
    """One card presentation -> (uid_hex, rtt_us, strong) for the core's RFID event.

    mfrc: an initialised MFRC522. key_for: callable(uid_hex) -> 16-byte AES key or
    None (None -> UID-only, weak). strong cards are those that pass EV2First.
    """

    def __init__(self, mfrc, key_for=None, aes=None, random=None, key_no=0):
        self.mfrc = mfrc
        self.key_for = key_for
        self.key_no = key_no
        self.aes = self.random = None
        if key_for is None:
            return
        # the challenge needs AES (default cryptolib.aes) and a random source (default
        # os.urandom: the ESP32 hardware RNG with the radio on); without either the reader
        # can only read UIDs (ValueError)
        if aes is None:
            aes = default_aes_factory()
        if random is None:
            try:
                import os
                random = os.urandom
            except (ImportError, AttributeError):
                pass
        if aes is None:
            raise error(ValueError, _T_NO_AES)
        if random is None:
            raise error(ValueError, _T_NO_RANDOM)
        self.aes, self.random = aes, random

    def read(self, wake=False):
        """Select a card and, if a key is known for it, authenticate it; then put the
        card to HALT (it answers again only after leaving the field, or to wake=True).

        Returns (uid_hex, rtt_us, strong). In UID-only mode rtt_us is the SELECT
        round trip and strong is False. Raises NoCardError, CRCError,
        CollisionError, ProtocolError or AuthError (wrong key: the card is present
        but unproven; the port reports it as a failed credential)."""
        uid, sak = self.mfrc.select(wake)
        uid_hex = hexlify(uid)
        key = self.key_for(uid_hex) if self.key_for is not None else None
        if key is None or self.aes is None:
            rtt = self.mfrc.last_rtt_us
            self.mfrc.halt()
            return uid_hex, rtt, False
        if not sak & 0x20:
            self.mfrc.halt()
            raise error(AuthError, _T_NOT_ISO, uid_hex, sak)
        from firmware.drivers.ntag424_auth import EV2First
        self.mfrc.rats()
        try:
            session, rtt = EV2First(self.aes, self.random).authenticate(self.mfrc, key,
                                                                        self.key_no)
            inner = session.card_uid(self.mfrc)
        finally:
            self.mfrc.deselect()
        if bytes(inner) != bytes(uid):
            raise error(AuthError, _T_UID_SWAP, hexlify(inner), uid_hex)
        return hexlify(inner), rtt, True

    def event(self):
        """The core event tuple ("rfid", uid_hex, rtt_us, strong) of read()."""
        uid_hex, rtt, strong = self.read()
        return ("rfid", uid_hex, rtt, strong)
