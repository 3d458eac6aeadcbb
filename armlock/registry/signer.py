"""The one place the registry calls the authority: load its keys, sign a token, name the key.

The registry allocates serials itself (`serials.py`); the authority signs the fields it
is given with its P-256 signing key (`armlock.authority.signer_for`) and wraps holders'
card keys to the device (`armlock.authority.cards.wrap_holders`). Permits pass the
authority's desk checks (`checks.py`: holders, validity, rule, zones, frame size) first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from armlock import authority
from armlock.authority import checks
from armlock.authority import zones as geojson
from armlock.authority.cards import wrap_holders
from armlock.authority.desk import check_token
from armlock.authority.signer import load_signer
from hardware.signing import SigningError
from protocols import permit as P

AuthorityError = authority.AuthorityError
PermitError = P.PermitError
GeoJSONError = geojson.GeoJSONError
load_zones = geojson.load_all  # GeoJSON files -> permit zones
create_master_key = authority.create_keys  # the master key and its signing key
default_key_path = authority.default_key_path
inspect = authority.inspect  # verify and describe a token
iso = authority.iso  # UTC seconds -> ISO 8601


class Signer:
    """The authority's keys for the registry's tokens: the master key (device keys, card
    keys) and a P-256 signing key (default: the one next to the master key file)."""

    def __init__(self, key_path: Path, signing_key: Path | None = None) -> None:
        self.key_path = Path(key_path)
        self._master = authority.load_master_key(self.key_path)
        if signing_key is None:
            self._signer = authority.signer_for(self.key_path)
        else:
            try:
                self._signer = load_signer(Path(signing_key))
            except SigningError as exc:
                raise AuthorityError(str(exc)) from None
        self.public = self._signer.public  # the 65-byte point devices verify with
        self.key_id = self._signer.key_id.hex()

    def device_key(self, device_id: str) -> bytes:
        """The device's own key (it seals the device's commands and wraps its card keys)."""
        return authority.derive_device_key(self._master, device_id)

    def sign(self, fields: dict[str, Any]) -> bytes:
        """A token for fields["device_id"] with the serial in `fields` (PermitError if bad);
        permits are checked at the desk first (AuthorityError naming the problem)."""
        if fields.get("kind") == P.KIND_PERMIT:
            _desk_checks(fields)
        if fields.get("holders"):
            fields = dict(fields, holders=wrap_holders(self._master, fields["device_id"],
                                                       list(fields["holders"])))
        return P.encode(fields, self._signer)

    def ledger_floor(self, device_id: str) -> int:
        """The last serial the authority's ledger file issued to this device (0 if none)."""
        return authority.read_ledger(self.key_path).get(device_id, 0)


def _desk_checks(fields: dict[str, Any]) -> None:
    """The authority desk's checks of a permit that do not depend on the issuing clock
    (the registry sets validity from its shift): holders, factor rule, zones as the
    device checks them, and that the token fits the device's frame."""
    checks.check_device_id(fields["device_id"], "device")
    checks.check_holders(list(fields.get("holders") or []))
    check_token(fields, "the shift's factor rule")
