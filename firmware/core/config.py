# Bounds of the lock controller. Every host may override any key; unknown keys and
# values of the wrong type are refused by `merge` with a message naming the key.

DEFAULTS = {
    "fix_max_age_s": 15,        # a position older than this is stale
    "hacc_max_m": 30,           # horizontal accuracy bound for a usable fix
    "vmax_mps": 70,             # implied speed above this between fixes: spoofing suspect
    "hysteresis_m": 50,         # while open, outside the zone by less than this is tolerated
    "skew_max_s": 120,          # RTC vs GNSS time disagreement tolerated
    "resync_fixes": 3,          # consistent GNSS time fixes needed to resync a skewed RTC
    "relay_max_us": 8000,       # RFID challenge round trip above this: relay suspected (air
                                # time alone is ~6.8 ms: calibrate, firmware/core/relay.py)
    "allow_weak_rfid": False,   # accept UID-only (clonable) RFID reads
    "finger_min_score": 60,     # fingerprint match score threshold (R503 scale)
    "fail_max": 3,              # consecutive failures before a lockout (DoJ: > 2 attempts)
    "lockout_base_s": 30,       # first lockout; doubles each time (phones: 30 s, growing)
    "lockout_cap_s": 3600,      # longest single lockout
    "answer_ms": 250,           # every credential is answered this long after it arrived
    "battery_low_mv": 3500,     # warn
    "battery_critical_mv": 3300,  # fail profile applies
    "floor_interval_s": 300,    # persist the time floor at least this often
    "actuator_settle_ms": 300,  # the bolt may take this long to reach a commanded position
    "gnss_silent_s": 3,         # receiver silent (or without fix) longer: GNSS lost
    "jam_no_fix_s": 30,         # no fix this long (after one) with few satellites: jammed
    "jam_max_sats": 3,          # ... at most this many satellites used
    "jam_cn0_max": 30,          # ... and none heard above this C/N0 (dB-Hz), if reported
    "sensor_fail_after": 3,     # consecutive read errors a driver reports: sensor faulty
    "magnet_threshold": 2000,   # field deviation from rest (sensor units): magnet tamper
    "refusal_window_s": 60,     # unauthenticated refusals: one record per window ...
    "refusal_window_max_s": 21600,  # ... doubling while a flood lasts, up to this
}


def merge(overrides):
    """Return DEFAULTS updated with `overrides`; raise ValueError naming a bad key."""
    cfg = dict(DEFAULTS)
    if not overrides:
        return cfg
    for key in overrides:
        if key not in DEFAULTS:
            raise ValueError("config: unknown key %r" % key)
        value = overrides[key]
        want = type(DEFAULTS[key])
        if type(value) is not want:
            raise ValueError("config: %s must be %s" % (key, want.__name__))
        if want is int and value < 0:
            raise ValueError("config: %s must be >= 0" % key)
        cfg[key] = value
    return cfg
