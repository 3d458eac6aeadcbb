# Checks of the core that host code may call instead of copying them (an authority's
# status display, the registry): the same code the lock runs, with its exact bounds.

from firmware.core import events as E


def validity(permit, now):
    """Why `permit` (anything with not_before / not_after, UTC s) is not valid at trusted
    time `now`: events.R_NOT_YET, events.R_EXPIRED, or None. Valid from not_before to
    not_after, both included (the lock relocks at not_after + 1 s)."""
    if now < permit.not_before:
        return E.R_NOT_YET
    if now > permit.not_after:
        return E.R_EXPIRED
    return None
