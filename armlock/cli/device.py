"""`armlock device`: talk to a board over serial, BLE or the virtual board's pty.

    armlock device --port /dev/ttyUSB0 status
    armlock device --port ble:C0:FF:EE:00:00:01 --key armlock-master.key load-permit p.tok
    armlock device --port virtual stimulate battery 3300

Exit status: 0 ok, 2 bad input or missing key, 3 device absent / link lost, 4 port busy,
5 no answer in time, 6 the device answered with an error, 1 audit chain broken.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from armlock.authority.checks import check_device_id
from armlock.cli.common import UserError, check_port_path, console, friendly
from firmware.app import identity
from hardware.client import CounterStore, DeviceClient
from hardware.link import LinkError, Transport, list_ports, open_target
from protocols import audit as A

app = typer.Typer(help="Talk to a board (serial, BLE or virtual): status, permits, audit, "
                  "events, stimulus.", no_args_is_help=True)
stim = typer.Typer(help="Inject a stimulus (rig/dev mode boards; sealed with the device key).",
                   no_args_is_help=True)
app.add_typer(stim, name="stimulate")

DEFAULT_STATE_DIR = Path(".armlock/virtual")


@dataclass
class Opts:
    """The group options, shared by every command."""

    port: str | None
    key: Path | None
    device_key: Path | None
    device_id: str | None
    json: bool
    timeout: float
    counters: Path | None
    state_dir: Path
    runtime: str
    mode: str
    reconnect: float


@app.callback()
@friendly
def _group(
    ctx: typer.Context,
    port: str = typer.Option(None, "--port", "-p", envvar="ARMLOCK_PORT",
                             help="Serial port, ble:ADDRESS, or 'virtual' (start a virtual "
                             "board for this command). Default: the only ESP32 port found."),
    key: Path = typer.Option(None, "--key", help="Authority master key file: the device key "
                             "is derived with the device id (for stimulate, audit ack, reboot)."),
    device_key: Path = typer.Option(None, "--device-key",
                                    help="Device key file (hex, from `armlock keys derive`)."),
    device_id: str = typer.Option(None, "--device-id", help="Expected device id (checked "
                                  "against INFO); with --port virtual and --key: provision it."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON output."),
    timeout: float = typer.Option(2.0, "--timeout", help="Seconds to wait for each answer."),
    counters: Path = typer.Option(None, "--counters", help="Sealed-command counter file "
                                  "(default $ARMLOCK_COUNTERS or ~/.armlock/counters.json)."),
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, "--state-dir",
                                   help="State dir of the virtual board (--port virtual)."),
    runtime: str = typer.Option("micropython", "--runtime",
                                help="Virtual board runtime: micropython or cpython."),
    mode: str = typer.Option("dev", "--mode", help="Virtual board mode: dev or production."),
    reconnect: float = typer.Option(0.0, "--reconnect", help="Serial: wait this long for a "
                                    "board that resets (port vanishes and comes back)."),
) -> None:
    if device_id is not None:
        check_device_id(device_id, "--device-id")
    ctx.obj = Opts(port, key, device_key, device_id, json_out, timeout, counters, state_dir,
                   runtime, mode, reconnect)


# -- connecting ---------------------------------------------------------------------------------


def make_transport(o: Opts) -> tuple[Transport, Any]:
    """(transport, virtual board or None) for the --port option."""
    port = o.port or _auto_port()
    if port != "virtual":
        check_port_path(port)
        return open_target(port, reconnect_s=o.reconnect), None
    from hardware.link.pty import PtyTransport
    from hardware.virtual.launcher import VirtualBoard

    ident = None
    if o.key is not None:
        did = o.device_id or identity.DEV_DEVICE_ID
        ident = (did, _derive(o.key, did))
    board = VirtualBoard(o.state_dir.resolve(), mode=o.mode, runtime=o.runtime,
                         identity=ident)
    board.start()
    tr = PtyTransport(board.port)
    tr.name = f"virtual board ({board.port})"
    return tr, board


def _auto_port() -> str:
    found = list_ports(esp32_only=True)
    if len(found) == 1:
        return found[0].device
    if not found:
        raise UserError("no board found: no ESP32 serial port (give --port PORT, "
                        "ble:ADDRESS or virtual)", code=3)
    names = ", ".join(p.device for p in found)
    raise UserError(f"several ESP32 ports ({names}): choose one with --port", code=2)


def _derive(path: Path, device_id: str) -> bytes:
    from armlock import authority

    return authority.derive_device_key(authority.load_master_key(path), device_id)


def _read_device_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        raise UserError(f"--device-key {path}: no such file") from None
    except ValueError:
        raise UserError(f"--device-key {path}: not hex") from None
    if len(key) != 32:
        raise UserError(f"--device-key {path}: key is {len(key)} bytes, need 32")
    return key


@contextmanager
def session(ctx: typer.Context, sealed: bool = False) -> Iterator[DeviceClient]:
    """An open DeviceClient for the group options; maps link errors to exit codes."""
    from armlock import authority

    o: Opts = ctx.obj
    board = None
    try:
        tr, board = make_transport(o)
        store = CounterStore(o.counters) if o.counters else CounterStore()
        with DeviceClient(tr, counter_store=store, timeout=o.timeout) as c:
            if o.device_id or sealed:
                _check_identity(c, o)
            if sealed:
                c.key = _key_for(c, o, board is not None)
            yield c
    except LinkError as exc:
        raise UserError(str(exc), code=exc.exit_code) from None
    except authority.AuthorityError as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:
        from hardware.virtual.launcher import BoardError

        if isinstance(exc, BoardError):
            raise UserError(f"virtual board: {exc}", code=3) from None
        raise
    finally:
        if board is not None:
            board.stop()


def _check_identity(c: DeviceClient, o: Opts) -> None:
    did = c.info()["device_id"]
    if o.device_id and did != o.device_id:
        raise UserError(f"{c.transport.name} is device {did}, not --device-id {o.device_id}")


def _key_for(c: DeviceClient, o: Opts, virtual: bool) -> bytes:
    assert c.device_id is not None
    if o.device_key is not None:
        return _read_device_key(o.device_key)
    if o.key is not None:
        return _derive(o.key, c.device_id)
    if virtual and c.device_id == identity.DEV_DEVICE_ID:
        return identity.dev_identity()[1]  # the public development identity
    raise UserError("this command is sealed with the device key: give --key MASTER_FILE "
                    "or --device-key FILE")


# -- output -------------------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes | bytearray):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def emit(ctx: typer.Context, data: Any, table: Table | str | None = None) -> None:
    """JSON with --json, else the table (or line)."""
    if ctx.obj.json:
        print(json.dumps(_jsonable(data), sort_keys=True))
    elif table is not None:
        console.print(table, highlight=False, soft_wrap=True)


def _utc(s: int | None) -> str:
    if not s:
        return "-"
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _kv(title: str, rows: list[tuple[str, Any]]) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows:
        t.add_row(k, str(v))
    return t


def _status_table(st: dict[str, Any]) -> Table:
    p, fix, lo, tam = st.get("permit"), st.get("last_fix"), st["lockout"], st["tamper"]
    rows: list[tuple[str, Any]] = [
        ("lock", "[red]LOCKED[/red]" if st["locked"] else "[green]UNLOCKED[/green]"),
        ("reasons", ", ".join(st["reasons"]) or "-"),
        ("permit", "-" if p is None else
         f"serial {p['serial']}, {_utc(p['not_before'])} .. {_utc(p['not_after'])}, "
         f"{p['fail_profile']}"),
    ]
    if p is not None:
        rows += [("holders", ", ".join(p["holders"]) or "-"),
                 ("zones", ", ".join(p["zones"]) or "-")]
    rows += [
        ("lockout", f"{lo['failures']} failures" + (f", until {lo['until']} ms"
                                                    if lo["until"] else "")),
        ("tamper", ("latched (" + (tam["source"] or "?") + ")") if tam["latched"] else "no"),
        ("battery", f"{st['battery_mv']} mV"),
        ("last fix", "-" if fix is None else
         f"{fix['lat_e7'] / 1e7:.7f}, {fix['lon_e7'] / 1e7:.7f} +-{fix['hacc_m']} m"),
        ("last counter", st.get("last_counter")),
    ]
    return _kv("status", rows)


def _record(rec: bytes) -> dict[str, Any]:
    seq, t, code, detail, h = A.decode(rec)
    return {"seq": seq, "time": t, "code": code, "detail": detail, "hash": h.hex(),
            "raw": rec.hex()}


# -- commands -----------------------------------------------------------------------------------


@app.command("info")
@friendly
def info(ctx: typer.Context) -> None:
    """Device id, firmware version, mode, runtime and protocol version."""
    with session(ctx) as c:
        f = c.info()
    emit(ctx, f, _kv(f"device on {c.transport.name}", list(f.items())))


@app.command("status")
@friendly
def status(ctx: typer.Context) -> None:
    """Lock state and why, permit, lockout, tamper, battery, last fix."""
    with session(ctx) as c:
        st = c.status()
    emit(ctx, st, _status_table(st))


def _token_cmd(ctx: typer.Context, file: Path, what: str, method: str) -> None:
    try:
        token = file.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{file}: no such token file") from None
    with session(ctx) as c:
        getattr(c, method)(token)
        did = c.device_id or ""
    emit(ctx, {"ok": True, "file": str(file)}, f"{what} {file} accepted by {did or 'device'}"
         f" on {c.transport.name}")


@app.command("load-permit")
@friendly
def load_permit(ctx: typer.Context, file: Path = typer.Argument(..., help="Permit token.")
                ) -> None:
    """Load a permit token issued by `armlock permit issue`."""
    _token_cmd(ctx, file, "permit", "load_permit")


@app.command("recall")
@friendly
def recall(ctx: typer.Context, file: Path = typer.Argument(..., help="Recall token.")) -> None:
    """Apply a recall token (the device disables its permit)."""
    _token_cmd(ctx, file, "recall", "recall")


@app.command("reset-tamper")
@friendly
def reset_tamper(ctx: typer.Context,
                 file: Path = typer.Argument(..., help="Tamper-reset token.")) -> None:
    """Apply an authority tamper-reset token."""
    _token_cmd(ctx, file, "tamper reset", "reset_tamper")


@app.command("audit")
@friendly
def audit(
    ctx: typer.Context,
    verify: bool = typer.Option(False, "--verify", help="Check the hash chain."),
    out: Path = typer.Option(None, "--out", help="Write the records as JSON lines."),
    from_seq: int = typer.Option(1, "--from", help="First sequence number."),
    ack: bool = typer.Option(False, "--ack", help="Acknowledge the records read (sealed)."),
) -> None:
    """Read the audit log (all pages), optionally verify it and save it."""
    if out is not None and not out.parent.is_dir():
        raise UserError(f"--out {out}: directory {out.parent} does not exist")
    with session(ctx, sealed=ack) as c:
        recs = c.audit(from_seq=from_seq)
        problems = c.verify_audit(recs) if verify else []
        if ack and recs and not problems:
            c.audit_ack(A.decode(recs[-1])[0])
    rows = [_record(r) for r in recs]
    if out is not None:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tmp.replace(out)
    t = Table(title=f"audit ({len(rows)} records)", title_justify="left")
    for col in ("seq", "time", "code", "detail"):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r["seq"]), _utc(r["time"]), r["code"], r["detail"])
    emit(ctx, {"records": rows, "verified": verify and not problems, "problems": problems}, t)
    if verify and not ctx.obj.json:
        console.print(f"chain verified: {len(rows)} records" if not problems
                      else "chain BROKEN: " + "; ".join(problems), highlight=False)
    if problems:
        raise UserError(f"audit chain broken ({len(problems)} problems)", code=1)


@app.command("events")
@friendly
def events(
    ctx: typer.Context,
    count: int = typer.Option(0, "--count", help="Stop after this many events (0: never)."),
    seconds: float = typer.Option(0.0, "--seconds", help="Stop after this long (0: never)."),
) -> None:
    """Print device events as they come (actuate, answer, audit, ...), until Ctrl-C."""
    n = 0
    end = time.monotonic() + seconds if seconds else None
    ctx.obj.reconnect = max(ctx.obj.reconnect, 10.0)  # follow the board through resets
    try:
        with session(ctx) as c:
            if not ctx.obj.json:
                console.print(f"events from {c.transport.name} (Ctrl-C to stop)",
                              highlight=False)
            while end is None or time.monotonic() < end:
                wait = 0.5 if end is None else max(0.0, min(0.5, end - time.monotonic()))
                for ev in c.events(timeout=wait):
                    _print_event(ctx, ev)
                    n += 1
                    if count and n >= count:
                        return
    except KeyboardInterrupt:
        pass


def _print_event(ctx: typer.Context, ev: dict[str, Any]) -> None:
    if ctx.obj.json:
        print(json.dumps(_jsonable(ev), sort_keys=True), flush=True)
        return
    rest = " ".join(f"{k}={v}" for k, v in ev.items() if k != "kind")
    console.print(f"[bold]{ev['kind']}[/bold] {rest}", highlight=False, soft_wrap=True)


@app.command("ping")
@friendly
def ping(ctx: typer.Context, count: int = typer.Option(5, "--count", "-n")) -> None:
    """Command round trips (PING -> OK), in milliseconds."""
    with session(ctx) as c:
        rtts = [c.ping() * 1000 for _ in range(max(1, count))]
    rtts.sort()
    summary = {"count": len(rtts), "min_ms": rtts[0], "median_ms": rtts[len(rtts) // 2],
               "max_ms": rtts[-1]}
    emit(ctx, summary, f"{len(rtts)} pings to {c.transport.name}: min {rtts[0]:.2f} ms, "
         f"median {summary['median_ms']:.2f} ms, max {rtts[-1]:.2f} ms")


@app.command("reboot")
@friendly
def reboot(ctx: typer.Context) -> None:
    """Reboot the board (dev mode only; sealed)."""
    with session(ctx, sealed=True) as c:
        c.reboot()
    emit(ctx, {"ok": True}, f"{c.transport.name}: rebooting")


@app.command("ports")
@friendly
def ports(ctx: typer.Context,
          all_ports: bool = typer.Option(False, "--all", help="Also ports that do not look "
                                         "like an ESP32 USB bridge.")) -> None:
    """List serial ports (ESP32 USB bridges: CP210x, CH340, FTDI, USB-JTAG)."""
    found = list_ports(esp32_only=not all_ports)
    rows = [{"device": p.device, "usb_id": p.usb_id, "bridge": p.bridge,
             "description": p.description, "serial_number": p.serial_number} for p in found]
    t = Table(title="serial ports" if all_ports else "ESP32 serial ports", title_justify="left")
    for col in ("device", "usb id", "bridge", "description"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["device"], r["usb_id"], r["bridge"] or "", r["description"])
    emit(ctx, rows, t if rows else "no ESP32 serial ports found (try --all)")


# -- stimulate ----------------------------------------------------------------------------------


def _stimulate(ctx: typer.Context, kind: str, **fields: Any) -> None:
    with session(ctx, sealed=True) as c:
        c.stimulate(kind, **fields)
    shown = " ".join(f"{k}={v}" for k, v in fields.items())
    emit(ctx, {"ok": True, "kind": kind, **fields},
         f"stimulus {kind} {shown} accepted")


def _e7(text: str, what: str, lim: int) -> int:
    """Decimal degrees -> 1e-7 degrees, within -lim..lim (said in degrees)."""
    try:
        deg = Decimal(text.strip())
        e7 = int((deg * 10_000_000).to_integral_value())
    except InvalidOperation:
        raise UserError(f"{what} {text!r}: expected decimal degrees like 52.3150000") from None
    if not -lim <= deg <= lim:
        raise UserError(f"{what} {text} is outside -{lim}..{lim}")
    return e7


def _within(value: int, lo: int, hi: int, what: str) -> int:
    if not lo <= value <= hi:
        raise UserError(f"{what} {value} is outside {lo}..{hi}")
    return value


def _utc_arg(text: str) -> int:
    if text == "now":
        return int(time.time())
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"time {text!r}: expected now, UTC seconds or ISO 8601") from None
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


def _choice(text: str, allowed: tuple[str, ...], what: str) -> str:
    if text not in allowed:
        raise UserError(f"{what} {text!r}: expected one of {', '.join(allowed)}")
    return text


@stim.command("gnss")
@friendly
def st_gnss(ctx: typer.Context,
            silent_ms: int = typer.Option(0, "--silent-ms", help="ms since the receiver last "
                                          "sent anything."),
            nofix_ms: int = typer.Option(..., "--nofix-ms", help="ms since its last valid fix "
                                         "(-1: none since boot)."),
            sats: int = typer.Option(..., "--sats", help="Satellites used in the solution."),
            cn0: int = typer.Option(-1, "--cn0", help="Strongest C/N0 in dB-Hz (-1: the "
                                    "receiver does not report it).")) -> None:
    """What the GNSS receiver driver observed (the core classifies ok, lost or jammed)."""
    _stimulate(ctx, "gnss", silent_ms=_within(silent_ms, 0, 0xFFFFFFFF, "--silent-ms"),
               nofix_ms=_within(nofix_ms, -1, 0xFFFFFFFF, "--nofix-ms"),
               sats=_within(sats, 0, 255, "--sats"), cn0_dbhz=_within(cn0, -1, 255, "--cn0"))


@stim.command("fix", context_settings={"ignore_unknown_options": True})  # -33.9
@friendly
def st_fix(ctx: typer.Context, lat: str = typer.Argument(..., help="Latitude, degrees."),
           lon: str = typer.Argument(..., help="Longitude, degrees."),
           hacc: int = typer.Option(5, "--hacc", help="Horizontal accuracy, m."),
           utc: str = typer.Option("now", "--utc", help="Fix time: now, UTC s, ISO, or none.")
           ) -> None:
    """A GNSS position fix."""
    f: dict[str, Any] = {"lat_e7": _e7(lat, "latitude", 90), "lon_e7": _e7(lon, "longitude", 180),
                         "hacc_m": _within(hacc, 0, 0xFFFFFFFF, "--hacc")}
    if utc != "none":
        f["utc_s"] = _utc_arg(utc)
    _stimulate(ctx, "fix", **f)


@stim.command("nmea")
@friendly
def st_nmea(ctx: typer.Context, sentence: str = typer.Argument(...)) -> None:
    """One NMEA sentence for the board's GNSS driver."""
    _stimulate(ctx, "nmea", sentence=sentence)


