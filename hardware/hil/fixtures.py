"""Moved: the fixtures' building blocks are now hardware/hil/{places,boards,authority,
client,measure,nmea,rig}.py and target specs are hardware.link.factory. This alias stays
only until `armlock hil` (moving to armlock/cli) imports hardware.link; then delete it."""

from __future__ import annotations

import functools

from hardware.link.factory import check_port
from hardware.link.factory import parse_target as _parse

parse_target = functools.partial(_parse, what="--armlock-target")

__all__ = ["check_port", "parse_target"]
