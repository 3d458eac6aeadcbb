"""`armlock keys`: create the authority's keys (master secret and P-256 signing key), show
the public key devices trust, and derive device keys for provisioning."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import typer

from armlock import authority
from armlock.authority.checks import check_device_id
from armlock.cli.common import UserError, console, friendly
from hardware import signing

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
    """Create the master key file (32 random bytes, mode 0600) and the P-256 signing key
    next to it (<name>.signing.pem, mode 0600). Never overwrites; with a master key and no
    signing key, creates only the signing key."""
    path = key_path(key)
    spath = authority.signing_key_path(path)
    made = []
    if not path.exists() or path.is_dir():
        master = authority.create_master_key(path)
        made.append(str(path))
    else:
        master = authority.load_master_key(path)
    if spath.exists():
        if not made:
            raise UserError(f"{path} and {spath} exist; refusing to overwrite them")
        raise UserError(f"{spath}: signing key file exists; refusing to overwrite it")
    sk = signing.generate()
    signing.save(sk, spath)
    made.append(str(spath))
    kid = signing.key_id(sk).hex()
    if as_json:
        print(json.dumps({"file": str(path), "signing_key": str(spath), "key_id": kid,
                          "public": signing.public_bytes(sk).hex(), "created": made,
                          "fingerprint": fingerprint(master)}))
        return
    console.print(f"created {', '.join(made)} (mode 0600; master fingerprint "
                  f"{fingerprint(master)}, signing key id {kid}); keep them offline and "
                  "backed up", highlight=False, soft_wrap=True)


@app.command("public")
@friendly
def public(key: Path | None = KEY_OPT, as_json: bool = JSON_OPT) -> None:
    """Show the signing key's public point and key id (what devices are provisioned to
    trust; not secret)."""
    signer = authority.signer_for(key_path(key))
    if as_json:
        print(json.dumps({"key_id": signer.key_id.hex(), "public": signer.public.hex()}))
        return
    console.print(f"key id {signer.key_id.hex()}\npublic {signer.public.hex()}",
                  highlight=False, soft_wrap=True)


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
