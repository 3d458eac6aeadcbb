"""A power cut with no warning, while the lock is open and while it writes its flash: the
board comes back locked, its audit chain intact, its permit the old or the new one
(virtual boards: a kill of the board process; real rigs: the rig file's power control)."""

from __future__ import annotations

import random
import threading

import pytest

from hardware.hil.authority import Authority
from hardware.hil.rig import Rig


def test_power_cut_while_open_boots_locked_with_the_chain_intact(rig: Rig,
                                                                  authority: Authority) -> None:
    if not rig.can_cut_power:
        pytest.skip("no power control for this board (rig file [boards.power])")
    rig.load(authority.permit())
    rig.unlock()
    rig.power_cut()
    assert rig.status()["locked"] is True
    rig.audit()                                   # raises if the hash chain broke
    rig.unlock()                                  # the permit survived: a fix, it opens again


def test_power_cut_in_the_middle_of_flash_writes(rig: Rig, authority: Authority) -> None:
    """MicroPython board: it dies halfway through its 3rd file write after power-on; the
    CPython twin (no write hook): a kill at a random moment while it stores the permit."""
    if not hasattr(rig.board, "power_cut"):
        pytest.skip("cuts in the middle of a write need a virtual board")
    rig.load(authority.permit())
    held = rig.status()["permit"]["serial"]
    vb = rig.board.vb
    cutter = None
    if rig.board.spec.where == "micropython":
        rig.power_cut(at_write=(3, "mid"))        # armed for the next power-on's writes
    else:
        cutter = threading.Timer(random.uniform(0.0, 0.03), vb.kill)
        cutter.start()
    newer = authority.permit()
    try:
        rig.load(newer)                           # its writes: the board dies among them
    except Exception:  # noqa: BLE001 - the board went away: that is the cut
        pass
    if cutter is not None:
        cutter.join()
    assert vb.wait_exit(5) is not None, "the board did not die during the write"
    rig.power_cut()                               # and on again, on what reached the flash
    st = rig.status()
    assert st["locked"] is True
    assert st["permit"]["serial"] in (held, held + 1)
    rig.audit()
