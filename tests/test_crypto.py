"""protocols.crypto: HMAC-SHA256 and HKDF-SHA256 match RFC vectors and `cryptography`."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as chmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.crypto import ct_equal, device_key, hkdf_sha256, hmac_sha256


def _ref_hmac(key: bytes, msg: bytes) -> bytes:
    h = chmac.HMAC(key, hashes.SHA256())
    h.update(msg)
    return h.finalize()


def _ref_hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt or None, info).derive(ikm)


# RFC 4231 section 4, HMAC-SHA-256 results (test case 5 is truncated output: skipped).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


@pytest.mark.parametrize("key,msg,want", RFC4231)
def test_hmac_rfc4231(key: bytes, msg: bytes, want: str) -> None:
    assert hmac_sha256(key, msg).hex() == want


# RFC 5869 appendix A, SHA-256 cases 1-3.
RFC5869 = [
    ("0b" * 22, "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
     "34007208d5b887185865"),
    ("".join("%02x" % i for i in range(0x00, 0x50)),
     "".join("%02x" % i for i in range(0x60, 0xB0)),
     "".join("%02x" % i for i in range(0xB0, 0x100)), 82,
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    ("0b" * 22, "", "", 42,
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
     "9d201395faa4b61a96c8"),
]


@pytest.mark.parametrize("ikm,salt,info,length,want", RFC5869)
def test_hkdf_rfc5869(ikm: str, salt: str, info: str, length: int, want: str) -> None:
    out = hkdf_sha256(bytes.fromhex(ikm), bytes.fromhex(salt), bytes.fromhex(info), length)
    assert out.hex() == want


@settings(max_examples=300, deadline=None)
@given(key=st.binary(max_size=200), msg=st.binary(max_size=600))
def test_hmac_equals_cryptography(key: bytes, msg: bytes) -> None:
    assert hmac_sha256(key, msg) == _ref_hmac(key, msg)


@settings(max_examples=200, deadline=None)
@given(ikm=st.binary(max_size=100), salt=st.binary(max_size=100), info=st.binary(max_size=100),
       length=st.integers(min_value=1, max_value=255 * 32))
def test_hkdf_equals_cryptography(ikm: bytes, salt: bytes, info: bytes, length: int) -> None:
    assert hkdf_sha256(ikm, salt, info, length) == _ref_hkdf(ikm, salt, info, length)


@settings(max_examples=100, deadline=None)
@given(master=st.binary(min_size=32, max_size=32),
       device=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                      min_size=1, max_size=32))
def test_device_key_is_hkdf_with_fixed_salt_and_info(master: bytes, device: str) -> None:
    want = _ref_hkdf(master, b"armlock/v1", b"device:" + device.encode(), 32)
    assert device_key(master, device) == want
    assert device_key(master, device.encode()) == want


def test_device_keys_differ_per_device_and_master() -> None:
    m = bytes(range(32))
    assert device_key(m, "LOCK-0001") != device_key(m, "LOCK-0002")
    assert device_key(m, "LOCK-0001") != device_key(bytes(32), "LOCK-0001")
    assert device_key(m, "LOCK-0001").hex() == (
        "5fe9b577794d42e291b975adc4aafd003e3405b293ddad6f920420eee0d4241c")


def test_hkdf_rejects_impossible_length() -> None:
    with pytest.raises(ValueError):
        hkdf_sha256(b"k", b"s", b"i", 255 * 32 + 1)


@given(a=st.binary(max_size=40), b=st.binary(max_size=40))
def test_ct_equal_matches_equality(a: bytes, b: bytes) -> None:
    assert ct_equal(a, b) == (a == b)
    assert ct_equal(a, a)
