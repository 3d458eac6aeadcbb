"""Moved to hardware.virtual (launcher.py, twin.py). This alias stays only until the CLI
and the tour (moving to armlock/) import hardware.virtual.launcher; then delete it."""

from __future__ import annotations

from hardware.virtual.launcher import MODES, RUNTIMES, BoardError, VirtualBoard

__all__ = ["MODES", "RUNTIMES", "BoardError", "VirtualBoard"]
