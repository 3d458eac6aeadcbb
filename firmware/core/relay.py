# The relay bound (config relay_max_us) as a calibration: the HIL measures genuine RFID
# challenge round trips on the rig (the rtt_us of RFID events) and proposes the bound.
#
# Basis of the default (8000 us): the timed exchange is AuthenticateEV2First part 2, an
# ISO 14443-4 I-block 90 AF 00 00 20 || 32 bytes || 00 out (PCB + 38 bytes + CRC = 41)
# and 32 bytes + 91 00 back (PCB + 34 + CRC = 37): 78 bytes of 9 bits (8 + parity) at
# 106 kbit/s (9.44 us a bit) = 6.63 ms, plus start/end of frame and the card's frame
# delay time: about 6.8 ms of air time alone. 8 ms leaves about 1.2 ms for the card's
# AES, the MFRC522 FIFO and MicroPython, so a slow but genuine setup may be taken for a
# relay; a relay adds at least one more air exchange. Calibrate on the rig instead.

AIR_US = 6800  # air time of the timed exchange at 106 kbit/s (see above)


def percentile(values, pct):
    """The pct-th percentile (nearest rank) of a non-empty list of numbers."""
    s = sorted(values)
    k = (pct * len(s) + 99) // 100  # ceil(pct/100 * n), 1-based
    return s[max(1, min(len(s), k)) - 1]


def propose(rtts_us, pct=99, margin_pct=15, min_samples=20):
    """relay_max_us for genuine round trips `rtts_us`: their pct-th percentile plus
    margin_pct percent, never below the air time. ValueError with too few samples or
    a round trip shorter than the air time (not a genuine exchange at 106 kbit/s)."""
    if len(rtts_us) < min_samples:
        raise ValueError("need at least %d genuine round trips, got %d" % (
            min_samples, len(rtts_us)))
    if min(rtts_us) < AIR_US // 2:
        raise ValueError("a round trip of %d us is shorter than half the air time (%d us):"
                         " not a timed exchange" % (min(rtts_us), AIR_US))
    p = percentile(rtts_us, pct)
    bound = p + (p * margin_pct + 99) // 100
    return bound if bound > AIR_US else AIR_US
