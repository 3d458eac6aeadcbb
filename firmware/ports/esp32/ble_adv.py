# The start of firmware/ports/esp32/ble.py's NusService: the Nordic UART Service's
# registration and its advertising payload (Bluetooth Core Supplement part A: AD
# structures length, type, data; at most 31 bytes each). Boot only (trim.BOOT frees it).

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

_FLAG_READ = const(0x0002)
_FLAG_WRITE_NO_RESPONSE = const(0x0004)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_WANT_MTU = const(247)        # asked for at start (the central picks the final value)
_RX_BUFFER = const(1100)      # > one largest frame on the wire (1029 + delimiters)

NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"


def register(svc):
    """Start svc's radio: register NUS (svc.h_tx, svc.h_rx), its RX buffer and svc._irq,
    build the advertising payload (svc.adv, svc.resp) and advertise."""
    import bluetooth
    ble = svc.ble
    ble.active(True)
    try:
        ble.config(gap_name=svc.name, mtu=_WANT_MTU)
    except (ValueError, OSError):  # older ports: set what they know
        pass
    nus = (bluetooth.UUID(NUS_SERVICE), (
        (bluetooth.UUID(NUS_TX), _FLAG_READ | _FLAG_NOTIFY),
        (bluetooth.UUID(NUS_RX), _FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE),
    ))
    ((svc.h_tx, svc.h_rx),) = ble.gatts_register_services((nus,))
    # append mode: writes that come faster than we read are kept, not overwritten
    ble.gatts_set_buffer(svc.h_rx, _RX_BUFFER, True)
    ble.irq(svc._irq)
    svc.adv, svc.resp = adv_payload(svc.name, NUS_SERVICE)
    svc.advertise()


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
