"""Command round trip over each host link, next to the same bytes' time on a 115200-baud wire.

    .venv/bin/python bench/bench_link.py [--n 300] [--no-virtual]

Links: in-process loopback (firmware Device), a pty pair with a thread playing the Device,
the BLE fakes at MTU 23 and 247 (no radio: this is the host + fragmentation cost; a real
link adds about two connection intervals, ~2 x 7.5..100 ms), and the virtual board's pty
on both runtimes (CPython, MicroPython WASM under Node). Commands: PING (OK reply) and
STATUS (a status-sized reply). Prints median and p99 in ms.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import pct  # noqa: E402
from hardware.client import CounterStore, DeviceClient  # noqa: E402
from hardware.link.ble import BleTransport  # noqa: E402
from hardware.link.loopback import LoopbackTransport  # noqa: E402
from hardware.link.pty import PtyTransport  # noqa: E402
from hardware.link.serial import SerialTransport  # noqa: E402
from protocols import messages as M  # noqa: E402
from tests import conftest as C  # noqa: E402
from tests.fakes import ble as F  # noqa: E402

BAUD = 115200
NOW = int(time.time())


def wire_ms(nbytes: int) -> float:
    """Milliseconds for nbytes on a UART at BAUD, 8N1 (10 bits a byte)."""
    return nbytes * 10 / BAUD * 1000


def measure(c: DeviceClient, typ: int, expect: int, n: int) -> list[float]:
    for _ in range(10):  # warm up
        c.call(typ, expect=expect)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c.call(typ, expect=expect)
        out.append((time.perf_counter() - t) * 1000)
    return out


@contextmanager
def loopback(tmp: Path) -> Iterator[DeviceClient]:
    dev = F.make_device(tmp / "lo", "dev", C.DEVICE, C.MASTER)
    with DeviceClient(LoopbackTransport(dev, utc0=NOW, boot_cause="power_on"),
                      counter_store=CounterStore(tmp / "c.json")) as c:
        yield c


@contextmanager
def pty(tmp: Path) -> Iterator[DeviceClient]:
    board = F.PtyBoard(F.make_device(tmp / "pty", "dev", C.DEVICE, C.MASTER),
                       tmp / "ttyBENCH", utc0=NOW).start()
    try:
        with DeviceClient(SerialTransport(str(board.link)),
                          counter_store=CounterStore(tmp / "c.json")) as c:
            yield c
    finally:
        board.stop()


def ble(mtu: int) -> Callable[[Path], contextlib_cm]:
    @contextmanager
    def cm(tmp: Path) -> Iterator[DeviceClient]:
        air = F.Air(central_mtu=mtu)
        F.BleBoard(air, "C0:FF:EE:00:00:01",
                   F.make_device(tmp / f"ble{mtu}", "dev", C.DEVICE, C.MASTER), mtu=517, utc0=NOW)
        tr = BleTransport("C0:FF:EE:00:00:01", client_class=air.client_class())
        with DeviceClient(tr, counter_store=CounterStore(tmp / "c.json")) as c:
            yield c
    return cm


def virtual(runtime: str) -> Callable[[Path], contextlib_cm]:
    @contextmanager
    def cm(tmp: Path) -> Iterator[DeviceClient]:
        from hardware.virtual.launcher import VirtualBoard

        with VirtualBoard(tmp / f"vb-{runtime}", runtime=runtime,
                          identity=(C.DEVICE, C.KEY)) as vb, \
                DeviceClient(PtyTransport(vb.port),
                             counter_store=CounterStore(tmp / "c.json")) as c:
            yield c
    return cm


contextlib_cm = object  # the type of what a @contextmanager function returns (for hints)


def prime(c: DeviceClient) -> None:
    """A permit and a fix on the device, so STATUS carries its full-size reply."""
    c.key = C.KEY
    c.load_permit(C.make_permit(1, not_before=NOW - 3600, not_after=NOW + 8 * 3600))
    lat, lon = C.POINTS["in"]
    c.stimulate("fix", lat_e7=lat, lon_e7=lon, hacc_m=5, utc_s=NOW)


def main() -> None:
    ap = argparse.ArgumentParser(description="Command round trip over each host link.")
    ap.add_argument("--n", type=int, default=300, help="round trips per command and link")
    ap.add_argument("--no-virtual", action="store_true", help="skip the virtual boards")
    args = ap.parse_args()
    links: list[tuple[str, Callable[[Path], contextlib_cm]]] = [
        ("loopback (in-process Device)", loopback), ("pty + Device thread", pty),
        ("BLE fake, MTU 23", ble(23)), ("BLE fake, MTU 247", ble(247)),
    ]
    if not args.no_virtual:
        links.append(("virtual board pty, CPython", virtual("cpython")))
        if shutil.which("node"):
            links.append(("virtual board pty, MicroPython WASM", virtual("micropython")))
    with tempfile.TemporaryDirectory() as d:
        rows = []
        for name, make in links:
            with make(Path(d)) as c:  # type: ignore[attr-defined]
                prime(c)
                st = c.status()
                sizes = {
                    "PING": len(M.encode_msg(M.PING, 1)) + len(M.encode_msg(M.OK, 1)),
                    "STATUS": len(M.encode_msg(M.STATUS, 1))
                    + len(M.encode_msg(M.STATUS_REPLY, 1, st)),
                }
                for cmd, typ, exp in (("PING", M.PING, M.OK),
                                      ("STATUS", M.STATUS, M.STATUS_REPLY)):
                    xs = measure(c, typ, exp, args.n)
                    rows.append((name, cmd, pct(xs, 50), pct(xs, 99), sizes[cmd]))
        print(f"command round trip, n={args.n} each; 'wire' = the same request + reply bytes "
              f"on a {BAUD}-baud UART, 8N1")
        print(f"{'link':37} {'cmd':6} {'median ms':>9} {'p99 ms':>8} {'bytes':>6} {'wire ms':>8}")
        for name, cmd, med, p99, nb in rows:
            print(f"{name:37} {cmd:6} {med:9.3f} {p99:8.3f} {nb:6d} {wire_ms(nb):8.2f}")

if __name__ == "__main__":
    main()
