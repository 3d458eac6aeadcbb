"""Why a legitimate try did not open the lock, as the core's own audit records say.

The simulator does not judge: it reads the records the core wrote during the try
(``cred_reject`` with the credential's failure or the reasons it was ignored, ``deny``
with the reasons the lock stayed locked) and files the try under one cause. A tap the
reader could not read reaches the core as RFID_FAIL (``rfid failed: ...``):
``rfid_read``; a finger the module did not find (FINGER_FAIL) or a score below the
core's threshold: ``finger_reject``.
"""

from __future__ import annotations

CAUSES = ("rfid_read", "rfid_reject", "finger_reject", "gnss_jam_loss", "gnss_fix",
          "outside_zone", "time_untrusted", "lockout", "battery", "permit_expired",
          "no_permit", "tamper", "fault", "other")
# core reasons (firmware/core/events.py R_*) -> cause, in order of precedence
_REASONS = (
    ("lockout", "lockout"), ("tamper_latched", "tamper"), ("battery_critical", "battery"),
    ("permit_expired", "permit_expired"), ("no_permit", "no_permit"),
    ("recalled", "no_permit"), ("permit_not_yet_valid", "no_permit"),
    ("time_untrusted", "time_untrusted"), ("gnss_lost", "gnss_jam_loss"),
    ("no_fix", "gnss_fix"), ("fix_stale", "gnss_fix"), ("fix_imprecise", "gnss_fix"),
    ("fix_implausible", "gnss_fix"), ("outside_zone", "outside_zone"),
    ("in_forbidden_zone", "outside_zone"), ("state_damaged", "fault"),
    ("actuator_fault", "fault"),
)


def from_reasons(reasons: list[str]) -> str:
    """The cause of the first reason by precedence (``other`` if none is known)."""
    for reason, cause in _REASONS:
        if reason in reasons:
            return cause
    return "other"


def cause(records: list[tuple[str, str]]) -> str:
    """Cause of a failed try from its (code, detail) audit records, in order."""
    for code, detail in records:
        if code == "cred_reject":
            factor, _sp, rest = detail.partition(" ")
            if rest.startswith("ignored:"):
                return from_reasons(rest[len("ignored:"):].strip().split(","))
            if factor == "rfid" and rest.startswith("failed:"):
                return "rfid_read"  # RFID_FAIL: the card could not be read or authenticated
            return "finger_reject" if factor == "finger" else "rfid_reject"
        if code == "deny":
            _h, _sp, rs = detail.partition("reasons=")
            return from_reasons(rs.split(","))
    return "other"
