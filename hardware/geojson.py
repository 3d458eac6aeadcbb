"""Moved to `armlock.authority.zones`; this name stays until bench/ imports it from there."""

from armlock.authority.zones import *  # noqa: F403
from armlock.authority.zones import GeoJSONError, load_all, load_zones, parse_zones  # noqa: F401
