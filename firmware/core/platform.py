# Is this board hardened? The core's classification of the chip's security state.
#
# A port reads the facts (firmware/ports/esp32/security.py reads eFuse and chip-revision
# registers; the host reads the same facts from `espefuse summary`, hardware/harden.py)
# and the core decides here, so device and host judge a board by one rule:
#
#     ok, reasons = hardened(facts, waiver)
#
# facts: {"chip": "esp32"|"esp32s3", "readable": bool, "rev": major*100+minor,
#         "secure_boot": bool, "flash_enc": bool, "flash_enc_locked": bool,
#         "dl_crypt_off": bool, "jtag_off": bool, "download": "on"|"secure"|"off",
#         "secure_version": int}
# waiver: None, or why a rig build runs on an unhardened board (from the build manifest).
# reasons: codes of _REASONS, in this order, for every requirement the board misses; with
# a waiver ok is True and the reasons are still returned (the audit records both).
#
# Requirements (docs/HARDENING.md): Secure Boot V2 on; flash encryption on in release
# mode (the counter can no longer change, download-mode encryption/decryption/cache off);
# JTAG off; ROM download off or secure download mode (an ESP32 has no secure download
# mode: off); anti-rollback engaged (eFuse secure_version >= 1); an ESP32 of revision
# v3.0 or later (earlier ones fall to CVE-2019-17391 and CVE-2020-13629 glitches).

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

CHIPS = ("esp32", "esp32s3")
ESP32_MIN_REV = 300

_REASONS = const((
    ("unreadable", "the chip's security state could not be read"),
    ("chip", "not an ESP32 or ESP32-S3"),
    ("chip_rev", "ESP32 below revision v3.0 (CVE-2019-17391, CVE-2020-13629)"),
    ("secure_boot", "Secure Boot V2 is off"),
    ("flash_enc", "flash encryption is off"),
    ("flash_enc_dev", "flash encryption is in development mode"),
    ("jtag", "JTAG is enabled"),
    ("download", "ROM download mode is enabled"),
    ("rollback", "anti-rollback is not engaged (eFuse secure_version 0)"),
))


def must_check(mode):
    """True if an image built in `mode` refuses to run unlockable on an unhardened board
    (every build but dev: a dev board is open by design)."""
    return mode != "dev"


def _missing(facts):
    if not facts.get("readable"):
        return ["unreadable"]
    chip = facts.get("chip")
    if chip not in CHIPS:
        return ["chip"]
    out = []
    if chip == "esp32" and facts.get("rev", -1) < ESP32_MIN_REV:
        out.append("chip_rev")
    if not facts.get("secure_boot"):
        out.append("secure_boot")
    if not facts.get("flash_enc"):
        out.append("flash_enc")
    elif not (facts.get("flash_enc_locked") and facts.get("dl_crypt_off")):
        out.append("flash_enc_dev")
    if not facts.get("jtag_off"):
        out.append("jtag")
    dl = facts.get("download")
    if not (dl == "off" or (dl == "secure" and chip != "esp32")):
        out.append("download")
    if facts.get("secure_version", 0) < 1:
        out.append("rollback")
    return out


def hardened(facts, waiver=None):
    """(ok, reasons): ok if the board meets every requirement, or a waiver is given."""
    reasons = _missing(facts)
    return (not reasons) or waiver is not None, reasons


def describe(code):
    """The sentence for a reason code."""
    for c, text in _REASONS:
        if c == code:
            return text
    return code


def audit_detail(reasons, waiver=None):
    """Short audit text: "" when hardened, else "unhardened=a,b" or "waived=a,b"."""
    if not reasons:
        return ""
    return ("waived=" if waiver is not None else "unhardened=") + ",".join(reasons)
