# CRC-32 with a nibble table, for ports built without binascii.crc32 (state.crc32
# imports it only there: the ESP32 port has binascii's).


def crc32_slow(data, crc=0):
    """CRC-32 (IEEE 802.3, as zlib.crc32; crc: of the bytes before `data`)."""
    t = _nibbles()
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c ^= b
        c = (c >> 4) ^ t[c & 15]
        c = (c >> 4) ^ t[c & 15]
    return c ^ 0xFFFFFFFF


_NIBBLES = []  # crc32_slow's table, built on its first call


def _nibbles():
    """CRC-32 (reflected polynomial 0xEDB88320) of each 4-bit value."""
    if not _NIBBLES:
        for i in range(16):
            c = i
            for _ in range(4):
                c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
            _NIBBLES.append(c)
    return _NIBBLES
