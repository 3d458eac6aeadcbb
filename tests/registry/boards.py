"""Virtual boards for the registry tests (the one place that knows how to start one)."""

from __future__ import annotations

from pathlib import Path

from armlock.registry.signer import Signer
from hardware.virtual.launcher import VirtualBoard


def virtual_board(state_dir: Path, device_id: str, signer: Signer) -> VirtualBoard:
    """A started dev-mode board (MicroPython VM) provisioned as `device_id` with its key
    from `signer`, trusting `signer`'s authority key; use as a context manager; `.port` is
    its pty."""
    ident = (device_id, signer.device_key(device_id), (signer.public,))
    return VirtualBoard(state_dir, identity=ident).start()
