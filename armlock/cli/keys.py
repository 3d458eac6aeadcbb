"""`armlock keys`: create the authority master key and derive device keys for provisioning."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import typer

from armlock import authority
from armlock.authority.checks import check_device_id
from armlock.cli.common import UserError, console, friendly

app = typer.Typer(help="Authority master key and device keys.", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Print what was written as JSON.")
KEY_OPT = typer.Option(None, "--key", help="Master key file (default: $ARMLOCK_KEY, else "
                       "./armlock-master.key).")


def key_path(key: Path | None) -> Path:
    """The --key option, else the default key path."""
    return key if key is not None else authority.default_key_path()


def fingerprint(key: bytes) -> str:
    """A short public fingerprint of a key (never the key itself)."""
    return hashlib.sha256(b"armlock-key-fp" + key).hexdigest()[:16]


@app.command("init")
@friendly
def init(key: Path | None = KEY_OPT, as_json: bool = JSON_OPT) -> None:
    """Create a new master key file (32 random bytes, mode 0600). Never overwrites."""
    path = key_path(key)
    master = authority.create_master_key(path)
    if as_json:
        print(json.dumps({"file": str(path), "fingerprint": fingerprint(master)}))
        return
    console.print(f"created {path} (mode 0600, fingerprint {fingerprint(master)}); "
                  "keep it offline and backed up", highlight=False, soft_wrap=True)


@app.command("derive")
@friendly
def derive(
    device: str = typer.Option(..., "--device", help="Device id."),
    out: Path = typer.Option(..., "--out", help="File for the device key (hex, mode 0600)."),
    key: Path | None = KEY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Write one device's key (HKDF of the master key and device id) for provisioning."""
    check_device_id(device)
    master = authority.load_master_key(key_path(key))
    dkey = authority.derive_device_key(master, device)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UserError(f"{out}: exists; refusing to overwrite it") from None
    with os.fdopen(fd, "w") as f:
        f.write(dkey.hex() + "\n")
    if as_json:
        print(json.dumps({"file": str(out), "device_id": device,
                          "fingerprint": fingerprint(dkey)}))
        return
    console.print(f"wrote device key for {device} to {out} (fingerprint {fingerprint(dkey)})",
                  highlight=False, soft_wrap=True)
