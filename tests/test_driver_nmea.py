"""NMEA 0183 driver: line assembly, checksums, RMC/GGA/GSA, integer coordinates and time."""

from __future__ import annotations

import calendar
from fractions import Fraction

import pytest
from fakes.fake_machine import FakeUART
from hypothesis import given
from hypothesis import strategies as st

from firmware.drivers import nmea as n

# Classic NMEA examples with their published checksums.
RMC_EX = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
GGA_EX = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"


def sentence(body: str) -> bytes:
    x = 0
    for ch in body.encode():
        x ^= ch
    return b"$%s*%02X\r\n" % (body.encode(), x)


def rmc(t: str = "123519.00", status: str = "A", lat: str = "4807.038", ns: str = "N",
        lon: str = "01131.000", ew: str = "E", date: str = "230394", talker: str = "GP") -> bytes:
    return sentence(f"{talker}RMC,{t},{status},{lat},{ns},{lon},{ew},0.0,0.0,{date},,,A")


def gga(t: str = "123519.00", quality: int = 1, sats: int = 8, hdop: str = "0.9",
        talker: str = "GP") -> bytes:
    return sentence(f"{talker}GGA,{t},4807.038,N,01131.000,E,{quality},{sats:02d},{hdop},"
                    "545.4,M,46.9,M,,")


def ref_e7(text: str, hemi: str) -> int:
    """Reference: exact rational degrees, rounded half up to 1e-7."""
    ip, _, frac = text.partition(".")
    minutes = Fraction(ip[-2:] + "." + (frac or "0"))
    deg = (int(ip[:-2]) + minutes / 60) * 10**7
    v = int(deg + Fraction(1, 2))
    return -v if hemi in "SW" else v


def test_published_examples_give_the_fix():
    p = n.NMEA()
    assert p.feed(RMC_EX, 0) == []
    ev = p.feed(GGA_EX, 0)
    utc = calendar.timegm((1994, 3, 23, 12, 35, 19, 0, 0, 0))
    assert ev == [("fix", 481173000, 115166667, 5, utc)]        # HDOP 0.9 x 5 m -> 4.5 -> 5
    assert p.good == 2 and p.bad == 0 and p.sats == 8 and p.alt_dm == 5454


def test_gga_before_rmc_same_epoch_also_fixes():
    p = n.NMEA()
    assert p.feed(gga(), 0) == []
    assert p.feed(rmc(), 0)[0][0] == "fix"


def test_epochs_must_match():
    p = n.NMEA()
    assert p.feed(rmc(t="123519.00") + gga(t="123520.00"), 0) == []
    assert p.feed(rmc(t="123520.00"), 0)[0][0] == "fix"


def test_bad_checksum_is_ignored_and_counted():
    p = n.NMEA()
    bad = RMC_EX.replace(b"*6A", b"*6B")
    assert p.feed(bad + GGA_EX, 0) == []
    assert p.bad == 1
    nochk = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W\r\n"
    assert p.feed(nochk, 0) == [] and p.bad == 2


def test_split_at_every_byte_gives_same_events():
    data = b"\x00garbage" + rmc() + gga() + rmc(t="123520.00") + gga(t="123520.00")
    want = n.NMEA().feed(data, 0)
    assert len(want) == 2
    for i in range(len(data) + 1):
        p = n.NMEA()
        assert p.feed(data[:i], 0) + p.feed(data[i:], 0) == want, i
    p = n.NMEA()
    assert [e for b in data for e in p.feed(bytes((b,)), 0)] == want


def test_overlong_and_binary_lines_are_dropped_then_reader_recovers():
    p = n.NMEA()
    long_line = b"$GPTXT," + b"A" * 100 + b"\r\n"
    binary = b"$GPRMC,12\x01\xff3519\r\n"
    restarted = b"$GPRMC,1235"                         # cut by a new '$'
    ev = p.feed(long_line + binary + restarted + rmc() + gga(), 0)
    assert ev[0][0] == "fix" and p.dropped == 3


def test_no_fix_sentences_give_no_event_the_observation_shows_them():
    """The driver no longer says "lost": observe() reports how long it has had no fix."""
    p = n.NMEA()
    assert p.feed(rmc(status="V", lat="", ns="", lon="", ew=""), 0) == []
    assert p.observe(1000) == ("gnss", 1000, -1, 0, -1)      # no fix since boot
    assert p.feed(gga(quality=0, sats=0, hdop=""), 1000) == []
    assert p.feed(rmc() + gga(), 2000)[0][0] == "fix"
    assert p.feed(gga(t="123520.00", quality=0), 3000) == []
    assert p.observe(7000) == ("gnss", 4000, 5000, 8, -1)


def test_rmc_mode_n_is_not_a_fix():
    p = n.NMEA()
    body = "GNRMC,123519.00,A,4807.038,N,01131.000,E,0.0,0.0,230394,,,N"
    assert p.feed(sentence(body) + gga(talker="GN"), 0) == []
    assert p.observe(0)[2] == -1


