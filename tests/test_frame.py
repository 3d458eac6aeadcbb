"""Wire framing: CRC-16/CCITT-FALSE, COBS, frame encode and the stream Decoder."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from protocols import frame  # noqa: E402
from protocols.frame import MAX_FRAME, MAX_PAYLOAD, Decoder, FrameError  # noqa: E402

FRAMES = json.loads((ROOT / "protocols" / "vectors" / "wire_frames.json").read_text())


def crc16_bitwise(data: bytes) -> int:
    """Reference CRC-16/CCITT-FALSE, bit by bit."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def decode_stream(chunks: list[bytes]) -> list:
    d = Decoder()
    out: list = []
    for c in chunks:
        out += d.feed(c)
    return out


def frames_only(items: list) -> list[tuple]:
    return [x for x in items if isinstance(x, tuple)]


# -- CRC -----------------------------------------------------------------------------------

def test_crc16_check_value() -> None:
    assert frame.crc16(b"123456789") == 0x29B1


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_crc16_matches_bitwise_reference_and_leaves_zero_residue(data: bytes) -> None:
    c = frame.crc16(data)
    assert c == crc16_bitwise(data)
    assert frame.crc16(data + bytes([c >> 8, c & 0xFF])) == 0


# -- COBS ----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", FRAMES["cobs"], ids=lambda c: c["name"])
def test_cobs_known_examples(case: dict) -> None:
    raw, enc = bytes.fromhex(case["decoded"]), bytes.fromhex(case["encoded"])
    assert frame.cobs_encode(raw) == enc
    assert bytes(frame.cobs_decode(enc)) == raw


@settings(deadline=None)
@given(st.binary(max_size=2000))
def test_cobs_round_trip_has_no_zero_and_bounded_overhead(data: bytes) -> None:
    enc = frame.cobs_encode(data)
    assert 0 not in enc
    assert len(data) < len(enc) <= len(data) + max(1, -(-len(data) // 254))
    assert bytes(frame.cobs_decode(enc)) == data


def test_cobs_decode_reports_a_code_running_past_the_end() -> None:
    with pytest.raises(FrameError, match=r"cobs error \(code 0x05 at byte 0 runs past end"):
        frame.cobs_decode(bytes.fromhex("05414243"))


# -- encode --------------------------------------------------------------------------------

def test_encoded_frame_layout() -> None:
    wire = frame.encode(0x03, 0x0102, b"\x00ab")
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    body = bytes(frame.cobs_decode(wire[1:-1]))
    assert body[:3] == b"\x03\x01\x02" and body[3:-2] == b"\x00ab"
    assert int.from_bytes(body[-2:], "big") == frame.crc16(body[:-2])


@pytest.mark.parametrize("typ,seq,n,msg", [
    (256, 0, 0, "frame type must be an int 0..255"),
    (-1, 0, 0, "frame type must be an int 0..255"),
    (1, 65536, 0, "frame seq must be an int 0..65535"),
    (1, 0, MAX_PAYLOAD + 1, r"payload too long \(1020 bytes > 1019\)"),
])
def test_encode_refuses_out_of_range(typ: int, seq: int, n: int, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        frame.encode(typ, seq, bytes(n))


@settings(deadline=None)
@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=MAX_PAYLOAD))
def test_encode_then_decode_round_trips(typ: int, seq: int, payload: bytes) -> None:
    assert Decoder().feed(frame.encode(typ, seq, payload)) == [(typ, seq, payload)]


# -- Decoder: streams, splits, resync --------------------------------------------------------

STREAM_FRAMES = [(0x02, 1, b""), (0x82, 1, bytes(range(40))), (0x10, 7, bytes(300)),
                 (0x87, 65535, b"\xff" * 260)]
STREAM = b"".join(frame.encode(*f) for f in STREAM_FRAMES)


def test_split_at_every_byte_boundary_gives_the_same_frames() -> None:
    for i in range(len(STREAM) + 1):
        assert decode_stream([STREAM[:i], STREAM[i:]]) == STREAM_FRAMES, i


def test_one_byte_at_a_time_gives_the_same_frames() -> None:
    assert decode_stream([bytes([b]) for b in STREAM]) == STREAM_FRAMES


@settings(deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_frames(cuts: list[int]) -> None:
    cuts = sorted(cuts)
    chunks = [STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]
    assert decode_stream(chunks) == STREAM_FRAMES


@settings(deadline=None)
@given(st.binary(min_size=1, max_size=600).map(lambda b: b.replace(b"\x00", b"\x01")))
def test_garbage_then_frame_resynchronises(garbage: bytes) -> None:
    good = (0x01, 9, b"hello")
    items = decode_stream([garbage, frame.encode(*good)])
    assert items[-1] == good
    assert len(items) <= 2 and all(isinstance(x, FrameError) for x in items[:-1])


def test_frame_without_leading_delimiter_after_a_frame_decodes() -> None:
    a, b = frame.encode(1, 1, b"a"), frame.encode(2, 2, b"b")
    assert Decoder().feed(a + b[1:]) == [(1, 1, b"a"), (2, 2, b"b")]


REPL_LINES = [
    b"MicroPython v1.27.0 on 2025-12-10; ESP32 module with ESP32\r\n",
    b"Type \"help()\" for more information.\r\n", b">>> ", b"... ",
    b"Traceback (most recent call last):\r\n", b"  File \"main.py\", line 42, in <module>\r\n",
    b"MemoryError: memory allocation failed, allocating 1024 bytes\r\n",
    b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
    b"I (312) cpu_start: Pro cpu up.\r\n", b"\x1b[0;32mI (29) boot: ESP-IDF v5.2\x1b[0m\r\n",
]


def test_repl_noise_with_stray_zeros_never_yields_a_frame() -> None:
    rng = random.Random(20261126)
    noise = bytearray()
    while len(noise) < 200_000:
        r = rng.random()
        if r < 0.6:
            noise += rng.choice(REPL_LINES)
        elif r < 0.95:
            noise += bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 80)))
        else:
            noise += b"\x00"
    d = Decoder()
    items = []
    for i in range(0, len(noise), 64):
        items += d.feed(bytes(noise[i:i + 64]))
    assert items and frames_only(items) == []
    assert d.frames == 0 and d.errors == len(items)
    good = (0x02, 3, b"")
    assert d.feed(frame.encode(*good))[-1] == good


