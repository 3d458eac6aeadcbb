"""A captured lock yields nothing to its captor (issue 10).

A provisioned virtual board (the CPython twin of firmware/ports/virtual/main.py, the same
device application as the ESP32 port) is used: permits issued by the real authority tools
(key files, card keys wrapped to the device), a recall, a tamper reset, sealed commands.
Then the captor takes every byte the board stores (flash files: identity, state record,
audit log and its acknowledgement, everything in the storage directory) and tries each
stored string, and every key derivable from it, to forge a permit, a recall, a tamper
reset or a key update, for that device and for another one that trusts the same authority:
every attempt is refused. What the stolen material does give is stated in protocols/SPEC.md
("Secrets"): this board's own sealed commands and the card keys of its permits' holders;
the test checks that those card keys are exactly the holders' and no other device's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import types
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from armlock import authority
from armlock.authority import cards
from armlock.authority.signer import Signer
from firmware.core.controller import LockController
from firmware.drivers import cmac
from firmware.ports.virtual import main as virtual
from hardware import fastverify
from hardware.aes import Aes
from protocols import frame, p256, permit
from protocols import messages as m

T = 1_767_225_600
DEV = "AL-CAPT-01"
OTHER = "AL-CAPT-02"
UID = "04A1B2C3D4E5F6"
OTHER_UID = "04112233445566"


def _board(root: Path) -> types.SimpleNamespace:
    return types.SimpleNamespace(mode="rig", runtime="cpython", storage=str(root),
                                 reset_cause="power_on", set_rtc=lambda s: None,
                                 reset=lambda: None)


class Office:
    """The authority's key files in a temporary directory (armlock keys init)."""

    def __init__(self, root: Path) -> None:
        from typer.testing import CliRunner

        from armlock.cli import app
        root.mkdir()
        self.key = root / "master.key"
        assert CliRunner().invoke(app, ["keys", "init", "--key", str(self.key)]).exit_code == 0
        self.master = authority.load_master_key(self.key)
        self.signer = authority.signer_for(self.key)

    def permit(self, device: str, uids: list[str]) -> bytes:
        return authority.issue(self.key, dict(
            kind=permit.KIND_PERMIT, device_id=device, not_before=T - 60, not_after=T + 86400,
            fail_enabled=False, max_unlock_s=60, rule_mode=permit.MODE_ANY, factor_mask=3,
            k=1, window_s=30, holders=[(i + 1, (u,), (i + 3,)) for i, u in enumerate(uids)]))


def _send(app: virtual.App, typ: int, fields: dict, seq: int, key: bytes | None = None,
          counter: int = 0) -> list[tuple]:
    wire = m.encode_msg(typ, seq, fields, key, counter if key is not None else None)
    out = app.step(wire, 1000 + seq, T + seq)
    return [m.decode_msg(f) for f in frame.Decoder().feed(out)]


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("captured")
    office = Office(root / "office")
    storage = root / "board"
    storage.mkdir()
    dkey = authority.derive_device_key(office.master, DEV)
    from firmware.app.store import FileStore
    FileStore(str(storage)).save_identity(DEV, dkey, (office.signer.public,))
    app = virtual.App(_board(storage), 0, T)
    seq = 0

    def ok(typ: int, fields: dict, **kw: object) -> None:
        nonlocal seq
        seq += 1
        got = [r for r in _send(app, typ, fields, seq, **kw) if r[0] != m.EVENT]  # type: ignore[arg-type]
        assert got and got[0][0] == m.OK, got
    ok(m.LOAD_PERMIT, {"token": office.permit(DEV, [UID])})
    ok(m.RECALL, {"token": authority.issue_recall(office.key, DEV, T)})
    ok(m.LOAD_PERMIT, {"token": office.permit(DEV, [UID, OTHER_UID])})
    ok(m.TAMPER_RESET, {"token": authority.issue_reset(office.key, DEV, T)})
    ok(m.AUDIT_ACK, {"upto_seq": 2}, key=dkey, counter=1)
    files = {p.relative_to(storage).as_posix(): p.read_bytes()
             for p in sorted(storage.rglob("*")) if p.is_file()}
    assert any("identity" in n for n in files) and len(files) >= 3, list(files)
    return {"office": office, "files": files, "dkey": dkey}


# -- what the captor has ------------------------------------------------------------------

