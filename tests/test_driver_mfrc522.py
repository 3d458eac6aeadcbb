"""MFRC522 driver + NTAG 424 EV2First reader against the SPI byte-level fake."""

from __future__ import annotations

import os

import pytest
from fakes.fake_machine import FakeClock
from fakes.fake_mfrc522 import FakeMFRC522, R, SimCard, cpython_aes, crc_a

from firmware.drivers import isodep
from firmware.drivers import mfrc522 as m
from firmware.drivers.ntag424 import RfidReader

KEY = bytes(range(16))
UID4 = bytes.fromhex("de ad be ef")
UID7 = bytes.fromhex("04 11 22 33 44 55 66")


def rig(*cards: SimCard, clock: FakeClock | None = None) -> tuple[FakeMFRC522, m.MFRC522]:
    fake = FakeMFRC522(list(cards), clock=clock)
    drv = m.MFRC522(fake, fake.cs, ticks_us=fake.clock.ticks_us)
    drv.init()
    return fake, drv


def reader(drv: m.MFRC522, key: bytes | None = KEY) -> RfidReader:
    return RfidReader(drv, key_for=lambda uid: key, aes=cpython_aes, random=os.urandom)


class SpySPI:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def write(self, buf: bytes) -> None:
        self.sent.append(bytes(buf))

    def write_readinto(self, out: bytes, inbuf: bytearray) -> None:
        self.sent.append(bytes(out))


class Cs:
    def __init__(self) -> None:
        self.levels: list[int] = []

    def value(self, v: int) -> None:
        self.levels.append(v)


def test_spi_address_byte_format_and_chip_select():
    spi, cs = SpySPI(), Cs()
    drv = m.MFRC522(spi, cs)
    drv.write_reg(R.T_RELOAD_L, 0xE8)
    drv.read_reg(R.VERSION)
    assert spi.sent == [bytes((0x5A, 0xE8)), bytes((0xEE, 0x00))]
    assert cs.levels == [1, 0, 1, 0, 1]


def test_init_programs_25ms_timer_ask_crc_preset_and_antenna():
    fake, drv = rig()
    assert fake.timer_us() == 25000
    assert fake.reg(R.T_MODE) & 0x80                      # TAuto
    assert fake.reg(R.TX_ASK) == 0x40
    assert fake.reg(R.MODE) & 0x03 == 0x01                # CRC preset 6363h
    assert fake.reg(R.TX_CONTROL) & 0x03 == 0x03
    assert (R.COMMAND, R.CMD_SOFT_RESET) in fake.writes


def test_dead_chip_is_reported():
    fake = FakeMFRC522(version=0x00)
    drv = m.MFRC522(fake, fake.cs, ticks_us=fake.clock.ticks_us)
    with pytest.raises(m.ChipError, match="VersionReg"):
        drv.init()


def test_crc_coprocessor_gives_iso14443_crc_a():
    # ISO/IEC 14443-3 annex B examples: 00 00 -> A0 1E, 12 34 -> 26 CF
    assert crc_a(b"\x00\x00") == b"\xa0\x1e"
    assert crc_a(b"\x12\x34") == b"\x26\xcf"
    _, drv = rig()
    assert drv.calc_crc(b"\x00\x00") == b"\xa0\x1e"
    assert drv.calc_crc(b"\x12\x34") == b"\x26\xcf"


def test_reqa_register_sequence_and_short_frame():
    fake, drv = rig(SimCard(UID4))
    fake.writes.clear()
    assert drv.request() == b"\x04\x00"
    assert fake.writes[:7] == [
        (R.COMMAND, R.CMD_IDLE), (R.COM_IRQ, 0x7F), (R.FIFO_LEVEL, 0x80),
        (R.FIFO_DATA, 0x26), (R.BIT_FRAMING, 0x07), (R.COMMAND, R.CMD_TRANSCEIVE),
        (R.BIT_FRAMING, 0x87),
    ]
    assert fake.frames == [(b"\x26", 7)]


