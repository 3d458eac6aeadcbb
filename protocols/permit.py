# Permit token: the signed, binary authorisation a lock obeys (spec: protocols/SPEC.md).
#
# One token format carries four kinds: a permit (who may unlock, when, where, with which
# factors), a recall (revoke whatever permit is loaded), an authority tamper reset and a
# key update (trust one more authority key, revoke another). All are big-endian and end
# in an ECDSA P-256 / SHA-256 signature (raw r || s) by an authority key the device
# trusts, named by its 8-byte key id: the device holds only public keys, so nothing read
# out of a lock can mint a token. Format 1 (HMAC under a device key) is refused.
#
# Three modules, so that a lock without PSRAM keeps only what it runs on (MicroPython
# and CPython):
#   protocols/permit.py         this one: the decoded Permit, the codes the core reads,
#                               key_id (defined in protocols/permit_types.py, the leaf
#                               all three import; the codes are reached through
#                               __getattr__); what a running lock holds;
#   protocols/permit_decode.py  decode() and peek(): every structure, signature and value
#                               check (imported when a token is decoded: boot, load);
#   protocols/permit_encode.py  body() / encode() / factor_rule() (host tools, vectors).
# The names of both are reachable here too (permit.encode, permit.MAX_ZONES, ...),
# loaded on first use.

from protocols import permit_types as _types
from protocols.permit_types import Permit, PermitError, key_id  # noqa: F401  (this API)


def decode(blob, keys, verify=None):
    """Parse and validate a token (protocols/permit_decode.py: keys, verify and errors)."""
    from protocols import permit_decode
    return permit_decode.decode(blob, keys, verify)


def peek(blob):
    """(kind, device id, signer key id) of a token, from its header only (not verified)."""
    from protocols import permit_decode
    return permit_decode.peek(blob)


def __getattr__(name):
    # The codes of the format (protocols/permit_types.py: not copied here, heap), then the
    # decoder's and the encoder's other names (host API), imported on first use.
    if name[:2] == "__":
        raise AttributeError(name)
    v = getattr(_types, name, _types)
    if v is not _types:
        return v
    from protocols import permit_decode
    if hasattr(permit_decode, name):
        return getattr(permit_decode, name)
    from protocols import permit_encode
    return getattr(permit_encode, name)
