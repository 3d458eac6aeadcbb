# The errors of the RFID drivers (MFRC522 reader, ISO-DEP, NTAG 424) and hexlify: a leaf
# that firmware/drivers/mfrc522.py (which re-exports them), isodep.py and ntag424_auth.py
# import, so the transient modules do not import the reader; error() words a failure
# by its index (firmware/drivers/rfid_texts.py). MicroPython and CPython.


class RfidError(Exception):
    """Base of every reader/card error."""


class NoCardError(RfidError):
    """No answer before the chip timer expired (no card, or a card too slow)."""


class CRCError(RfidError):
    """A card answer failed its CRC_A check (or the chip reported a CRC error)."""


class CollisionError(RfidError):
    """More than one card answered anticollision."""


class ProtocolError(RfidError):
    """A malformed or unexpected answer (parity, framing, length, BCC, PCB)."""


class AuthError(RfidError):
    """The card did not prove its key (or rejected ours)."""


class ChipError(RfidError):
    """The MFRC522 itself did not respond as expected (wiring, power)."""


def error(cls, text, *args):
    """An error of class cls with TEXTS[text] (firmware/drivers/rfid_texts.py, imported
    on a failure only; the caller's _T_* const) formatted with args."""
    from firmware.drivers.rfid_texts import TEXTS
    return cls(TEXTS[text] % args)


def hexlify(data):
    """Lower-case hex string of bytes (MicroPython has no bytes.hex(sep))."""
    return "".join("%02x" % b for b in data)
