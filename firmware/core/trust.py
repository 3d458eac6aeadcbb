# The authority keys a lock trusts: up to MAX_KEYS public P-256 points with their 8-byte
# ids, and the ids revoked by key updates. The board is provisioned with its first keys
# (the identity's); signed key updates (permit kind 4) add one and may revoke one, and
# the state record keeps the result (state.py). Only public keys are held: nothing here
# can sign. Each key's verifier form (for protocols.p256: its comb table) is built when
# the key is loaded, so a token costs only its verification.

from protocols import p256
from protocols import permit as tokens

NONE = "no trusted authority key: provision the board with the authority's public key"
MAX_KEYS = tokens.MAX_KEYS
MAX_REVOKED = 4


def _hex(b):
    return "".join(["%02x" % x for x in b])


class Trust:
    """Trusted keys. keys: {key id: verifier key} for permit.decode; verify: the
    verifier's verify(key, msg, sig)."""

    def __init__(self, anchors, verifier=None):
        self._anchors = list(anchors or ())
        self._v = verifier if verifier is not None else p256
        self.verify = self._v.verify
        self.points = []
        self.revoked = []
        self.keys = {}

    def load(self, points, revoked):
        """Trust `points` (the state record's), or the provisioned anchors when it has
        none, never a key in `revoked`; ValueError for a key that is not a P-256 point.
        (A lost or damaged record: the anchors minus the keys the log proves revoked;
        none left = trust none, the board must be provisioned again.)"""
        revoked = list(revoked or ())
        pts = [bytes(pt) for pt in (points or self._anchors)
               if tokens.key_id(bytes(pt)) not in revoked]
        keys = {}
        for pt in pts[:MAX_KEYS]:
            pt = bytes(pt)
            p256.decode_point(pt)  # on the curve, not the identity (P256Error otherwise)
            keys[tokens.key_id(pt)] = self._v.PublicKey(pt)
        self.points = pts[:MAX_KEYS]
        self.revoked = revoked
        self.keys = keys

    def ids(self):
        return [tokens.key_id(pt) for pt in self.points]

    def check_signer(self, kid):
        """ValueError unless a token signed by key `kid` may be verified."""
        if kid in self.revoked:
            raise ValueError("token signed by revoked key %s" % _hex(kid))
        if not self.keys:
            raise ValueError(NONE)
        if kid not in self.keys:
            raise ValueError("token signed by unknown key %s" % _hex(kid))

    def check_update(self, added, revoked):
        """ValueError unless trusting `added` and revoking `revoked` leaves 1..3 keys."""
        kid = tokens.key_id(added)
        if kid in self.revoked:
            raise ValueError("key %s was revoked: it cannot be trusted again" % _hex(kid))
        if kid in self.keys:
            raise ValueError("key %s is already trusted" % _hex(kid))
        n = len(self.points) + 1
        if revoked != tokens.NO_KID:
            if revoked not in self.keys:
                raise ValueError("key update revokes key %s, which is not trusted"
                                 % _hex(revoked))
            n -= 1
        if n > MAX_KEYS:
            raise ValueError("key update would trust %d keys (at most %d): revoke one"
                             % (n, MAX_KEYS))

    def update(self, added, revoked):
        """Apply a checked key update; returns (points, revoked ids) to persist."""
        pts = [pt for pt in self.points if tokens.key_id(pt) != revoked] + [bytes(added)]
        rev = list(self.revoked)
        if revoked != tokens.NO_KID:
            rev.append(bytes(revoked))
            rev = rev[-MAX_REVOKED:]
        keys = dict(self.keys)
        keys.pop(revoked, None)
        keys[tokens.key_id(added)] = self._v.PublicKey(bytes(added))
        self.points, self.revoked, self.keys = pts, rev, keys
        return list(pts), list(rev)
