"""The dashboard's routes. `create_app(factory, key_path)` returns the FastAPI app.

Every page needs a signed-in user; every change (POST) needs the armourer role and is
attributed to that user in the change log. Auditors read everything and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from armlock.registry import db
from armlock.registry import records as R
from armlock.registry.alerts import acknowledge
from armlock.registry.dock import DEFAULT_OPENER, Opener, dock_all
from armlock.registry.inventory import inventory
from armlock.registry.models import User
from armlock.registry.shift import ShiftSpec, issue_shift, read_roster
from armlock.registry.signer import AuthorityError, Signer
from armlock.registry.status import report_loss
from armlock.registry.trace import export_weapon, trace
from armlock.registry.web import auth, views

COOKIE = "armlock_session"
TEMPLATES = Path(__file__).resolve().parent / "templates"


class SignInRequired(Exception):
    pass


def create_app(factory: sessionmaker[Session], key_path: Path,
               opener: Opener = DEFAULT_OPENER, counters: Path | None = None) -> FastAPI:
    """The dashboard over the registry behind `factory`, signing with `key_path`."""
    app = FastAPI(title="armlock registry", docs_url=None, redoc_url=None, openapi_url=None)
    pages = Jinja2Templates(directory=str(TEMPLATES))

    def current_user(request: Request) -> User:
        with factory() as s:
            u = auth.session_user(s, request.cookies.get(COOKIE))
        if u is None:
            raise SignInRequired()
        return u

    def armourer(user: User = Depends(current_user)) -> User:
        if user.role != "armourer":
            raise HTTPException(403, "auditors can read but not change the registry")
        return user

    @app.exception_handler(SignInRequired)
    async def _to_login(_req: Request, _exc: SignInRequired) -> Response:
        return RedirectResponse("/login", 303)

    def page(request: Request, name: str, user: User | None, **ctx: Any) -> HTMLResponse:
        return pages.TemplateResponse(request, name, {"user": user, **ctx})

    def act(user: User, fn: Callable[[Session, Signer], str]) -> tuple[str, bool]:
        """Run one change in a transaction; (message, ok)."""
        try:
            with db.transaction(factory) as s:
                return fn(s, Signer(key_path)), True
        except (db.RegistryError, AuthorityError) as exc:
            return str(exc), False

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return page(request, "login.html", None, error=None)

    @app.post("/login")
    def login(request: Request, username: str = Form(...), password: str = Form(...)) -> Response:
        with db.transaction(factory) as s:
            u = auth.check_password(s, username, password)
            token = auth.open_session(s, u) if u else None
        if token is None:
            return page(request, "login.html", None, error="wrong user name or password")
        r = RedirectResponse("/", 303)
        r.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=auth.SESSION_S)
        return r

    @app.post("/logout")
    def logout(request: Request) -> Response:
        with db.transaction(factory) as s:
            auth.close_session(s, request.cookies.get(COOKIE))
        r = RedirectResponse("/login", 303)
        r.delete_cookie(COOKIE)
        return r

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        with factory() as s:
            return page(request, "inventory.html", user, weapons=views.weapons(s),
                        alerts=len(views.alerts(s)),
                        discrepancies=inventory(s)["discrepancies"])

    @app.get("/alerts", response_class=HTMLResponse)
    def alerts(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        with factory() as s:
            return page(request, "alerts.html", user, alerts=views.alerts(s))

    @app.post("/alerts/{alert_id}/ack")
    def ack(alert_id: int, note: str = Form(""), user: User = Depends(armourer)) -> Response:
        def run(s: Session, _sg: Signer) -> str:
            acknowledge(s, user.username, alert_id, note or None)
            return f"alert {alert_id} acknowledged"
        act(user, run)
        return RedirectResponse("/alerts", 303)

    @app.get("/weapon/{serial}", response_class=HTMLResponse)
    def weapon(request: Request, serial: str, user: User = Depends(current_user)) -> Response:
        with factory() as s:
            try:
                t = trace(s, serial)
            except db.RegistryError as exc:
                raise HTTPException(404, str(exc)) from None
        return page(request, "trace.html", user, t=t, serial=serial, message=None)

    @app.get("/weapon/{serial}/export")
    def export(serial: str, user: User = Depends(current_user)) -> Response:
        with factory() as s:
            try:
                data = export_weapon(s, serial)
            except db.RegistryError as exc:
                raise HTTPException(404, str(exc)) from None
        return JSONResponse(data, headers={
            "Content-Disposition": f'attachment; filename="{serial}.json"'})

    @app.post("/weapon/{serial}/loss", response_class=HTMLResponse)
    def loss(request: Request, serial: str, kind: str = Form(...), hours_ago: float = Form(0),
             note: str = Form(""), user: User = Depends(armourer)) -> Response:
        def run(s: Session, sg: Signer) -> str:
            at = R.now_s()
            row = report_loss(s, sg, user.username, R.find_weapon(s, serial), kind,
                              at - int(hours_ago * 3600), note or None, at)
            return f"recorded {row.status}; lock recalled"
        msg, _ok = act(user, run)
        with factory() as s:
            return page(request, "trace.html", user, t=trace(s, serial), serial=serial,
                        message=msg)

    @app.get("/shift", response_class=HTMLResponse)
    def shift_form(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        return page(request, "shift.html", user, message=None, ok=True)

    @app.post("/shift", response_class=HTMLResponse)
    def shift(request: Request, name: str = Form(...), roster: str = Form(...),
              hours: float = Form(8.0), rule: str = Form("all"),
              factors: str = Form("rfid,finger"), user: User = Depends(armourer)) -> Response:
        def run(s: Session, sg: Signer) -> str:
            spec = ShiftSpec(name, hours, rule=rule,
                             factors=tuple(f.strip() for f in factors.split(",") if f.strip()))
            sh, toks = issue_shift(s, sg, user.username, read_roster(roster), spec)
            warn = "".join(f"; warning: {n}" for t in toks for n in t.notes)
            return f"shift {sh.id} issued: {len(toks)} permit(s)" + warn
        msg, ok = act(user, run)
        return page(request, "shift.html", user, message=msg, ok=ok)

    @app.get("/dock", response_class=HTMLResponse)
    def dock_form(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        return page(request, "dock.html", user, results=None)

    @app.post("/dock", response_class=HTMLResponse)
    def dock(request: Request, ports: str = Form(...), user: User = Depends(armourer)) -> Response:
        plist = [p.strip() for p in ports.replace(",", "\n").splitlines() if p.strip()]
        results = dock_all(factory, Signer(key_path), plist, user.username, opener, counters)
        return page(request, "dock.html", user, results=results)

    @app.get("/map", response_class=HTMLResponse)
    def map_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        with factory() as s:
            return page(request, "map.html", user, svg=views.map_svg(s, R.now_s()))

    @app.get("/changes", response_class=HTMLResponse)
    def changes(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
        with factory() as s:
            rows = views.changes(s)
        for r in rows:
            r["detail"] = json.dumps(r["detail"], sort_keys=True)
        return page(request, "changes.html", user, rows=rows)

    return app