def test_anticollision_register_sequence_and_bcc():
    fake, drv = rig(SimCard(UID4))
    drv.request()
    fake.writes.clear()
    assert drv.anticollision(0) == UID4
    fifo = [v for r, v in fake.writes if r == R.FIFO_DATA]
    assert fifo == [0x93, 0x20]
    assert (R.BIT_FRAMING, 0x00) in fake.writes and (R.BIT_FRAMING, 0x80) in fake.writes


@pytest.mark.parametrize("uid,levels", [(UID4, [0x93]), (UID7, [0x93, 0x95])])
def test_select_4_and_7_byte_uids(uid: bytes, levels: list[int]):
    fake, drv = rig(SimCard(uid, key=KEY))
    got, sak = drv.select()
    assert got == uid and sak == 0x20
    selects = [f for f, _ in fake.frames if len(f) == 9 and f[1] == 0x70]
    assert [f[0] for f in selects] == levels
    if len(uid) == 7:
        assert selects[0][2] == R.CASCADE_TAG


def test_no_card_times_out_after_chip_timer():
    fake, drv = rig()
    t0 = fake.clock.now_us
    with pytest.raises(m.NoCardError):
        drv.select()
    assert fake.clock.now_us - t0 >= 25000


def test_crc_error_in_card_answer():
    card = SimCard(UID4, key=KEY)
    card.corrupt_crc = True
    _, drv = rig(card)
    with pytest.raises(m.CRCError):
        drv.select()


def test_two_cards_collide():
    _, drv = rig(SimCard(UID4), SimCard(bytes.fromhex("01020304")))
    with pytest.raises(m.CollisionError):
        drv.select()


def test_chip_error_bits_become_protocol_error():
    fake, drv = rig(SimCard(UID4))
    fake.inject_error = R.ERR_PARITY
    with pytest.raises(m.ProtocolError, match="ErrorReg 0x02"):
        drv.request()


def test_halt_silences_card_until_wupa():
    _, drv = rig(SimCard(UID4))
    drv.select()
    assert drv.halt() is True
    with pytest.raises(m.NoCardError):
        drv.request()
    assert drv.select(wake=True)[0] == UID4


@pytest.mark.parametrize("uid", [UID4, UID7])
def test_ev2first_with_right_key_is_strong(uid: bytes):
    card = SimCard(uid, key=KEY)
    _, drv = rig(card)
    uid_hex, rtt, strong = reader(drv).read()
    assert (uid_hex, strong) == (uid.hex(), True)
    assert card.authenticated
    assert 0 < rtt < 25000
    assert card.apdus[1][:2] == b"\x90\x71" and card.apdus[2][:2] == b"\x90\xaf"


def test_wrong_key_is_an_auth_error():
    card = SimCard(UID4, key=bytes(16))
    _, drv = rig(card)
    with pytest.raises(m.AuthError, match="rejected"):
        reader(drv, KEY).read()
    assert not card.authenticated


class ForgerCard(SimCard):
    """Knows the protocol but not the key: answers part 2 with random bytes + 91 00."""

    def _apdu(self, apdu: bytes) -> bytes:
        if apdu[:2] == b"\x90\xaf":
            return os.urandom(32) + b"\x91\x00"
        return super()._apdu(apdu)


def test_card_that_cannot_prove_the_key_is_refused():
    _, drv = rig(ForgerCard(UID4, key=KEY))
    with pytest.raises(m.AuthError, match="RndA"):
        reader(drv).read()


def test_uid_only_mode_is_weak():
    _, drv = rig(SimCard(UID7))
    uid_hex, rtt, strong = reader(drv, key=None).read()
    assert uid_hex == UID7.hex() and strong is False and rtt > 0


def test_key_known_but_card_not_iso_dep_is_refused():
    _, drv = rig(SimCard(UID4))                     # no key: SAK 0x00
    with pytest.raises(m.AuthError, match="14443-4"):
        reader(drv).read()


def test_relay_latency_shows_in_rtt():
    card = SimCard(UID4, key=KEY)
    _, drv = rig(card)
    rd = reader(drv)
    _, direct, _ = rd.read()
    card.power_off()
    card.relay_us = 3000
    _, relayed, strong = rd.read()
    assert strong and relayed - direct == 3000


