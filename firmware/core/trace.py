# Test-vector runner: drives a LockController through a JSON scenario and returns
# the action trace as text lines. The same file runs under CPython and MicroPython,
# and the two traces must be byte-identical (tests/test_parity.py).
#
# Vector: {"device_id", "master_hex", "authority": [hex of 65-byte points], "config": {...},
#          "tokens": {name: {"fields": permit fields, "hex": the signed token}},
#          "steps": [[mono_ms, rtc_s, kind, args...] | ["reboot", mono_ms, rtc_s, cause]
#                    | ["corrupt"]]}  (a reboot boots from the last PERSIST and the
#          permit slots SAVE_PERMIT wrote; "corrupt" flips a bit of that record)
# The runner is a Host (host.py): SET_RTC moves later RTC readings, as on a board.
# Tokens are signed by tools/make_core_vectors.py (the device never signs); each runtime
# checks that the body encodes to the same bytes from its fields. An argument "@name" is
# the token `name`; "hex:..." is bytes.

import binascii

from firmware.core.controller import LockController
from firmware.core.host import Host
from protocols import crypto, permit


class _Body:
    """Encodes a token body only (the signature comes from the vector)."""

    def __init__(self, key_id):
        self.key_id = key_id

    def sign(self, msg):
        return b"\x01" * permit.SIG_LEN


def _token(spec):
    blob = binascii.unhexlify(spec["hex"])
    body = permit.body(spec["fields"], blob[6:6 + permit.KID_LEN])
    if body != blob[:-permit.SIG_LEN]:
        raise ValueError("token body does not encode from its fields on this runtime")
    return blob


def _text(v):
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is str:
        return '"' + v + '"'
    if t is bytes or t is bytearray:
        return '"' + binascii.hexlify(v).decode() + '"'
    if t is list or t is tuple:
        return "[" + ",".join([_text(x) for x in v]) + "]"
    if t is dict:
        return "{" + ",".join([_text(k) + ":" + _text(v[k]) for k in sorted(v)]) + "}"
    raise TypeError("cannot render %r" % (v,))


def _arg(v, tokens):
    if type(v) is str and v.startswith("@"):
        return tokens[v[1:]]
    if type(v) is str and v.startswith("hex:"):
        return binascii.unhexlify(v[4:])
    return v


class _Tracer(Host):
    """A host that prints every action it carries, as a trace line of step `i`."""

    def __init__(self, ctl, emit):
        Host.__init__(self, ctl)
        self.emit = emit
        self.i = 0
        self.blob = None
        self.permits = [None, None]  # type: list[bytes | None]

    def _line(self, *act):
        self.emit(_text([self.i] + list(act)))

    def actuate(self, locked, reason, mono_ms):
        self._line("actuate", locked, reason)

    def persist(self, blob):
        self.blob = blob
        self._line("persist", blob)

    def save_permit(self, slot, token):
        self.permits[slot] = token
        self._line("save_permit", slot, token)

    def audit(self, record):
        self._line("audit", record)

    def answer(self, at_ms, ok):
        self._line("answer", at_ms, ok)

    def wake(self, at_ms):
        Host.wake(self, at_ms)
        self._line("wake", at_ms)

    def indicate(self, what):
        self._line("indicate", what)

    def set_rtc(self, utc_s, rtc_s):
        Host.set_rtc(self, utc_s, rtc_s)
        self._line("set_rtc", utc_s)

    def result(self, ok, message):
        self._line("result", ok, message)


def run(vector, emit=None):
    """Run one vector dict; pass each trace line to `emit`, or return them as a list."""
    master = binascii.unhexlify(vector["master_hex"])
    dev = vector["device_id"]
    key = crypto.device_key(master, dev)
    cfg = vector.get("config")
    auth = [binascii.unhexlify(h) for h in vector.get("authority", ())]
    tokens = {}
    specs = vector.get("tokens", {})
    for name in specs:
        tokens[name] = _token(specs[name])
    lines = []
    if emit is None:
        emit = lines.append
    host = _Tracer(LockController(dev, key, cfg, auth), emit)
    for i, step in enumerate(vector["steps"]):
        if step[0] == "reboot":  # a new controller; the reboot step gives the RTC itself
            blob, slots = host.blob, host.permits
            host = _Tracer(LockController(dev, key, cfg, auth), emit)
            host.blob, host.permits = blob, slots
            step = [step[1], step[2], "boot", blob, step[3], None, None, tuple(slots)]
        elif step[0] == "corrupt":
            b = host.blob
            host.blob = b[:-1] + bytes([b[-1] ^ 1])
            emit(_text([i, "corrupted"]))
            continue
        host.i = i
        host.handle(tuple([step[2]] + [_arg(a, tokens) for a in step[3:]]), step[0], step[1])
    emit(_text(["status", host.ctl.status()]))
    return lines


def main(path):
    """Print the trace of the vector file at `path` (used under MicroPython)."""
    import json

    with open(path) as f:
        vector = json.load(f)
    run(vector, print)
