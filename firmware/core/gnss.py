# GNSS receiver health from what the driver observed (events.py, GNSS): the core, not the
# driver, decides "ok" / "lost" / "jammed", with the thresholds of its config.
#
# lost:   the receiver sent nothing for more than gnss_silent_s (dead, unplugged), or it
#         talks but has had no valid fix for more than gnss_silent_s;
# jammed: it talks, had a fix before, has had none for at least jam_no_fix_s, uses at most
#         jam_max_sats satellites and, when it reports C/N0, no satellite is heard above
#         jam_cn0_max dB-Hz (a jammer raises the noise floor over every signal; open sky
#         gives 35-50 dB-Hz). A deep indoor or tunnel loss can look the same: the fail
#         profile decides what either means for the lock.
# No fix since boot is not an alarm by itself: the lock waits for its first fix (no_fix).


def classify(cfg, silent_ms, nofix_ms, sats, cn0_dbhz):
    """"ok", "lost" or "jammed" for one observation (see the file header)."""
    if silent_ms > cfg["gnss_silent_s"] * 1000:
        return "lost"
    if nofix_ms < 0:
        return "ok"
    if nofix_ms >= cfg["jam_no_fix_s"] * 1000 and sats <= cfg["jam_max_sats"] \
            and (cn0_dbhz < 0 or cn0_dbhz <= cfg["jam_cn0_max"]):
        return "jammed"
    if nofix_ms > cfg["gnss_silent_s"] * 1000:
        return "lost"
    return "ok"
