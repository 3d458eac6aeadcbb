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


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "BD", "GB", "GQ", "GI"])
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


# -- longer lines, fixes not from satellites, GNS -------------------------------------
def test_gga_up_to_102_characters_gives_a_fix():
    # MT3339 / SkyTraq style: more decimals, DGPS age and station: 92 characters
    long_gga = sentence("GPGGA,123519.000,4807.038000,N,01131.000000,E,2,12,0.80,545.400,M,"
                        "46.900,M,0000.0,0000")
    assert len(long_gga) == 92
    assert n.NMEA().feed(rmc(t="123519.000") + long_gga, 0)[0][0] == "fix"
    pad = "," + "0" * (102 - len(long_gga) - 1)
    longest = sentence(long_gga[1:-5].decode() + pad)
    assert len(longest) == 102
    assert n.NMEA().feed(rmc(t="123519.000") + longest, 0)[0][0] == "fix"
    p = n.NMEA()
    assert p.feed(rmc(t="123519.000") + sentence(longest[1:-5].decode() + "0"), 0) == []
    assert p.dropped == 1


@pytest.mark.parametrize("quality", [0, 6, 7, 8])
def test_gga_quality_not_from_satellites_is_no_fix(quality: int):
    p = n.NMEA()
    assert p.feed(rmc() + gga(quality=quality), 0) == []
    assert p.observe(1000)[2] == -1 and p.state == "lost"     # no fix since boot
    assert p.bad == 0                                   # a valid sentence, just no fix


@pytest.mark.parametrize("quality", [1, 2, 3, 4, 5])
def test_gga_satellite_qualities_fix(quality: int):
    assert n.NMEA().feed(rmc() + gga(quality=quality), 0)[0][0] == "fix"


@pytest.mark.parametrize("mode,fix", [("A", True), ("D", True), ("F", True), ("R", True),
                                      ("P", True), ("", True), ("E", False), ("M", False),
                                      ("S", False), ("N", False), ("X", False)])
def test_rmc_mode_decides_whether_a_fix_is_from_satellites(mode: str, fix: bool):
    body = f"GNRMC,123519.00,A,4807.038,N,01131.000,E,0.0,0.0,230394,,,{mode}"
    ev = n.NMEA().feed(sentence(body) + gga(talker="GN"), 0)
    assert any(e[0] == "fix" for e in ev) is fix, ev


def test_rmc_nav_status_field_does_not_veto():
    # NMEA 4.10 adds a navigational status after the mode; u-blox always sends V there
    body = "GNRMC,123519.00,A,4807.038,N,01131.000,E,0.0,0.0,230394,,,A,V"
    assert n.NMEA().feed(sentence(body) + gga(), 0)[0][0] == "fix"


def test_dead_reckoning_after_a_fix_does_not_renew_it():
    p = n.NMEA()
    assert p.feed(rmc() + gga(), 0)[0][0] == "fix"
    dr = sentence("GPRMC,123520.00,A,4807.038,N,01131.000,E,0.0,0.0,230394,,,E")
    assert p.feed(gga(t="123520.00", quality=6) + dr, 1000) == []
    assert p.observe(5000)[2] == 5000                  # still counted from the real fix


def gns(mode: str, t: str = "123519.00", sats: int = 8) -> bytes:
    return sentence(f"GNGNS,{t},4807.038,N,01131.000,E,{mode},{sats:02d},0.9,545.4,46.9,,")


@pytest.mark.parametrize("mode,fix", [("AN", True), ("NA", True), ("DD", True),
                                      ("NN", False), ("AE", False), ("SS", False),
                                      ("M", False)])
def test_gns_mode_per_constellation(mode: str, fix: bool):
    p = n.NMEA()
    ev = p.feed(rmc(talker="GN") + gns(mode), 0)
    assert any(e[0] == "fix" for e in ev) is fix, ev
    assert p.bad == 0


def test_gga_without_time_and_no_fix_is_lost_not_malformed():
    p = n.NMEA()
    assert p.feed(sentence("GPGGA,,,,,,0,,,,M,,M,,"), 0) == []
    assert p.state == "lost" and p.bad == 0 and p.good == 1


