"""`armlock registry ...`: a typer sub-app over the registry workflows (no lock rule here).

`armlock registry demo` runs the whole cycle against virtual boards.
Common options come before the command: `--db URL` (default $ARMLOCK_REGISTRY or
./armlock-registry.db), `--key FILE` (the authority key; default $ARMLOCK_KEY or
./armlock-master.key), `--signing-key FILE` (default: the one next to it), `--actor NAME`
(who is acting; default the login name).
"""

from __future__ import annotations

import functools
import getpass
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from armlock.registry.signer import Signer

# The workflow modules (SQLAlchemy, Alembic, the authority) are imported inside the
# commands: `armlock --help` and every other command start without them.

app = typer.Typer(help="The armoury registry: weapons, locks, holders, shifts, docks, traces.",
                  no_args_is_help=True, add_completion=False)
weapon_app = typer.Typer(help="Weapons and their markings.", no_args_is_help=True)
device_app = typer.Typer(help="Lock devices.", no_args_is_help=True)
holder_app = typer.Typer(help="Holders and their credentials.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
app.add_typer(weapon_app, name="weapon")
app.add_typer(device_app, name="device")
app.add_typer(holder_app, name="holder")
app.add_typer(user_app, name="user")
console = Console()
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Ctx:
    url: str | None
    key_file: Path | None
    actor: str
    signing_key: Path | None = None

    @property
    def key(self) -> Path:
        from armlock.registry.signer import default_key_path

        return self.key_file or default_key_path()

    def factory(self) -> Any:
        from armlock.registry import db

        engine = db.connect(self.url)
        if not db.is_initialised(engine):
            raise db.RegistryError(f"{engine.url}: no registry here yet (armlock registry init)")
        return db.sessions(engine)

    def signer(self) -> Signer:
        from armlock.registry.signer import Signer

        return Signer(self.key, self.signing_key)


def friendly(fn: F) -> F:
    """One line on stderr and exit 2 for errors the user can fix."""
    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        from armlock.registry.db import RegistryError
        from armlock.registry.signer import AuthorityError, GeoJSONError

        try:
            return fn(*a, **kw)
        except (RegistryError, AuthorityError, GeoJSONError, OSError) as exc:
            Console(stderr=True).print(f"error: {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    return wrapper  # type: ignore[return-value]


@app.callback()
def main(ctx: typer.Context,
         url: str = typer.Option(None, "--db", help="Database URL (sqlite:///FILE or "
                                 "postgresql://...)."),
         key: Path = typer.Option(None, "--key", help="Authority key file."),
         actor: str = typer.Option(None, "--actor", help="Who is acting (recorded)."),
         signing_key: Path = typer.Option(None, "--signing-key", help="Signing key file "
                                          "(default: the one next to the authority key).")
         ) -> None:
    ctx.obj = Ctx(url, key, actor or getpass.getuser(), signing_key)


def _obj(ctx: typer.Context) -> Ctx:
    return ctx.obj  # type: ignore[no-any-return]


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


@app.command("init")
@friendly
def init(ctx: typer.Context) -> None:
    """Create the registry (or upgrade its schema to this version)."""
    from armlock.registry import db

    c = _obj(ctx)
    engine = db.connect(c.url)
    db.init(engine)
    _say(f"registry ready at {engine.url.render_as_string(hide_password=True)}")


@weapon_app.command("add")
@friendly
def weapon_add(ctx: typer.Context,
               serial: str = typer.Option(..., "--serial", help="Serial number marked."),
               manufacturer: str = typer.Option(..., "--manufacturer"),
               model: str = typer.Option(..., "--model"),
               kind: str = typer.Option(..., "--type", help="rifle, pistol, ..."),
               calibre: str = typer.Option(..., "--calibre"),
               country: str = typer.Option(..., "--country", help="Country of manufacture."),
               year: int = typer.Option(None, "--year"),
               import_marking: str = typer.Option(None, "--import-marking"),
               obliterated: bool = typer.Option(False, "--obliterated",
                                                help="Markings obliterated or altered."),
               device: str = typer.Option(None, "--device", help="Lock bound to it.")) -> None:
    """Record a weapon's markings and bind it to its lock."""
    from armlock.registry import db
    from armlock.registry import records as R

    c = _obj(ctx)
    with db.transaction(c.factory()) as s:
        w = R.add_weapon(s, c.actor, manufacturer=manufacturer, model=model, type=kind,
                         calibre=calibre, serial_number=serial, country=country, year=year,
                         import_marking=import_marking, obliterated=obliterated,
                         device_id=device)
    _say(f"weapon {w.id}: {manufacturer} {model} {serial}" + (f" on {device}" if device else ""))


@weapon_app.command("report-loss")
@friendly
def weapon_report_loss(ctx: typer.Context, serial: str = typer.Argument(...),
                       stolen: bool = typer.Option(False, "--stolen", help="Theft, not loss."),
                       hours_ago: float = typer.Option(0.0, "--discovered-hours-ago"),
                       note: str = typer.Option(None, "--note")) -> None:
    """Report a weapon lost or stolen: raises an alert and recalls its lock."""
    from armlock.registry import db
    from armlock.registry import records as R
    from armlock.registry.status import report_loss

    c = _obj(ctx)
    with db.transaction(c.factory()) as s:
        w = R.find_weapon(s, serial)
        at = R.now_s()
        row = report_loss(s, c.signer(), c.actor, w, "stolen" if stolen else "lost",
                          at - int(hours_ago * 3600), note, at)
    _say(f"{serial} recorded {row.status}; recall token {row.token_id or '(no lock)'}")


@device_app.command("enrol")
@friendly
def device_enrol(ctx: typer.Context, device: str = typer.Argument(...),
                 board: str = typer.Option("esp32-devkitc", "--board"),
                 manifest_hash: str = typer.Option(..., "--manifest-hash",
                                                   help="SHA-256 of the firmware manifest."),
                 key_id: list[str] = typer.Option(None, "--key-id", help="Trusted authority "
                                                  "key id (default: this authority's)."),
                 dock_every_h: int = typer.Option(24, "--dock-every-h")) -> None:
    """Enrol a provisioned lock (serials continue above the old ledger file's)."""
    from armlock.registry import db
    from armlock.registry import records as R

    c = _obj(ctx)
    signer = c.signer()
    with db.transaction(c.factory()) as s:
        d = R.enrol_device(s, c.actor, device, board, manifest_hash, key_id or [signer.key_id],
                           signer.ledger_floor(device), dock_every_h)
    _say(f"device {device} enrolled; next serial {d.last_serial + 1}")


@holder_app.command("add")
@friendly
def holder_add(ctx: typer.Context, service_number: str = typer.Argument(...),
               name: str = typer.Option(..., "--name"), unit: str = typer.Option(None, "--unit"),
               holder_id: int = typer.Option(None, "--id", help="Holder id in permits.")) -> None:
    """Add a holder."""
    from armlock.registry import db
    from armlock.registry import records as R

    c = _obj(ctx)
    with db.transaction(c.factory()) as s:
        h = R.add_holder(s, c.actor, service_number, name, unit, holder_id)
    _say(f"holder {h.id}: {service_number} {name}")


@holder_app.command("enrol-card")
@friendly
def holder_enrol_card(ctx: typer.Context, service_number: str = typer.Argument(...),
                      uid: str = typer.Argument(..., help="Card UID (hex)."),
                      key_ref: str = typer.Option(None, "--key-ref")) -> None:
    """Give a holder an RFID card."""
    from armlock.registry import db
    from armlock.registry import records as R

    c = _obj(ctx)
    with db.transaction(c.factory()) as s:
        card = R.enrol_card(s, c.actor, service_number, uid, key_ref)
    _say(f"card {card.uid} enrolled for {service_number}")


@holder_app.command("enrol-finger")
@friendly
def holder_enrol_finger(ctx: typer.Context, service_number: str = typer.Argument(...),
                        device: str = typer.Option(..., "--device"),
                        template: int = typer.Option(..., "--template",
                                                     help="Slot on that lock's sensor.")) -> None:
    """Record a holder's fingerprint template on one lock."""
    from armlock.registry import db
    from armlock.registry import records as R

    c = _obj(ctx)
    with db.transaction(c.factory()) as s:
        R.enrol_finger(s, c.actor, service_number, device, template)
    _say(f"finger template {template} on {device} enrolled for {service_number}")


@user_app.command("add")
@friendly
def user_add(ctx: typer.Context, username: str = typer.Argument(...),
             role: str = typer.Option("armourer", "--role", help="armourer | auditor"),
             password: str = typer.Option(..., "--password", prompt=True, hide_input=True,
                                          confirmation_prompt=True)) -> None:
    """Add a dashboard user."""
    from armlock.registry import db
    from armlock.registry.web.auth import add_user

    c = _obj(ctx)
    with db.transaction(c.factory()) as s:
        add_user(s, c.actor, username, role, password)
    _say(f"user {username} ({role}) added")


@app.command("issue-shift")
@friendly
def issue_shift_cmd(ctx: typer.Context,
                    roster: Path = typer.Option(..., "--roster", help="CSV: holder,weapon."),
                    name: str = typer.Option("shift", "--name"),
                    hours: float = typer.Option(8.0, "--hours"),
                    zone: list[Path] = typer.Option(None, "--zone", help="GeoJSON (repeatable)."),
                    rule: str = typer.Option("all", "--rule", help="all | any | k-of-n"),
                    k: int = typer.Option(None, "--k", help="K for --rule k-of-n."),
                    factors: str = typer.Option("rfid,finger", "--factors"),
                    fail_enabled: bool = typer.Option(False, "--fail-enabled")) -> None:
    """Issue the shift's permits for everyone on the roster, in one transaction."""
    from armlock.registry import db
    from armlock.registry.shift import ShiftSpec, issue_shift, read_roster
    from armlock.registry.signer import iso, load_zones

    c = _obj(ctx)
    spec = ShiftSpec(name, hours, zones=load_zones(zone or []), rule=rule, k=k,
                     factors=tuple(f.strip() for f in factors.split(",") if f.strip()),
                     fail_enabled=fail_enabled)
    rows = read_roster(roster.read_text())
    with db.transaction(c.factory()) as s:
        shift, toks = issue_shift(s, c.signer(), c.actor, rows, spec)
    _say(f"shift {shift.id} {name!r}: {len(toks)} permit(s), {iso(shift.not_before)} to "
         f"{iso(shift.not_after)}")
    for t in toks:
        for note in t.notes:
            _say(f"warning: {note}")


@app.command("key-update")
@friendly
def key_update(ctx: typer.Context,
               device: list[str] = typer.Argument(..., help="Lock device ids."),
               add: Path = typer.Option(..., "--add", help="The new signing key (P-256 PEM "
                                        "private key file) the locks will trust."),
               revoke: str = typer.Option(None, "--revoke", help="Key id (16 hex digits) "
                                          "they stop trusting (default: none).")) -> None:
    """Rotate the authority key: key-update tokens signed by the current key, delivered at
    the next dock (then sign with the new key: --signing-key or replace the key file)."""
    from armlock.registry import db
    from armlock.registry.signer import Signer
    from armlock.registry.tokens import issue_key_update

    c = _obj(ctx)
    new = Signer(c.key, add)
    with db.transaction(c.factory()) as s:
        toks = [issue_key_update(s, c.signer(), c.actor, d, new.public, revoke) for d in device]
    for t in toks:
        _say(f"{t.device_id}: key update serial {t.serial}: {t.reason}")


@app.command("dock")
@friendly
def dock(ctx: typer.Context,
         port: list[str] = typer.Option(..., "--port", help="Serial/pty/ble:ADDR (repeatable)."),
         counters: Path = typer.Option(None, "--counters", help="Folder of per-lock "
                                       "sealed-command counter files.")
         ) -> None:
    """Dock locks: deliver their tokens, pull and verify their audit, then acknowledge."""
    from armlock.registry.dock import dock_all

    c = _obj(ctx)
    results = dock_all(c.factory(), c.signer(), port, c.actor, counters=counters)
    for r in results:
        if r.error:
            _say(f"{r.port}: FAILED {r.error}")
            continue
        ing = r.ingest
        assert ing is not None
        state = "accepted" if ing.accepted else "REFUSED: " + "; ".join(ing.problems[:2])
        _say(f"{r.port}: {r.device_id} {r.delivered}; audit {ing.new} new, "
             f"{ing.duplicates} already stored, {state}; acked up to {r.acked_upto}")
    if any(not r.ok for r in results):
        raise typer.Exit(1)


@app.command("trace")
@friendly
def trace(ctx: typer.Context, serial: str = typer.Argument(...),
          manufacturer: str = typer.Option(None, "--manufacturer"),
          as_json: bool = typer.Option(False, "--json"),
          full: bool = typer.Option(False, "--export", help="The full record (JSON).")) -> None:
    """Answer a trace request: holders over time, last seen, lock events, integrity."""
    from armlock.registry.trace import export_weapon
    from armlock.registry.trace import trace as trace_weapon

    c = _obj(ctx)
    with c.factory()() as s:
        t = (export_weapon if full else trace_weapon)(s, serial, manufacturer)
    if as_json or full:
        print(json.dumps(t, indent=1))
        return
    w = t["weapon"]
    _say(f"{w['manufacturer']} {w['model']} {w['type']} {w['calibre']} serial "
         f"{w['serial_number']} ({w['country']} {w['year'] or ''}); status {t['status']}")
    for h in t["holdings"]:
        who = ", ".join(f"{x['service_number']} {x['name']}" for x in h["holders"]) or "-"
        _say(f"  {h['from']} .. {h['until'] or 'now'}  {h['status']:<9} {who}")
    _say(f"  last seen: {_sighting(t.get('last_seen'))}")
    integ = t.get("integrity") or {"intact": None, "records": 0, "problems": []}
    _say(f"  lock {t['lock']}: {integ['records']} audit records, "
         + ("record intact" if integ["intact"] else "NOT INTACT: "
            + "; ".join(integ["problems"][:3])))


def _sighting(ls: dict[str, Any] | None) -> str:
    if not ls:
        return "never"
    parts = []
    if "lat" in ls:
        parts.append(f"fix {ls['lat']:.6f}, {ls['lon']:.6f} (+-{ls['hacc_m']} m) at "
                     f"{ls['fix_time'] or 'unknown time'}")
    if "docked_at" in ls:
        parts.append(f"docked {ls['docked_at']} at {ls['dock_port']}")
    return "; ".join(parts)


@app.command("inventory")
@friendly
def inventory(ctx: typer.Context, as_json: bool = typer.Option(False, "--json"),
              hours: float = typer.Option(12.0, "--hours", help="Docks of the last N hours.")
              ) -> None:
    """Reconcile what should be in the armoury against what was docked."""
    from rich.table import Table

    from armlock.registry import records as R
    from armlock.registry.inventory import inventory as take_inventory

    c = _obj(ctx)
    with c.factory()() as s:
        inv = take_inventory(s, R.now_s() - int(hours * 3600))
    if as_json:
        print(json.dumps(inv, indent=1))
        return
    t = Table(title=f"inventory: {inv['expected_in_armoury']} expected, {inv['docked']} docked")
    for col in ("serial", "model", "lock", "status", "docked"):
        t.add_column(col)
    for w in inv["weapons"]:
        t.add_row(w["serial_number"], w["model"], w["lock"] or "-", w["status"],
                  "yes" if w["docked"] else "no")
    console.print(t)
    for p in inv["discrepancies"]:
        _say(f"! {p}")


@app.command("demo")
@friendly
def demo_cmd(out: Path = typer.Option(Path("out/registry-demo"), "--out"),
             locks: int = typer.Option(3, "--locks", min=1, max=20)) -> None:
    """An armoury of virtual boards through one shift (dock, tamper, theft, trace)."""
    from armlock.registry import demo

    summary = demo.run(out, locks, _say)
    _say(f"registry {summary['registry']}; trace and inventory written to {out}")


@app.command("serve")
@friendly
def serve(ctx: typer.Context, host: str = typer.Option("127.0.0.1", "--host"),
          port: int = typer.Option(8000, "--port")) -> None:
    """Run the armourer's dashboard."""
    import uvicorn

    from armlock.registry.web.app import create_app

    c = _obj(ctx)
    uvicorn.run(create_app(c.factory(), c.key), host=host, port=port, log_level="warning")