@pytest.mark.parametrize("lat,ns,lon,ew", [
    ("3351.3790", "S", "15112.7830", "E"),             # Sydney
    ("2254.6830", "S", "04311.2250", "W"),             # Rio
    ("4042.7650", "N", "07400.3530", "W"),             # New York
    ("0000.0001", "S", "00000.0001", "W"),
    ("8959.99999", "N", "17959.99999", "E"),
])
def test_hemispheres_and_exact_integer_coordinates(lat: str, ns: str, lon: str, ew: str):
    p = n.NMEA()
    ev = p.feed(rmc(lat=lat, ns=ns, lon=lon, ew=ew) + gga(), 0)
    assert ev[0][1:3] == (ref_e7(lat, ns), ref_e7(lon, ew))


@given(st.integers(0, 89), st.integers(0, 59), st.integers(0, 10**6 - 1),
       st.integers(1, 6), st.sampled_from("NS"))
def test_parse_coord_is_exact(deg: int, mins: int, frac: int, k: int, hemi: str):
    text = "%02d%02d.%s" % (deg, mins, str(frac).zfill(6)[:k])
    assert n.parse_coord(text, hemi, 2) == ref_e7(text, hemi)


@pytest.mark.parametrize("text,hemi", [("9100.000", "N"), ("4860.000", "N"),
                                       ("48x7.038", "N"), ("4807.038", "X"), ("", "N")])
def test_malformed_coordinates_are_rejected(text: str, hemi: str):
    assert n.parse_coord(text, hemi, 2) is None


def test_date_rollover_and_leap_day():
    p = n.NMEA()
    a = p.feed(rmc(t="235959.00", date="311299") + gga(t="235959.00"), 0)[0][4]
    b = p.feed(rmc(t="000000.00", date="010100") + gga(t="000000.00"), 1000)[0][4]
    assert b - a == 1 and b == calendar.timegm((2000, 1, 1, 0, 0, 0, 0, 0, 0))
    c = p.feed(rmc(t="235959.00", date="290224") + gga(t="235959.00"), 2000)[0][4]
    d = p.feed(rmc(t="000000.00", date="010324") + gga(t="000000.00"), 3000)[0][4]
    assert d - c == 1 and d == calendar.timegm((2024, 3, 1, 0, 0, 0, 0, 0, 0))


def test_invalid_date_is_not_a_fix():
    p = n.NMEA()
    assert p.feed(rmc(date="300223") + gga(), 0) == []     # 30 Feb
    assert p.bad == 1


@given(st.integers(1970, 2200), st.integers(1, 12), st.integers(1, 31))
def test_days_from_civil_matches_calendar(y: int, m: int, d: int):
    if d > calendar.monthrange(y, m)[1]:
        return
    assert n.days_from_civil(y, m, d) * 86400 == calendar.timegm((y, m, d, 0, 0, 0, 0, 0, 0))


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "BD", "GB"])
def test_talkers_accepted(talker: str):
    p = n.NMEA()
    assert p.feed(rmc(talker=talker) + gga(talker=talker), 0)[0][0] == "fix"


def test_unknown_talker_ignored():
    p = n.NMEA()
    assert p.feed(rmc(talker="XX") + gga(talker="XX"), 0) == []


@pytest.mark.parametrize("hdop,uere,want", [("0.9", 5, 5), ("1.25", 4, 5), ("1.26", 4, 6),
                                            ("12.0", 5, 60), ("0.5", 1, 1)])
def test_hacc_is_hdop_times_uere_rounded_up(hdop: str, uere: int, want: int):
    p = n.NMEA(uere_m=uere)
    assert p.feed(rmc() + gga(hdop=hdop), 0)[0][3] == want


def test_gsa_fix_type_and_dops():
    p = n.NMEA()
    p.feed(sentence("GNGSA,A,3,10,12,15,,,,,,,,,,1.94,1.18,1.54,1"), 0)
    assert (p.fix_type, p.pdop_c, p.gsa_hdop_c, p.vdop_c) == (3, 194, 118, 154)
    p.feed(sentence("GPGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99"), 0)
    assert p.fix_type == 1 and p.pdop_c == 9999


def test_observe_reports_what_the_receiver_shows_and_decides_nothing():
    p = n.NMEA()
    assert p.observe(5000) == ("gnss", 5000, -1, 0, -1)       # never heard since boot
    p.feed(rmc() + gga(), 0)
    assert p.observe(500) == ("gnss", 500, 500, 8, -1)
    lost = gga(t="123520.00", quality=0, sats=2, hdop="")
    for t in range(1000, 31000, 1000):
        p.feed(lost, t)
    assert p.observe(31000) == ("gnss", 1000, 31000, 2, -1)   # alive, no fix, 2 satellites
    assert p.observe(90000) == ("gnss", 60000, 90000, 2, -1)  # and then silent


def test_observation_classified_by_the_core_thresholds():
    """The same observation is jammed or lost depending on the core's config only."""
    from firmware.core import config, gnss
    p = n.NMEA()
    p.feed(rmc() + gga(), 0)
    for t in range(1000, 31000, 1000):
        p.feed(gga(t="123520.00", quality=0, sats=4, hdop=""), t)
    seen = p.observe(31000)[1:]
    assert gnss.classify(config.merge(None), *seen) == "lost"
    assert gnss.classify(config.merge({"jam_max_sats": 4}), *seen) == "jammed"


def test_poll_reads_uart():
    uart = FakeUART()
    p = n.NMEA(uart)
    assert p.poll(0) == []
    uart.feed(RMC_EX + GGA_EX[:20])
    assert p.poll(0) == []
    uart.feed(GGA_EX[20:])
    assert p.poll(0)[0][0] == "fix"
