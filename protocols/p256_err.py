# The P-256 error and sizes, shared by protocols/p256.py (the keys a lock keeps) and
# protocols/p256_math.py (the curve arithmetic, imported only while in use), so that the
# math never imports p256. MicroPython and CPython.

SIG_LEN = 64      # raw r || s
KEY_ID_LEN = 8    # SHA-256 of the uncompressed point, first 8 bytes


class P256Error(ValueError):
    """A public key or signature that is malformed (not a verification failure)."""
