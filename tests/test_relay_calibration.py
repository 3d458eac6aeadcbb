"""firmware/core/relay.py: the relay bound is a calibration of genuine round trips; the
core then refuses reads slower than the proposed bound (the decision stays the core's)."""

from __future__ import annotations

import random

import pytest
from conftest import HOLDER1_RFID, Rig, audit_details

from firmware.core import relay
from firmware.core.config import DEFAULTS


def test_proposes_a_high_percentile_plus_margin() -> None:
    rng = random.Random(5)
    rtts = [rng.randint(7200, 7900) for _ in range(200)] + [9500]  # one outlier
    bound = relay.propose(rtts, pct=99, margin_pct=15)
    p99 = relay.percentile(rtts, 99)
    assert bound == p99 + (p99 * 15 + 99) // 100
    assert bound < 9500 * 1.15 and bound > max(r for r in rtts if r < 9000)


def test_refuses_too_few_or_implausible_samples() -> None:
    with pytest.raises(ValueError, match="at least 20"):
        relay.propose([7000] * 5)
    with pytest.raises(ValueError, match="shorter than half the air time"):
        relay.propose([1000] * 30)


def test_default_bound_is_just_above_the_air_time() -> None:
    assert relay.AIR_US < DEFAULTS["relay_max_us"] < relay.AIR_US + 1500


def test_the_core_applies_the_proposed_bound() -> None:
    bound = relay.propose([8400 + i for i in range(50)])
    r = Rig(config={"relay_max_us": bound})
    r.ready()
    ok = r.send(("rfid", HOLDER1_RFID, bound, True))
    assert audit_details(ok, "cred_ok") == ["rfid holder=1"]
    r.advance(5000)
    bad = r.send(("rfid", HOLDER1_RFID, bound + 1, True))
    assert audit_details(bad, "cred_reject") == ["rfid relay suspected rtt_us=%d" % (bound + 1)]