@stim.command("credential")
@friendly
def st_credential(ctx: typer.Context, cred: str = typer.Argument(..., help="RFID UID, hex."),
                  rtt_us: int = typer.Option(1000, "--rtt-us", help="Challenge round trip."),
                  weak: bool = typer.Option(False, "--weak", help="No challenge-response.")
                  ) -> None:
    """An RFID credential presented."""
    try:
        bytes.fromhex(cred)
    except ValueError:
        raise UserError(f"credential {cred!r}: expected hex like 04A1B2C3D4E5F6") from None
    _stimulate(ctx, "rfid", cred=cred.upper(), rtt_us=_within(rtt_us, 0, 0xFFFFFFFF, "--rtt-us"),
               strong=not weak)


@stim.command("finger")
@friendly
def st_finger(ctx: typer.Context, template: int = typer.Argument(..., help="Template id."),
              score: int = typer.Option(100, "--score", help="Match score.")) -> None:
    """A fingerprint match."""
    _stimulate(ctx, "finger", template=_within(template, 0, 0xFFFF, "template"),
               score=_within(score, 0, 0xFFFFFFFF, "--score"))


@stim.command("rfid-fail")
@friendly
def st_rfid_fail(ctx: typer.Context, why: str = typer.Argument("authentication failed",
                                                             help="What the reader saw.")
                 ) -> None:
    """A card that failed authentication or could not be read (counts as a failed attempt)."""
    _stimulate(ctx, "rfid_fail", why=why)


