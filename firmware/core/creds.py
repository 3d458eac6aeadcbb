# Credential checks (rule 3) and the failure lockout (rule 5).

from protocols.permit import F_FINGER, F_RFID


def check_rfid(permit, cfg, cred, rtt_us, strong):
    """Return (holder_id, None) if this RFID read is acceptable, else (None, why)."""
    if not permit.factor_mask & F_RFID:
        return None, "rfid not a factor of this permit"
    holder = permit.rfid_index.get(cred)
    if holder is None:
        return None, "unknown rfid credential"
    if not strong and not cfg["allow_weak_rfid"]:
        return None, "weak rfid (uid only)"
    if rtt_us > cfg["relay_max_us"]:
        return None, "relay suspected rtt_us=%d" % rtt_us
    return holder, None


def check_finger(permit, cfg, template, score):
    """Return (holder_id, None) if this fingerprint match is acceptable, else (None, why)."""
    if not permit.factor_mask & F_FINGER:
        return None, "fingerprint not a factor of this permit"
    holder = permit.finger_index.get(template)
    if holder is None:
        return None, "unknown fingerprint template"
    if score < cfg["finger_min_score"]:
        return None, "match score %d below %d" % (score, cfg["finger_min_score"])
    return holder, None


def required(permit, faulty, fail_enabled):
    """Number of distinct factors needed; fail-enabled discounts faulty sensors (min 1)."""
    need = permit.k
    if fail_enabled:
        usable = 0
        for f in (F_RFID, F_FINGER):
            if permit.factor_mask & f and f not in faulty:
                usable += 1
        if usable < need:
            need = usable if usable > 0 else 1
    return need


def satisfied(factors, holder, now_ms, window_ms, need):
    """True when `holder` presented `need` distinct factors within the window.

    `factors` maps (holder, factor) to the time of its last presentation, so the
    credentials of different holders neither combine nor cancel each other.
    """
    n = 0
    for key in factors:
        if key[0] == holder and now_ms - factors[key] <= window_ms:
            n += 1
    return n >= need


def lockout_seconds(level, base_s, cap_s):
    """Length of the `level`-th lockout (1-based): base x 2^(level-1), capped."""
    if level > 24:
        return cap_s
    d = base_s << (level - 1)
    return d if d < cap_s else cap_s
