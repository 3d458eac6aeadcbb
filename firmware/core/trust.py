# The authority keys a lock trusts: up to MAX_KEYS public P-256 points with their 8-byte
# ids, and the ids revoked by key updates. The board is provisioned with its first keys
# (the identity's); signed key updates (permit kind 4) add one and may revoke one, and
# the state record keeps the result (state.py). Only public keys are held: nothing here
# can sign. Each key's verifier form (for protocols.p256: its comb table) is built when
# the key is loaded, so a token costs only its verification.
#
# The trust record is a plain dict (the controller's `_trust`): "keys" {key id: verifier
# key} for permit.decode, "verify" the verifier's verify(key, msg, sig), "points" the
# trusted points, "revoked" the revoked ids, "anchors" the provisioned points, "v" the
# verifier. No class here, so that a port short of heap can free this module after
# boot and after a key update (firmware/ports/esp32/trim.py RARE): only admin.py calls it.

from protocols import p256
from protocols import permit as tokens

NONE = "no trusted authority key: provision the board with the authority's public key"
MAX_KEYS = tokens.MAX_KEYS
MAX_REVOKED = 4


def _hex(b):
    return "".join(["%02x" % x for x in b])


def new(authority, verify=None):
    """The trust record of a board provisioned with `authority` (65-byte points, the
    anchors) and the verifier `verify` (LockController's arguments); nothing is trusted
    until load()."""
    v = verify if verify is not None else p256
    return {"anchors": list(authority or ()), "v": v, "verify": v.verify, "points": [],
            "revoked": [], "keys": {}}


def load(t, points, revoked):
    """Trust `points` (the state record's), or the provisioned anchors when it has
    none, never a key in `revoked`; ValueError for a key that is not a P-256 point.
    (A lost or damaged record: the anchors minus the keys the log proves revoked;
    none left = trust none, the board must be provisioned again.)"""
    revoked = list(revoked or ())
    pts = [bytes(pt) for pt in (points or t["anchors"])
           if tokens.key_id(bytes(pt)) not in revoked]
    keys = {}
    old, had = t["keys"], t["points"]
    for pt in pts[:MAX_KEYS]:
        kid = tokens.key_id(pt)
        if pt in had and kid in old:  # built from this point (at boot: the anchors' again)
            keys[kid] = old[kid]
            continue
        p256.decode_point(pt)  # on the curve, not the identity (P256Error otherwise)
        keys[kid] = t["v"].PublicKey(pt)
    t["points"] = pts[:MAX_KEYS]
    t["revoked"] = revoked
    t["keys"] = keys


def ids(t):
    return [tokens.key_id(pt) for pt in t["points"]]


def check_signer(t, kid):
    """ValueError unless a token signed by key `kid` may be verified."""
    if kid in t["revoked"]:
        raise ValueError("token signed by revoked key %s" % _hex(kid))
    if not t["keys"]:
        raise ValueError(NONE)
    if kid not in t["keys"]:
        raise ValueError("token signed by unknown key %s" % _hex(kid))


def check_update(t, added, revoked):
    """ValueError unless trusting `added` and revoking `revoked` leaves 1..3 keys."""
    kid = tokens.key_id(added)
    if kid in t["revoked"]:
        raise ValueError("key %s was revoked: it cannot be trusted again" % _hex(kid))
    if kid in t["keys"]:
        raise ValueError("key %s is already trusted" % _hex(kid))
    n = len(t["points"]) + 1
    if revoked != tokens.NO_KID:
        if revoked not in t["keys"]:
            raise ValueError("key update revokes key %s, which is not trusted"
                             % _hex(revoked))
        n -= 1
    if n > MAX_KEYS:
        raise ValueError("key update would trust %d keys (at most %d): revoke one"
                         % (n, MAX_KEYS))


def update(t, added, revoked):
    """Apply a checked key update; returns (points, revoked ids) to persist."""
    pts = [pt for pt in t["points"] if tokens.key_id(pt) != revoked] + [bytes(added)]
    rev = list(t["revoked"])
    if revoked != tokens.NO_KID:
        rev.append(bytes(revoked))
        rev = rev[-MAX_REVOKED:]
    keys = dict(t["keys"])
    keys.pop(revoked, None)
    keys[tokens.key_id(added)] = t["v"].PublicKey(bytes(added))
    t["points"], t["revoked"], t["keys"] = pts, rev, keys
    return list(pts), list(rev)
