"""The authority's key files: the master secret and the P-256 signing key next to it.

- The master key (32 random bytes, hex, mode 0600) never leaves the key file. Each device
  gets its own key derived from it with HKDF (``cryptography``, equal to
  ``protocols.crypto.device_key``): it seals the device's rig commands and derives the key
  that wraps card keys to that device. The card master (AN10922, one AES key per card)
  is derived from it too and never leaves the authority.
- The signing key (``<master>.signing.pem``, P-256 PKCS#8, hardware/signing.py) signs
  every token; devices hold only its public point (firmware/app/identity.py).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocols.crypto import DEVICE_KEY_INFO, DEVICE_KEY_SALT

KEY_ENV = "ARMLOCK_KEY"
DEFAULT_KEY_FILE = "armlock-master.key"
KEY_LEN = 32


class AuthorityError(ValueError):
    """A key, ledger or token problem the user can fix (one-line message)."""


def default_key_path() -> Path:
    """$ARMLOCK_KEY, else ./armlock-master.key."""
    return Path(os.environ.get(KEY_ENV) or DEFAULT_KEY_FILE)


def create_master_key(path: Path) -> bytes:
    """Write 32 random bytes as hex to a new file of mode 0600; never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.is_dir():
            raise AuthorityError(f"{path}: is a directory; give a file name for the new "
                                 "key") from None
        raise AuthorityError(f"{path}: key file exists; refusing to overwrite it") from None
    except OSError as exc:
        raise AuthorityError(f"{path}: cannot create key file ({exc.strerror})") from None
    key = secrets.token_bytes(KEY_LEN)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(key.hex() + "\n")
    return key


def load_master_key(path: Path) -> bytes:
    """Read the master key; refuse a file that group or others can read or write."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AuthorityError(
            f"{path}: no key file (create one with `armlock keys init`, or set {KEY_ENV})"
        ) from None
    except OSError as exc:
        raise AuthorityError(f"{path}: cannot read the key file ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise AuthorityError(f"{path}: is {what}, expected a key file (64 hex digits, from "
                             "`armlock keys init`)")
    if st.st_mode & 0o077:
        raise AuthorityError(
            f"{path}: key file is accessible by group/others (mode {stat.S_IMODE(st.st_mode):04o});"
            f" run: chmod 600 {path}"
        )
    try:
        text = path.read_bytes().decode("ascii").strip()
        key = bytes.fromhex(text)
    except OSError as exc:
        raise AuthorityError(f"{path}: cannot read the key file ({exc.strerror})") from None
    except ValueError:
        raise AuthorityError(f"{path}: key file is not hex (expected 64 hex digits, from "
                             "`armlock keys init`)") from None
    if len(key) != KEY_LEN:
        raise AuthorityError(f"{path}: key is {len(key)} bytes, need {KEY_LEN}")
    return key


def create_keys(master_path: Path) -> None:
    """The master key and the signing key next to it, each created if absent."""
    from hardware import signing
    if not master_path.exists():
        create_master_key(master_path)
    spath = signing_key_path(master_path)
    if not spath.exists():
        signing.save(signing.generate(), spath)


def signing_key_path(master_path: Path) -> Path:
    """The signing key file that belongs to a master key file."""
    return master_path.with_name(master_path.stem + ".signing.pem")


def card_master(master: bytes) -> bytes:
    """The AN10922 card master (16 bytes): HKDF(master, "armlock/v2", "card-master")."""
    hkdf = HKDF(hashes.SHA256(), 16, b"armlock/v2", b"card-master")
    return hkdf.derive(master)


def derive_device_key(master: bytes, device_id: str) -> bytes:
    """HKDF-SHA256(master, salt b"armlock/v1", info b"device:" + id), with `cryptography`."""
    hkdf = HKDF(hashes.SHA256(), 32, DEVICE_KEY_SALT, DEVICE_KEY_INFO + device_id.encode())
    return hkdf.derive(master)


