"""Moved to `armlock.authority`; this name stays until hardware/hil imports it from there."""

from armlock.authority import *  # noqa: F403
from armlock.authority import __all__  # noqa: F401
