"""The client the HIL fixtures use: a DeviceClient that stamps events with their arrival."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from hardware.client import CounterStore, DeviceClient
from hardware.hil.boards import Board


class HilClient(DeviceClient):
    """DeviceClient that stamps each EVENT with the host time it arrived (`_rx`, seconds) and
how uncertain that is (`_rx_ms`: it arrived at most this long before; large when the test
was not reading at the time)."""

    def received(self, event: dict[str, Any]) -> None:
        event["_rx"] = now = time.perf_counter()
        # it arrived between the end of the previous read and now: how sure is the stamp
        event["_rx_ms"] = round((now - self.read_since) * 1000, 3)


def last_audit_seq(client: DeviceClient) -> int:
    """The newest audit seq on the board (0 if none), in O(log n) one-record reads."""
    def has(seq: int) -> bool:
        return bool(client.audit(from_seq=seq, count=1))

    if not has(1):
        return 0
    lo, hi = 1, 2
    while has(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if has(mid) else (lo, mid)
    return lo


@contextlib.contextmanager
def connected(board: Board, key: bytes, counters: CounterStore,
              timeout: float = 3.0) -> Iterator[HilClient]:
    """A HilClient on the board, closed whatever happens."""
    client = HilClient(board.transport(), key=key, counter_store=counters, timeout=timeout)
    try:
        client.open()
        yield client
    finally:
        client.close()
