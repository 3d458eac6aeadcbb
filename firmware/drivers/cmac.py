# AES-128 CMAC (NIST SP 800-38B, RFC 4493) and the CMAC-based per-card key
# diversification of NXP AN10922 section 2.2, over an injected AES factory with the
# MicroPython `cryptolib.aes(key, mode)` signature (mode 1 = ECB): the same code runs on
# the device (cryptolib; the NTAG 424 session keys and MACs) and on the host (the
# authority diversifies each card's key from a card master that never leaves it, with
# hardware.aes). A card key read out of one lock or one card says nothing of any other.

AES_ECB = 1
try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_DIV_AES128 = const(0x01)          # AN10922 diversification constant for AES-128 keys
_SYSTEM_ID = const(b"armlock")     # AN10922 "system identifier": who diversified the key
_RB = 0x87  # the GF(2^128) reduction constant for 128-bit blocks


def _double(block):
    n = int.from_bytes(block, "big") << 1
    if n >> 128:
        n ^= (1 << 128) | _RB
    return n.to_bytes(16, "big")


def xor(a, b):
    """Byte-wise XOR of two equal-length byte strings."""
    return bytes([a[i] ^ b[i] for i in range(len(a))])


def same_mac(a, b):
    """MAC comparison in time that depends only on the lengths."""
    d = len(a) ^ len(b)
    for i in range(min(len(a), len(b))):
        d |= a[i] ^ b[i]
    return d == 0


def cmac(aes, key, msg, pad_to=0):
    """CMAC of msg under the 16-byte key. pad_to: pad a short message to at least this many
    bytes (AN10922 pads to 32); a message of a whole number of blocks >= pad_to takes K1."""
    enc = aes(key, AES_ECB).encrypt
    k1 = _double(enc(bytes(16)))
    n = len(msg)
    if n and n % 16 == 0 and n >= pad_to:
        body, last = msg[:-16], xor(msg[-16:], k1)
    else:
        total = max(pad_to, (n // 16 + 1) * 16)
        padded = bytes(msg) + b"\x80" + bytes(total - n - 1)
        body, last = padded[:-16], xor(padded[-16:], _double(k1))
    x = bytes(16)
    for i in range(0, len(body), 16):
        x = enc(xor(x, body[i:i + 16]))
    return enc(xor(x, last))


def diversify_aes128(aes, master, m):
    """AN10922 AES-128: CMAC(master, 0x01 || M), M (1..31 bytes) padded to 32 bytes."""
    if not 1 <= len(m) <= 31:
        raise ValueError("diversification input is %d bytes (want 1..31)" % len(m))
    return cmac(aes, master, bytes((_DIV_AES128,)) + bytes(m), pad_to=32)


def card_input(uid, key_no=0):
    """armlock's M for one NTAG 424 DNA key slot: UID (7 bytes) || key number || _SYSTEM_ID."""
    if len(uid) != 7:
        raise ValueError("card UID is %d bytes (NTAG 424 DNA UIDs are 7)" % len(uid))
    return bytes(uid) + bytes((key_no,)) + _SYSTEM_ID


def card_key(aes, master, uid, key_no=0):
    """The AES-128 key of key slot key_no on the card with this UID."""
    return diversify_aes128(aes, master, card_input(uid, key_no))
