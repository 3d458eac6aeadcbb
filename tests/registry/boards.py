"""Virtual boards for the registry tests (the one place that knows how to start one)."""

from __future__ import annotations

from pathlib import Path

from hardware.virtual.launcher import VirtualBoard


def virtual_board(state_dir: Path, device_id: str, key: bytes) -> VirtualBoard:
    """A started dev-mode board (MicroPython VM) provisioned as `device_id` with `key`;
    use as a context manager; `.port` is its pty."""
    return VirtualBoard(state_dir, identity=(device_id, key)).start()