@stim.command("finger-fail")
@friendly
def st_finger_fail(ctx: typer.Context, why: str = typer.Argument("no match",
                                                               help="What the module said.")
                   ) -> None:
    """A finger nobody enrolled (counts as a failed attempt)."""
    _stimulate(ctx, "finger_fail", why=why)


@stim.command("actpos")
@friendly
def st_actpos(ctx: typer.Context, state: str = typer.Argument(..., help="locked|open")
              ) -> None:
    """The bolt position the actuator's sense switch reports."""
    _stimulate(ctx, "actpos", locked=_choice(state, ("locked", "open"), "bolt") == "locked")


@stim.command("tamper")
@friendly
def st_tamper(ctx: typer.Context,
              source: str = typer.Argument(..., help="enclosure|magnet")) -> None:
    """A tamper detection (a forced bolt shows as `stimulate actpos open`)."""
    _stimulate(ctx, "tamper", source=_choice(source, ("enclosure", "magnet"), "tamper source"))


@stim.command("battery")
@friendly
def st_battery(ctx: typer.Context, mv: int = typer.Argument(..., help="Millivolts.")) -> None:
    """Battery voltage."""
    _stimulate(ctx, "battery", mv=_within(mv, 0, 0xFFFF, "millivolts"))


@stim.command("time")
@friendly
def st_time(ctx: typer.Context, utc: str = typer.Argument("now", help="now, UTC s or ISO.")
            ) -> None:
    """Set the board RTC."""
    _stimulate(ctx, "time", utc_s=_utc_arg(utc))


@stim.command("grip")
@friendly
def st_grip(ctx: typer.Context, state: str = typer.Argument(..., help="held|released")
            ) -> None:
    """Grip sensor."""
    _stimulate(ctx, "grip", held=_choice(state, ("held", "released"), "grip") == "held")


@stim.command("fault")
@friendly
def st_fault(ctx: typer.Context, sensor: str = typer.Argument(..., help="rfid|finger|gnss|"
                                                              "actuator"),
             state: str = typer.Argument(..., help="failed|ok")) -> None:
    """A sensor fault (or its recovery)."""
    _stimulate(ctx, "fault", sensor=_choice(sensor, ("rfid", "finger", "gnss", "actuator"),
                                            "sensor"),
               ok=_choice(state, ("failed", "ok"), "fault state") == "ok")
