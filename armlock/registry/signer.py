"""The one place the registry calls the authority: load its key, sign a token, name the key.

The registry allocates serials itself (`serials.py`); the authority signs the fields it
is given. When permits become ECDSA-signed, only this module follows the authority.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

# the authority's home until h3-office's move lands; then: from armlock import authority
# and armlock.authority.zones (same names)
from hardware import authority, geojson
from protocols import permit as P

AuthorityError = authority.AuthorityError
PermitError = P.PermitError
GeoJSONError = geojson.GeoJSONError
load_zones = geojson.load_all  # GeoJSON files -> permit zones
create_master_key = authority.create_master_key
default_key_path = authority.default_key_path
inspect = authority.inspect  # verify and describe a token
iso = authority.iso  # UTC seconds -> ISO 8601


class Signer:
    """The authority's signing key for the registry's tokens."""

    def __init__(self, key_path: Path) -> None:
        self.key_path = Path(key_path)
        self._master = authority.load_master_key(self.key_path)
        self.key_id = hashlib.sha256(b"armlock/key-id:" + self._master).hexdigest()[:16]

    def device_key(self, device_id: str) -> bytes:
        """The key a device verifies tokens with (and seals commands with)."""
        return authority.derive_device_key(self._master, device_id)

    def sign(self, fields: dict[str, Any]) -> bytes:
        """A token for fields["device_id"] with the serial in `fields` (PermitError if bad)."""
        return P.encode(fields, self.device_key(fields["device_id"]))

    def ledger_floor(self, device_id: str) -> int:
        """The last serial the authority's ledger file issued to this device (0 if none)."""
        return authority.read_ledger(self.key_path).get(device_id, 0)
