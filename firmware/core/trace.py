# Test-vector runner: drives a LockController through a JSON scenario and returns
# the action trace as text lines. The same file runs under CPython and MicroPython,
# and the two traces must be byte-identical (tests/test_parity.py).
#
# Vector: {"device_id", "master_hex", "config": {...}, "tokens": {name: permit fields},
#          "steps": [[mono_ms, rtc_s, kind, args...] | ["reboot", mono_ms, rtc_s, cause]
#                    | ["corrupt"]]}
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


def run(vector):
    """Run one vector dict; return the list of trace lines."""
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
    ctl = LockController(dev, key, cfg)
    blob = None
    for i, step in enumerate(vector["steps"]):
        if step[0] == "reboot":
            ctl = LockController(dev, key, cfg)
            step = [step[1], step[2], "boot", blob, step[3]]
        elif step[0] == "corrupt":
            blob = blob[:-1] + bytes([blob[-1] ^ 1])
            lines.append(_text([i, "corrupted"]))
            continue
        ev = tuple([step[2]] + [_arg(a, tokens) for a in step[3:]])
        for act in ctl.handle(ev, step[0], step[1]):
            if act[0] == "persist":
                blob = act[1]
            lines.append(_text([i] + list(act)))
    lines.append(_text(["status", ctl.status()]))
    return lines


def main(path):
    """Print the trace of the vector file at `path` (used under MicroPython)."""
    import json

    with open(path) as f:
        vector = json.load(f)
    for line in run(vector):
        print(line)