# -- GSV: satellites in view, strongest C/N0 ------------------------------------------
def gsv(talker: str, total: int, num: int, in_view: int, sats: list[tuple[int, str]],
        signal: str | None = None) -> bytes:
    groups = "".join(f",{prn:02d},45,120,{snr}" for prn, snr in sats)
    return sentence(f"{talker}GSV,{total},{num},{in_view:02d}{groups}"
                    + ("" if signal is None else "," + signal))


def test_gsv_cycle_gives_strongest_cn0_and_in_view():
    p = n.NMEA()
    assert (p.cn0_dbhz, p.in_view) == (-1, 0)                # no GSV yet: not reported
    p.feed(gsv("GP", 2, 1, 6, [(1, "40"), (3, "47"), (6, "12"), (9, "")]), 0)
    assert (p.cn0_dbhz, p.in_view) == (-1, 0)                # cycle not complete
    p.feed(gsv("GP", 2, 2, 6, [(12, "31"), (17, "")]), 0)
    assert (p.cn0_dbhz, p.in_view) == (47, 6)
    p.feed(gsv("GL", 1, 1, 3, [(65, "50"), (66, "20"), (70, "")]), 0)
    assert (p.cn0_dbhz, p.in_view) == (50, 9)                # talkers add up
    p.feed(gsv("GL", 1, 1, 3, [(65, "22"), (66, "20"), (70, "")]), 1000)
    assert (p.cn0_dbhz, p.in_view) == (47, 9)                # the last cycle replaces the old
    assert p.bad == 0


def test_gsv_jammed_sky_reports_zero_not_minus_one():
    p = n.NMEA()
    p.feed(gsv("GP", 1, 1, 4, [(1, ""), (3, ""), (6, ""), (9, "")]), 0)
    assert (p.cn0_dbhz, p.in_view) == (0, 4)                 # satellites expected, none tracked
    p.feed(sentence("GPGSV,1,1,00"), 0)
    assert (p.cn0_dbhz, p.in_view) == (0, 0)


def test_gsv_signal_ids_are_not_counted_twice():
    # NMEA 4.10 (u-blox F9): one GSV cycle per signal, the signal id last
    p = n.NMEA()
    p.feed(gsv("GP", 1, 1, 4, [(1, "44"), (3, "41"), (6, "38"), (9, "30")], "1"), 0)
    p.feed(gsv("GP", 1, 1, 2, [(1, "49"), (3, "33")], "6"), 0)
    assert (p.cn0_dbhz, p.in_view) == (49, 4)


def test_gsv_joined_mid_cycle_or_out_of_order_waits_for_the_next():
    p = n.NMEA()
    p.feed(gsv("GP", 3, 2, 9, [(1, "60")]) + gsv("GP", 3, 3, 9, [(2, "60")]), 0)
    assert p.cn0_dbhz == -1
    p.feed(gsv("GP", 3, 1, 9, [(1, "30")]) + gsv("GP", 3, 3, 9, [(2, "60")]), 0)
    assert p.cn0_dbhz == -1                                  # message 2 missing
    p.feed(gsv("GP", 2, 1, 5, [(1, "30")]) + gsv("GP", 2, 2, 5, [(2, "35")]), 0)
    assert (p.cn0_dbhz, p.in_view) == (35, 5)


@pytest.mark.parametrize("body", ["GPGSV,1,1,x4", "GPGSV,1,1,01,01,45,120,4x", "GPGSV,1",
                                  "GPGSV,1,2,01,01,45,120,45", "GPGSV,0,0,01"])
def test_malformed_gsv_is_counted_and_changes_nothing(body: str):
    p = n.NMEA()
    p.feed(gsv("GP", 1, 1, 1, [(1, "40")]), 0)
    p.feed(sentence(body), 0)
    assert (p.cn0_dbhz, p.in_view, p.bad) == (40, 1, 1)


def test_observe_carries_the_gsv_cn0_and_the_gga_satellites():
    p = n.NMEA()
    p.feed(gsv("GP", 1, 1, 3, [(1, "41"), (3, "38"), (6, "")]), 0)
    p.feed(rmc() + gga(sats=7), 0)
    assert p.observe(1500) == ("gnss", 1500, 1500, 7, 41)
