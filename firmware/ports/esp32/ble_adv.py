# The advertising payload of firmware/ports/esp32/ble.py's NusService (Bluetooth Core
# Supplement part A: AD structures length, type, data; at most 31 bytes each). Built once
# when the service starts: boot only (trim.BOOT frees it).

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython (tests)
    def const(x):
        return x

_ADV_FLAGS = const(0x01)
_ADV_NAME_SHORT = const(0x08)
_ADV_NAME = const(0x09)
_ADV_UUID128_ALL = const(0x07)
_ADV_MAX = const(31)


def uuid128_le(text):
    """The 16 bytes of a 128-bit UUID as advertising data carries them (little-endian)."""
    h = text.replace("-", "")
    b = bytearray(16)
    for i in range(16):
        b[15 - i] = int(h[2 * i:2 * i + 2], 16)
    return bytes(b)


def _ad(out, typ, value):
    out.append(len(value) + 1)
    out.append(typ)
    out += value


def adv_payload(name, service):
    """(advertising data, scan response): flags + 128-bit service UUID in the first, the
    name in the first if it fits in 31 bytes, else in the scan response (cut to fit)."""
    adv = bytearray()
    _ad(adv, _ADV_FLAGS, b"\x06")  # LE general discoverable, BR/EDR not supported
    _ad(adv, _ADV_UUID128_ALL, uuid128_le(service))
    nm = name.encode()
    resp = bytearray()
    if len(adv) + 2 + len(nm) <= _ADV_MAX:
        _ad(adv, _ADV_NAME, nm)
    else:
        room = _ADV_MAX - 2
        _ad(resp, _ADV_NAME if len(nm) <= room else _ADV_NAME_SHORT, nm[:room])
    return bytes(adv), bytes(resp)