def test_relay_slower_than_chip_timer_is_no_card():
    card = SimCard(UID4, key=KEY, relay_us=30000)
    _, drv = rig(card)
    with pytest.raises(m.NoCardError):
        reader(drv).read()


def test_rtt_survives_tick_wraparound():
    card = SimCard(UID4, key=KEY)
    _, drv = rig(card, clock=FakeClock(start_us=(1 << 30) - 2000))
    _, rtt, _ = reader(drv).read()
    card.power_off()
    _, rtt2, _ = reader(drv).read()
    assert rtt == rtt2 and 0 < rtt < 25000


def test_event_tuple_matches_core_contract():
    _, drv = rig(SimCard(UID4, key=KEY))
    ev = reader(drv).event()
    assert ev[0] == "rfid" and ev[1] == UID4.hex() and isinstance(ev[2], int) and ev[3] is True


def test_card_stays_halted_after_a_read():
    card = SimCard(UID4, key=KEY)
    _, drv = rig(card)
    rd = reader(drv)
    rd.read()
    with pytest.raises(m.NoCardError):
        rd.read()
    assert rd.read(wake=True)[2] is True


def test_no_cipher_on_cpython_is_a_clear_error():
    _, drv = rig()
    with pytest.raises(ValueError, match="cryptolib"):
        RfidReader(drv, key_for=lambda uid: KEY)


class NoAppCard(SimCard):
    """An ISO-DEP card without the NTAG 424 application."""

    def _apdu(self, apdu: bytes) -> bytes:
        return b"\x6a\x82" if apdu[:2] == b"\x00\xa4" else super()._apdu(apdu)


def test_card_without_the_application_is_a_protocol_error():
    _, drv = rig(NoAppCard(UID4, key=KEY))
    with pytest.raises(m.ProtocolError, match="6a82"):
        reader(drv).read()


class BadBccCard(SimCard):
    def _select(self, frame: bytes) -> bytes | None:
        ans = super()._select(frame)
        if ans is not None and frame[1:2] == b"\x20":
            return ans[:4] + bytes((ans[4] ^ 0xFF,))
        return ans


def test_bcc_mismatch_is_a_protocol_error():
    _, drv = rig(BadBccCard(UID4))
    with pytest.raises(m.ProtocolError, match="BCC"):
        drv.select()


# -- the card's frame waiting time (ISO/IEC 14443-4 7.2, FWI from the ATS) ---------------
NTAG424_ATS = bytes.fromhex("0677777102 80".replace(" ", ""))   # TB(1) 0x71: FWI 7, SFGI 1


