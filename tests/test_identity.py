"""firmware/app/identity.py: one policy for unprovisioned boards, one identity file format,
the same on the virtual board and the ESP32 port."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from armlock.authority.signer import dev_signer, from_seed
from firmware.app import identity
from firmware.app.store import FileStore
from firmware.ports.virtual import main as virtual
from protocols import crypto, frame
from protocols import messages as m
from tests.conftest import any_time_permit

AUTH = from_seed(b"identity test authority")
STORED = ("AL-0007", bytes(range(1, 33)), (AUTH.public,))


@pytest.mark.parametrize("mode", ["dev", "rig", "production"])
def test_a_provisioned_board_uses_its_identity_in_every_mode(mode: str) -> None:
    assert identity.resolve(mode, STORED) == STORED


def test_unprovisioned_dev_board_takes_the_public_dev_identity() -> None:
    dev_id, key, auth = identity.resolve("dev", None)
    assert dev_id == identity.DEV_DEVICE_ID
    assert key == crypto.device_key(identity.DEV_MASTER, dev_id)
    assert auth == (identity.DEV_AUTHORITY,) == (dev_signer().public,)


def test_an_identity_stored_without_authority_keys_trusts_none() -> None:
    """An identity file from before signed tokens: the board trusts no key until it is
    provisioned again (every token refused, saying so)."""
    assert identity.resolve("production", STORED[:2]) == STORED[:2] + ((),)
    data = b'{"device_id": "AL-0007", "key": "%s"}' % (b"01" * 32)
    assert identity.decode(data)[2] == ()


@pytest.mark.parametrize("mode", ["rig", "production", "field"])
def test_unprovisioned_production_or_rig_board_has_no_identity(mode: str) -> None:
    assert identity.resolve(mode, None) == (identity.UNPROVISIONED, None, ())


def test_identity_file_round_trips_and_refuses_damage() -> None:
    data = identity.encode(*STORED)
    assert identity.decode(data) == STORED
    for bad, words in ((b"{", "damaged"), (b'{"device_id": "A"}', "damaged"),
                       (b'{"device_id": "A", "key": "00"}', "32-byte"),
                       (b'{"device_id": "", "key": "%s"}' % (b"00" * 32), "1..64"),
                       (b'{"device_id": "A", "key": "%s", "authority": ["04"]}' % (b"00" * 32),
                        "65-byte")):
        with pytest.raises(ValueError, match=words):
            identity.decode(bad)
    with pytest.raises(ValueError):
        identity.encode("x" * 65, STORED[1])


def _board(tmp: Path, mode: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(mode=mode, runtime="cpython", storage=str(tmp),
                                 reset_cause="power_on", set_rtc=lambda s: None,
                                 reset=lambda: None)


def _load(app: virtual.App, token: bytes) -> list[tuple]:
    out = app.step(m.encode_msg(m.LOAD_PERMIT, 1, {"token": token}), 1000, 1_767_225_600)
    return [m.decode_msg(f) for f in frame.Decoder().feed(out)]


def _dev_permit() -> bytes:
    return any_time_permit(identity.dev_identity()[0], dev_signer())


def test_production_virtual_board_without_identity_refuses_dev_permits(tmp_path: Path) -> None:
    """It used to take the development identity in any mode, so production HIL runs
    accepted development permits; now it does what a production ESP32 does."""
    app = virtual.App(_board(tmp_path, "production"), 0, 1_767_225_600)
    assert app.dev.device_id == identity.UNPROVISIONED
    replies = [r for r in _load(app, _dev_permit()) if r[0] != m.EVENT]
    assert replies == [(m.ERROR, 1, {"code": m.E_REFUSED,
                                     "message": "device not provisioned"})]
    assert app.dev.locked


def test_dev_virtual_board_without_identity_accepts_dev_permits(tmp_path: Path) -> None:
    app = virtual.App(_board(tmp_path, "dev"), 0, 1_767_225_600)
    assert [r[0] for r in _load(app, _dev_permit()) if r[0] != m.EVENT] == [m.OK]


def test_virtual_board_reads_the_identity_file_both_ports_write(tmp_path: Path) -> None:
    FileStore(str(tmp_path)).save_identity(*STORED)
    assert (tmp_path / identity.FILE).read_bytes() == identity.encode(*STORED)
    app = virtual.App(_board(tmp_path, "production"), 0, 1_767_225_600)
    assert (app.dev.device_id, app.dev.key) == STORED[:2]
