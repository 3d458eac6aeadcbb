"""hardware/fastverify.py (the host verifier on ``cryptography``) decides exactly as
protocols/p256.py: the same result on every NIST CAVP case and on mutated tokens, so a
host that injects it (LockController(..., verify=fastverify)) runs the same lock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_p256 import CAVP, _bad_sigs

from armlock.authority.signer import from_seed
from hardware import fastverify
from protocols import p256
from protocols import permit as P


def _both(key_hex: str, msg_hex: str, sig_hex: str) -> tuple[object, object]:
    out = []
    for v in (p256, fastverify):
        try:
            out.append(v.verify(v.PublicKey(bytes.fromhex(key_hex)), bytes.fromhex(msg_hex),
                                bytes.fromhex(sig_hex)))
        except p256.P256Error:
            out.append("error")
    return out[0], out[1]


@pytest.mark.parametrize("key,msg,sig,ok", CAVP, ids=[f"cavp{i}" for i in range(len(CAVP))])
def test_same_result_on_every_cavp_case(key: str, msg: str, sig: str, ok: bool) -> None:
    a, b = _both(key, msg, sig)
    assert a == b
    assert a == ok or (a == "error" and not ok)


@pytest.mark.parametrize("what,sig", _bad_sigs())
def test_same_refusal_of_malformed_signatures(what: str, sig: str) -> None:
    key, msg = CAVP[0][0], CAVP[0][1]
    assert _both(key, msg, sig) == ("error", "error")


AUTH = from_seed(b"fastverify test authority")
TOKEN = P.encode(dict(kind=1, device_id="AL-1", serial=3, not_before=1, not_after=99,
                      fail_enabled=False, max_unlock_s=60, rule_mode=0, factor_mask=1, k=1,
                      window_s=0, holders=[(1, ("04A1B2C3D4E5F6",), ())]), AUTH)


@settings(max_examples=200, deadline=None)
@given(pos=st.integers(0, len(TOKEN) - 1), bit=st.integers(0, 7))
def test_same_decision_on_mutated_tokens(pos: int, bit: int) -> None:
    b = bytearray(TOKEN)
    b[pos] ^= 1 << bit
    got = []
    for v in (p256, fastverify):
        try:
            got.append(P.decode(bytes(b), {AUTH.key_id: v.PublicKey(AUTH.public)}, v.verify).serial)
        except P.PermitError as exc:
            got.append(str(exc))
    assert got[0] == got[1]
    assert isinstance(got[0], str)  # and every mutation is refused