class SlowCard(SimCard):
    """An NTAG 424 that needs `apdu_us` for every APDU (its crypto), `ats` as its ATS, and
    optionally asks for more time first with S(WTX) WTXM = `wtxm`."""

    def __init__(self, *a: object, apdu_us: int = 400, ats: bytes = NTAG424_ATS,
                 wtxm: int = 0, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.apdu_us, self.ats, self.wtxm = apdu_us, ats, wtxm
        self.fast_us = self.latency_us
        self.pending: bytes | None = None

    def handle(self, frame: bytes, bits: int) -> bytes | None:
        self.latency_us = self.fast_us
        body = frame[:-2]
        if self.state == "active" and body[:1] == bytes((R.PICC_RATS,)):
            self.state = "proto"
            return self._crc(self.ats)
        if self.state == "proto" and body[:1] == b"\xf2" and self.pending is not None:
            self.latency_us, ans, self.pending = self.apdu_us, self.pending, None
            return ans                                   # the answer after the WTX
        ans = super().handle(frame, bits)
        if self.state == "proto" and body[0] & 0xE2 == 0x02:
            if self.wtxm:
                self.pending = ans
                return self._crc(bytes((0xF2, self.wtxm)))
            self.latency_us = self.apdu_us
        return ans


def test_fwt_from_fwi():
    assert isodep.fwt_us(7) == 38665                           # NTAG 424 DNA: up to 38.7 ms
    assert isodep.fwt_us(4) == 4834 and isodep.fwt_us(14) == 4949032    # rounded up
    assert isodep.ats_fwi(NTAG424_ATS) == 7
    assert isodep.ats_fwi(bytes.fromhex("0555 8002 80")) == isodep.FWI_DEFAULT   # T0 0x55: no TB
    assert isodep.ats_fwi(bytes.fromhex("0678 77f1 0280")) == isodep.FWI_DEFAULT  # FWI 15 is RFU
    assert isodep.ats_fwi(b"\x01") == isodep.FWI_DEFAULT
    with pytest.raises(m.ProtocolError, match="TB"):
        isodep.ats_fwi(b"\x02\x70")


def test_rats_programs_the_cards_frame_waiting_time():
    fake, drv = rig(SimCard(UID4, key=KEY))
    assert fake.timer_us() == 25000
    drv.select()
    assert drv.rats() == NTAG424_ATS
    want = 38665 + isodep.DELTA_FWT_US
    assert want <= fake.timer_us() < want + 25 and drv.timeout_us == want


def test_card_slower_than_25ms_within_its_fwt_authenticates():
    card = SlowCard(UID4, key=KEY, apdu_us=35000)
    _, drv = rig(card)
    uid_hex, rtt, strong = reader(drv).read()
    assert strong and card.authenticated and rtt >= 35000


def test_card_slower_than_its_fwt_is_no_card():
    _, drv = rig(SlowCard(UID4, key=KEY, apdu_us=38665 + isodep.DELTA_FWT_US + 100))
    with pytest.raises(m.NoCardError, match="42290 us"):
        reader(drv).read()


def test_short_fwt_is_honoured_too():
    # FWI 4 (TB(1) 0x41): 4.8 ms + 3.6 ms; a 10 ms answer is too late for this card
    card = SlowCard(UID4, key=KEY, apdu_us=10000, ats=bytes.fromhex("0677774102 80"))
    _, drv = rig(card)
    with pytest.raises(m.NoCardError):
        reader(drv).read()


def test_wtx_extends_the_wait_for_one_answer():
    card = SlowCard(UID4, key=KEY, apdu_us=70000, wtxm=2)   # 2 x 38.7 + 3.6 = 80.9 ms
    fake, drv = rig(card)
    assert reader(drv).read()[2] is True
    assert [f for f, _ in fake.frames if f[:2] == b"\xf2\x02"]
    assert drv.timeout_us == 38665 + isodep.DELTA_FWT_US        # back to the FWT afterwards


def test_wtx_too_short_for_the_answer_is_no_card():
    _, drv = rig(SlowCard(UID4, key=KEY, apdu_us=90000, wtxm=2))
    with pytest.raises(m.NoCardError):
        reader(drv).read()


def test_next_card_starts_with_the_activation_timeout_again():
    card = SimCard(UID4, key=KEY)
    fake, drv = rig(card)
    reader(drv).read()
    assert fake.timer_us() > 40000
    drv.select(wake=True)
    assert fake.timer_us() == 25000 and drv.fwt_us is None


def test_fwi_14_uses_a_coarser_prescaler():
    fake, drv = rig()
    drv.set_timeout(isodep.fwt_us(14) + isodep.DELTA_FWT_US)
    want = isodep.fwt_us(14) + isodep.DELTA_FWT_US
    assert want <= fake.timer_us() < want + 1000


def test_wtx_is_capped_at_the_longest_fwt():
    card = SlowCard(UID4, key=KEY, ats=bytes.fromhex("0677777102 80".replace(" ", "")),
                    wtxm=59)
    fake, drv = rig(card)
    drv.select()
    drv.rats()
    drv.fwt_us = isodep.fwt_us(14) + isodep.DELTA_FWT_US    # as if the card said FWI 14
    seen = []
    real = drv.set_timeout
    drv.set_timeout = lambda us: (seen.append(us), real(us))  # type: ignore[method-assign]
    drv.exchange_apdu(b"\x00\xa4\x04\x0c\x07\xd2\x76\x00\x00\x85\x01\x01\x00")
    assert seen[0] == isodep.fwt_us(14) + isodep.DELTA_FWT_US        # not 59 x 4.9 s
