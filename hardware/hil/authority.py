"""The authority for the board under test: permits, recalls and resets signed with a
master key in tmp (armlock.authority does the signing)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from armlock import authority as auth
from armlock.authority.signer import Signer
from hardware import signing
from hardware.client import DeviceClient
from hardware.hil.places import HOLDER1, HOLDER2, standard_zones
from hardware.link.base import DeviceError
from protocols import permit as P


class Authority:
    """Issues tokens for the board under test with armlock.authority (key file in tmp)."""

    def __init__(self, key_path: Path, clock: Callable[[], int] | None = None) -> None:
        self.key_path = key_path
        self.master = auth.load_master_key(key_path)
        self.device_id = ""
        self.device_key = b""
        self.clock = clock or (lambda: int(time.time()))

    @classmethod
    def create(cls, folder: Path, master: bytes | None = None,
               signer: Signer | None = None) -> Authority:
        """A new authority in `folder`: a fresh master key and signing key, or the given
        ones (an attached board's: the board already trusts that signer)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "master.key"
        if master is not None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(master.hex() + "\n")
        if signer is not None:
            signing.save(signer.key, auth.signing_key_path(path))
        auth.create_keys(path)
        return cls(path)

    def bind(self, device_id: str) -> Authority:
        """Issue for `device_id` from now on."""
        self.device_id = device_id
        self.device_key = auth.derive_device_key(self.master, device_id)
        return self

    def identity(self) -> tuple[str, bytes, tuple[bytes, ...]]:
        """(device_id, device key, trusted authority keys) to provision a board with."""
        return self.device_id, self.device_key, (auth.signer_for(self.key_path).public,)

    def fields(self, **overrides: Any) -> dict[str, Any]:
        """The default permit's fields, changed by `overrides`.

        Defaults: valid from 60 s ago for 15 min (board clock), fail-secure, RFID and
        fingerprint both needed within 10 s, holders HOLDER1 and HOLDER2, standard zones,
        unlock for at most 60 s. Shortcuts: valid_for=s, starts_in=s (not_before = now+s),
        factors=("rfid",) / ("finger",) / both, rule="all"|"any"|k.
        """
        now = self.clock()
        starts_in = overrides.pop("starts_in", -60)
        valid_for = overrides.pop("valid_for", 900)
        factors = overrides.pop("factors", ("rfid", "finger"))
        rule = overrides.pop("rule", "all")
        if isinstance(rule, int):  # k of the factors
            mode, mask, k = P.factor_rule("k-of-n", list(factors), rule)
        else:
            mode, mask, k = P.factor_rule(rule, list(factors))
        holders = [(h, [c] if mask & P.F_RFID else [], [t] if mask & P.F_FINGER else [])
                   for h, c, t in (HOLDER1, HOLDER2)]
        f: dict[str, Any] = {
            "kind": P.KIND_PERMIT, "device_id": self.device_id,
            "not_before": now + starts_in, "not_after": now + starts_in + valid_for,
            "fail_enabled": False, "max_unlock_s": 60, "rule_mode": mode,
            "factor_mask": mask, "k": k, "window_s": 10, "holders": holders,
            "zones": standard_zones(),
        }
        f.update(overrides)
        return f

    def permit(self, **overrides: Any) -> bytes:
        """A permit token (see `fields` for defaults and shortcuts)."""
        return auth.issue(self.key_path, self.fields(**overrides))

    def recall(self) -> bytes:
        """A recall token."""
        return auth.issue_recall(self.key_path, self.device_id, self.clock())

    def reset(self) -> bytes:
        """An authority tamper-reset token (also clears lockouts)."""
        return auth.issue_reset(self.key_path, self.device_id, self.clock())

    def forged(self, **overrides: Any) -> bytes:
        """A well-formed permit signed by a rogue P-256 key that claims the key id of the
        authority the board trusts (its signature does not verify)."""
        fields = dict(self.fields(**overrides), serial=auth.next_serial(self.key_path,
                                                                        self.device_id))
        rogue = Signer(signing.generate())
        rogue.key_id = auth.signer_for(self.key_path).key_id
        return P.encode(fields, rogue)

    def skip_serials(self, floor: int) -> None:
        """Make the next serial larger than `floor` (a board that saw other authorities)."""
        path = auth.ledger_path(self.key_path)
        ledger = auth.read_ledger(self.key_path)
        if ledger.get(self.device_id, 0) < floor:
            ledger[self.device_id] = floor
            path.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n")


_REPLAYED = re.compile(r"serial \d+ <= (\d+)")


def apply_token(client: DeviceClient, authority: Authority, make: Callable[[], bytes],
                send: Callable[[bytes], None]) -> None:
    """Send a fresh token; if the board has seen higher serials, skip past them once."""
    try:
        send(make())
    except DeviceError as exc:
        m = _REPLAYED.search(exc.message)
        if m is None:
            raise
        authority.skip_serials(int(m.group(1)))
        send(make())
