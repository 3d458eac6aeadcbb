# Test-vector runner: drives a LockController through a JSON scenario and returns
# the action trace as text lines. The same file runs under CPython and MicroPython,
# and the two traces must be byte-identical (tests/test_parity.py).
#
# Vector: {"device_id", "master_hex", "config": {...}, "tokens": {name: permit fields},
#          "steps": [[mono_ms, rtc_s, kind, args...] | ["reboot", mono_ms, rtc_s, cause]
#                    | ["corrupt"]]}
# Like a host, the runner applies SET_RTC actions: later RTC readings move with them.
# An argument "@name" is the token `name` encoded on this runtime; "hex:..." is bytes.

import binascii

from firmware.core.controller import LockController
from protocols import crypto, permit


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


def run(vector, emit=None):
    """Run one vector dict; pass each trace line to `emit`, or return them as a list."""
    master = binascii.unhexlify(vector["master_hex"])
    dev = vector["device_id"]
    key = crypto.device_key(master, dev)
    cfg = vector.get("config")
    tokens = {}
    specs = vector.get("tokens", {})
    for name in specs:
        fields = specs[name]
        k = crypto.device_key(master, fields["device_id"]) if fields.get("key") != "forged" \
            else b"\x00" * 32
        tokens[name] = permit.encode(fields, k)
    lines = []
    if emit is None:
        emit = lines.append
    ctl = LockController(dev, key, cfg)
    blob = None
    adj = 0  # what SET_RTC actions moved the simulated RTC by, as a host would
    for i, step in enumerate(vector["steps"]):
        if step[0] == "reboot":
            ctl = LockController(dev, key, cfg)
            adj = 0  # a reboot step gives the RTC reading itself
            step = [step[1], step[2], "boot", blob, step[3]]
        elif step[0] == "corrupt":
            blob = blob[:-1] + bytes([blob[-1] ^ 1])
            emit(_text([i, "corrupted"]))
            continue
        ev = tuple([step[2]] + [_arg(a, tokens) for a in step[3:]])
        for act in ctl.handle(ev, step[0], step[1] + adj):
            if act[0] == "persist":
                blob = act[1]
            elif act[0] == "set_rtc":
                adj = act[1] - step[1]
            emit(_text([i] + list(act)))
    emit(_text(["status", ctl.status()]))
    return lines


def main(path):
    """Print the trace of the vector file at `path` (used under MicroPython)."""
    import json

    with open(path) as f:
        vector = json.load(f)
    run(vector, print)
