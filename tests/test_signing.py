"""hardware.signing: authority P-256 keys on the host, checked by the device's verifier."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hardware import signing
from protocols import p256


def test_device_verifies_what_the_host_signs() -> None:
    key = signing.generate()
    sig = signing.sign(key, b"token body")
    assert len(sig) == 64
    dev = p256.PublicKey(signing.public_bytes(key))
    assert p256.verify(dev, b"token body", sig)
    assert not p256.verify(dev, b"token bodY", sig)
    assert dev.id == signing.key_id(key) == p256.key_id(signing.public_bytes(key))
    assert signing.verify(signing.public_bytes(key), b"token body", sig)
    assert not signing.verify(signing.public_bytes(key), b"token body", sig[:-1])


def test_save_is_0600_and_load_round_trips(tmp_path: Path) -> None:
    key = signing.generate()
    path = tmp_path / "authority.pem"
    signing.save(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing.key_id(signing.load(path)) == signing.key_id(key)


def test_save_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "authority.pem"
    signing.save(signing.generate(), path)
    before = path.read_bytes()
    with pytest.raises(signing.SigningError, match="refusing to overwrite"):
        signing.save(signing.generate(), path)
    assert path.read_bytes() == before


def test_load_refuses_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "authority.pem"
    signing.save(signing.generate(), path)
    path.chmod(0o644)
    with pytest.raises(signing.SigningError, match="chmod 600"):
        signing.load(path)


def test_passphrase_protects_the_file(tmp_path: Path) -> None:
    key = signing.generate()
    path = tmp_path / "authority.pem"
    signing.save(key, path, passphrase=b"correct horse")
    assert b"ENCRYPTED" in path.read_bytes()
    with pytest.raises(signing.SigningError):
        signing.load(path)
    assert signing.key_id(signing.load(path, b"correct horse")) == signing.key_id(key)


def test_load_refuses_another_curve(tmp_path: Path) -> None:
    path = tmp_path / "p384.pem"
    path.write_bytes(ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    path.chmod(0o600)
    with pytest.raises(signing.SigningError, match="P-256"):
        signing.load(path)