def _strings(files: dict[str, bytes]) -> list[bytes]:
    """Every stored string: whole files, JSON values (hex decoded too), hex runs, and every
    16- and 32-byte window of every file."""
    out: list[bytes] = []
    for data in files.values():
        out.append(data)
        for run in re.findall(rb"[0-9a-fA-F]{16,}", data):
            out.append(run)
            out.append(bytes.fromhex(run[:len(run) // 2 * 2].decode()))
        try:
            out.extend(_json_values(json.loads(data)))
        except (ValueError, UnicodeDecodeError):
            pass
        for size in (16, 32):
            out.extend(data[i:i + size] for i in range(0, max(len(data) - size + 1, 0)))
    return list(dict.fromkeys(s for s in out if s))


def _json_values(v: object) -> list[bytes]:
    if isinstance(v, dict):
        return [b for x in v.values() for b in _json_values(x)]
    if isinstance(v, list):
        return [b for x in v for b in _json_values(x)]
    return [str(v).encode()]


LABELS = [(b"armlock/v1", b"device:" + DEV.encode()), (b"armlock/v2", b"card-master"),
          (b"armlock/v2", b"card-wrap:" + DEV.encode()), (b"", b""), (b"armlock", b"authority")]


def _derived(s: bytes) -> list[bytes]:
    """Keys derivable from one stored string: itself, its SHA-256, HKDF with every label the
    project uses, HMAC-SHA256 of the device ids, AES-CMAC of the device ids."""
    out = [s, hashlib.sha256(s).digest()]
    for salt, info in LABELS:
        out.append(HKDF(hashes.SHA256(), 32, salt or None, info).derive(s))
    for d in (DEV, OTHER):
        out.append(hmac.new(s, d.encode(), hashlib.sha256).digest())
        if len(s) in (16, 24, 32):
            out.append(cmac.cmac(Aes, s[:16], d.encode()))
    return out


def _scalar_public(k: bytes) -> bytes | None:
    d = int.from_bytes(k, "big") % p256.N
    if not d:
        return None
    pub = ec.derive_private_key(d, ec.SECP256R1()).public_key()
    return pub.public_bytes(*_X962)


from cryptography.hazmat.primitives import serialization  # noqa: E402

_X962 = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def test_nothing_stored_is_or_derives_the_authority_signing_key(captured: dict) -> None:
    """Every stored string and every derivation of it, taken as a P-256 private scalar,
    gives a public key other than the authority's: no token the devices trust can be
    signed from the board's bytes (ECDSA: a valid signature needs that scalar)."""
    q = captured["office"].signer.public
    tried = 0
    for s in _strings(captured["files"]):
        for k in _derived(s):
            assert _scalar_public(k[:32]) != q
            tried += 1
    assert tried > 10_000


def _tokens(signer: object, device: str) -> list[bytes]:
    return [
        permit.encode(dict(kind=1, device_id=device, serial=100, not_before=T - 60,
                           not_after=T + 3600, fail_enabled=False, max_unlock_s=600,
                           rule_mode=0, factor_mask=1, k=1, window_s=0,
                           holders=[(9, ("04DEADBEEF0001",), ())]), signer),
        permit.encode(dict(kind=2, device_id=device, serial=101, not_before=T), signer),
        permit.encode(dict(kind=3, device_id=device, serial=102, not_before=T), signer),
        permit.encode(dict(kind=4, device_id=device, serial=103, not_before=T,
                           added=Signer(ec.generate_private_key(ec.SECP256R1())).public),
                      signer),
    ]


class _Impostor:
    """Signs with a scalar taken from the captor's material, naming the trusted key id."""

    def __init__(self, k: bytes, key_id: bytes) -> None:
        d = int.from_bytes(k[:32], "big") % p256.N or 1
        self.s = Signer(ec.derive_private_key(d, ec.SECP256R1()))
        self.key_id = key_id

    def sign(self, msg: bytes) -> bytes:
        return self.s.sign(msg)


class _MacSigner:
    """Puts an HMAC-SHA256 of the body (64 bytes: twice) where the signature goes."""

    def __init__(self, k: bytes, key_id: bytes) -> None:
        self.k, self.key_id = k, key_id

    def sign(self, msg: bytes) -> bytes:
        return hmac.new(self.k, msg, hashlib.sha256).digest() * 2


@pytest.mark.parametrize("device", [DEV, OTHER])
def test_tokens_forged_from_the_stored_keys_are_refused(captured: dict, device: str) -> None:
    """Forge a permit, recall, reset and key update with the board's own key and every
    key derived from the identity (as a P-256 scalar and as an HMAC key), for this board
    and another: the core refuses them all and nothing changes."""
    office = captured["office"]
    ident = json.loads(captured["files"]["identity.json"])
    material = [bytes.fromhex(ident["key"]), ident["device_id"].encode()] + \
        [bytes.fromhex(h) for h in ident["authority"]]
    keys = [k for s in material for k in _derived(s)]
    ctl = LockController(device, authority.derive_device_key(office.master, device),
                         authority=(office.signer.public,), verify=fastverify)
    ctl.handle(("boot", None, "power_on"), 0, T)
    before = ctl.status()
    refused = 0
    for k in keys:
        for signer in (_Impostor(k, office.signer.key_id), _MacSigner(k, office.signer.key_id)):
            for tok in _tokens(signer, device):
                res = [a for a in ctl.handle(("permit", tok), 10, T) if a[0] == "result"]
                assert res[0][1] is False, res
                refused += 1
    assert ctl.status()["permit"] is None and ctl.status()["trusted_keys"] == \
        before["trusted_keys"]
    assert refused == len(keys) * 8


def test_the_stored_card_keys_are_this_boards_holders_only(captured: dict) -> None:
    """What the captor does learn (SPEC "Secrets"): with the board's key, the card keys in
    permits for this board, i.e. its holders' NTAG 424 keys; no other card's key, and a
    permit for another board does not open with it."""
    office, dkey = captured["office"], captured["dkey"]
    blob = office.permit(DEV, [UID])
    p = permit.decode(blob, None)
    kwrap = cards.wrap_key(dkey, DEV)
    got = Aes(kwrap, 1).decrypt(p.card_keys[UID])
    assert got == cards.card_key(office.master, bytes.fromhex(UID))
    other = permit.decode(office.permit(OTHER, [UID]), None)
    assert other.card_keys[UID] != p.card_keys[UID]  # wrapped to that board only
    assert Aes(kwrap, 1).decrypt(other.card_keys[UID]) != got
