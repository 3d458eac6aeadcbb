# Device identity (id and key) in the ESP32's NVS, namespace "armlock", with commit().
#
# NVS is the ESP-IDF key-value store in its own flash partition: power-loss tolerant
# and untouched by littlefs writes or a re-deploy of the app files. The key never leaves
# the board: `provision` answers with a fingerprint (SHA-256 of a fixed prefix and the
# key, first 16 hex digits, as `armlock keys` prints it), never the key.
#
# A board without esp32.NVS (the virtual board, a WASM VM) keeps the identity in its
# storage directory in the identity file of firmware/app/identity.py, which is what
# firmware/ports/virtual/main.py reads; `provision` says which store it used. What an
# unprovisioned board runs with is identity.resolve's decision, not this file's.

import binascii
import hashlib

from firmware.app import identity

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_NAMESPACE = const("armlock")
ID = "device_id"
KEY = "device_key"
AUTH = "authority"      # the trusted authority points, 65 bytes each, concatenated
IDENTITY_FILE = identity.FILE


def fingerprint(key):
    """Public 16-hex-digit fingerprint of a key (never the key itself)."""
    h = hashlib.sha256(b"armlock-key-fp" + key).digest()
    return binascii.hexlify(h[:8]).decode()


def _nvs(esp32=None):
    if esp32 is None:
        try:
            import esp32  # noqa: F811
        except ImportError:
            return None
    cls = getattr(esp32, "NVS", None)
    return cls(_NAMESPACE) if cls is not None else None


def _blob(nvs, name, size):
    buf = bytearray(size)
    try:
        n = nvs.get_blob(name, buf)
    except OSError:  # ESP_ERR_NVS_NOT_FOUND
        return None
    return bytes(buf[:n])


def _file_path():
    try:
        import board  # the virtual board's host module  # pyright: ignore[reportMissingImports]
        root = board.storage  # pyright: ignore[reportAttributeAccessIssue]
    except (ImportError, AttributeError):
        root = "/storage"
    return root.rstrip("/") + "/" + IDENTITY_FILE


def read_identity(esp32=None):
    """(device_id, key, authority) from NVS (or the identity file off-ESP32), or None if
    unprovisioned."""
    nvs = _nvs(esp32)
    if nvs is None:
        try:
            with open(_file_path(), "rb") as f:
                return identity.decode(f.read())
        except (OSError, ValueError):  # none, or damaged: unprovisioned
            return None
    dev = _blob(nvs, ID, 64)
    key = _blob(nvs, KEY, 32)
    if not dev or key is None or len(key) != 32:
        return None
    auth = _blob(nvs, AUTH, 65 * identity.MAX_AUTHORITY) or b""
    return dev.decode(), key, tuple([bytes(auth[i:i + 65]) for i in range(0, len(auth), 65)])


def write_identity(device_id, key, esp32=None, authority=()):
    """Store the identity; returns "nvs" or the identity file's path."""
    identity.check(device_id, key, authority)
    nvs = _nvs(esp32)
    if nvs is not None:
        nvs.set_blob(ID, device_id.encode())
        nvs.set_blob(KEY, key)
        nvs.set_blob(AUTH, b"".join(authority))
        nvs.commit()
        return "nvs"
    path = _file_path()
    with open(path + ".new", "wb") as f:
        f.write(identity.encode(device_id, key, authority))
    import os
    os.rename(path + ".new", path)
    return path


def provision(device_id, key_hex, esp32=None, authority_hex=""):
    """Write the identity, read it back, print "provisioned <store> <id> <fingerprint>".
    Used by `armlock flash` over the raw REPL; the key is not printed. authority_hex:
    the trusted authority points (65 bytes each), concatenated, as hex."""
    key = binascii.unhexlify(key_hex)
    auth = binascii.unhexlify(authority_hex)
    authority = tuple([auth[i:i + 65] for i in range(0, len(auth), 65)])
    where = write_identity(device_id, key, esp32, authority)
    got = read_identity(esp32)
    if got is None or got[0] != device_id or got[1] != key or tuple(got[2]) != authority:
        raise OSError("identity did not read back from %s" % where)
    print("provisioned", where, device_id, fingerprint(key))
    return where
