"""A board under test connected for one test: its client, rig and authority, brought to a
known state (boards that keep their state between tests are restarted and cleared)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hardware.hil.authority import Authority, apply_token
from hardware.hil.boards import AttachedBoard, Board
from hardware.hil.client import HilClient, last_audit_seq
from hardware.hil.measure import Recorder
from hardware.hil.nmea import NmeaPort
from hardware.hil.rig import Rig
from hardware.link.base import DeviceError
from protocols import audit as A


@dataclass
class Linked:
    """One connected board: `client` (device), `rig`, `board`, `authority`, `info` (INFO)."""

    client: HilClient
    rig: Rig
    board: Board
    authority: Authority
    info: dict[str, Any]


@contextlib.contextmanager
def linked(board: Board, authority: Authority, counters: Any, recorder: Recorder,
           gnss_port: str | None = None) -> Iterator[Linked]:
    """Connect to `board`, bind the authority to its id, bring it to a known state."""
    gnss = NmeaPort(gnss_port) if gnss_port else None
    client = HilClient(board.transport(), key=None, counter_store=counters)
    rig = None
    try:
        client.open()
        info = client.info()
        if not authority.device_id:
            authority.bind(info["device_id"])
        client.key = authority.device_key
        rig = Rig(client, board, authority, recorder, getattr(board, "offset", 0), gnss)
        if isinstance(board, AttachedBoard) and board.persistent:
            _known_state(client, rig, board)
        rig.log.extend(client.drain_events())
        rig.cursor = len(rig.log)
        rig.mark = last_audit_seq(client)
        yield Linked(client, rig, board, authority, info)
    finally:
        if rig is not None:
            with contextlib.suppress(Exception):  # the board may be gone
                rig.record_answers()
        if rig is not None and isinstance(board, AttachedBoard):
            board.offset = max(board.offset, rig.offset)
        client.close()
        if gnss is not None:
            gnss.close()


def _known_state(client: HilClient, rig: Rig, board: AttachedBoard) -> None:
    """Bring a board that keeps its state to a known one: restart it (fresh memory), set its
    clock no earlier than anything it recorded, clear tamper latch and lockout, recall
    whatever permit it holds."""
    if not board.synced:
        last = last_audit_seq(client)
        if last:
            t = A.decode(client.audit(from_seq=last, count=1)[0])[1]
            board.offset = max(board.offset, t + 1 - int(time.time()))
        board.synced = True
        rig.offset = board.offset
    try:
        board.power_cycle(client)
    except DeviceError:
        pass  # a rig-mode board we cannot reset from here: continue with its state
    rig.time(rig.now())
    apply_token(client, rig.authority, rig.authority.reset, client.reset_tamper)
    client.recall(rig.authority.recall())  # no permit until the test loads one