# -- Decoder: errors --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_truncated_frames_are_reported_with_their_length(n: int) -> None:
    wire = b"\x00" + frame.cobs_encode(bytes(range(1, n + 1))) + b"\x00"
    assert [str(x) for x in Decoder().feed(wire)] == [f"truncated frame ({n} bytes)"]


def test_wrong_crc_is_reported_and_the_next_frame_decodes() -> None:
    wire = bytearray(frame.encode(0x03, 5, b"ABCDEFGH"))
    wire[6] ^= 0x01
    items = Decoder().feed(bytes(wire) + frame.encode(0x03, 6, b"ok"))
    assert str(items[0]).startswith("crc mismatch (frame says 0x")
    assert items[0].kind == "crc" and items[1] == (0x03, 6, b"ok")


def test_no_single_bit_flip_of_a_frame_yields_a_different_frame() -> None:
    for typ, seq, payload in STREAM_FRAMES:
        wire = frame.encode(typ, seq, payload)
        for bit in range(8, 8 * (len(wire) - 1)):
            bad = bytearray(wire)
            bad[bit // 8] ^= 1 << (bit % 8)
            got = frames_only(Decoder().feed(bytes(bad)))
            assert got in ([], [(typ, seq, payload)]), bit


def test_largest_frame_decodes_and_one_more_byte_is_oversize() -> None:
    biggest = (0x84, 1, bytes([0x41]) * MAX_PAYLOAD)
    assert Decoder().feed(frame.encode(*biggest)) == [biggest]
    for fill in (0x41, 0x00):   # dense (caught while buffering) and sparse (caught on decode)
        body = bytes([0x84, 0, 1]) + bytes([fill]) * (MAX_PAYLOAD + 1)
        c = frame.crc16(body)
        wire = b"\x00" + frame.cobs_encode(body + bytes([c >> 8, c & 0xFF])) + b"\x00"
        items = Decoder().feed(wire + frame.encode(2, 2, b""))
        assert [str(x) for x in items[:-1]] == [f"oversize frame (>{MAX_FRAME} bytes)"]
        assert items[-1] == (2, 2, b"")


def test_a_decoder_holds_no_full_size_buffer_between_long_frames() -> None:
    """A lock keeps one decoder per link: after a permit-sized frame (fed a byte at a
    time, as a UART gives it) the decoder goes back to its small buffer."""
    d = Decoder()
    biggest = (0x84, 1, bytes(range(256)) * 3)
    got = [x for b in frame.encode(*biggest) for x in d.feed(bytes([b]))]
    assert got == [biggest] and len(d._buf) < 256
    assert d.feed(frame.encode(1, 2, b"x")[:-1]) == [] and d.feed(b"\x00") == [(1, 2, b"x")]


def test_oversize_stream_is_reported_once_and_the_buffer_stays_bounded() -> None:
    d = Decoder()
    items = []
    for _ in range(100):
        items += d.feed(b"A" * 500)
        assert d.pending() <= d.max_encoded
    assert [x.kind for x in items] == ["oversize"]
    assert d.feed(frame.encode(1, 2, b"x")) == [(1, 2, b"x")]


def test_frame_error_says_what() -> None:
    e = FrameError("crc", "crc mismatch (frame says 0x0001, computed 0x0002)")
    assert str(e) == "crc mismatch (frame says 0x0001, computed 0x0002)"
    assert e == FrameError("crc", str(e)) and isinstance(e, ValueError)


@pytest.mark.parametrize("case", FRAMES["decode"], ids=lambda c: c["name"])
def test_decode_vectors(case: dict) -> None:
    items = decode_stream([bytes.fromhex(c) for c in case["chunks"]])
    want = [FrameError("", i["error"]) if "error" in i
            else (i["type"], i["seq"], bytes.fromhex(i["payload"])) for i in case["items"]]
    assert items == want
