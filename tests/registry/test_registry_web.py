"""The dashboard over HTTP (FastAPI TestClient): sign-in, roles, attribution, pages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from armlock.registry import db
from armlock.registry.models import Change, Position, Token
from armlock.registry.web.app import create_app
from armlock.registry.web.auth import add_user
from tests.registry.armoury import ACTOR, stock

ROSTER = "holder,weapon\nS-0001,SN-0001\nS-0002,SN-0002\n"


@pytest.fixture
def client(factory, key_path):
    with db.transaction(factory) as s:
        stock(s, 2)
        add_user(s, ACTOR, "anna", "armourer", "correct horse")
        add_user(s, ACTOR, "otto", "auditor", "battery staple")
    return TestClient(create_app(factory, key_path))


def sign_in(c: TestClient, user: str, pw: str):
    return c.post("/login", data={"username": user, "password": pw})


def test_pages_need_sign_in_and_wrong_passwords_are_refused(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "wrong user name or password" in sign_in(client, "anna", "nope").text
    assert "wrong user name or password" in sign_in(client, "nobody", "x" * 8).text
    r = sign_in(client, "anna", "correct horse")
    assert "SN-0001" in r.text and "anna (armourer)" in r.text
    assert "SN-0001: should be in the armoury (in_store) but its lock AL-0001 was not docked" \
        in r.text
    client.post("/logout")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_armourer_issues_a_shift_and_it_is_attributed(client, factory):
    sign_in(client, "anna", "correct horse")
    r = client.post("/shift", data={"name": "night", "roster": ROSTER, "hours": "8"})
    assert "2 permit(s)" in r.text
    with factory() as s:
        assert len(s.scalars(select(Token)).all()) == 2
        assert {t.issued_by for t in s.scalars(select(Token))} == {"anna"}
        assert s.scalar(select(Change).where(Change.action == "issue-shift")).actor == "anna"
    page = client.get("/").text
    assert "issued" in page and "S-0001 Holder 1" in page
    assert "issue-shift" in client.get("/changes").text
    r = client.post("/shift", data={"name": "bad", "roster": "holder,weapon\nS-9,SN-0001\n"})
    assert "no holder with service number" in r.text


def test_auditor_reads_but_cannot_change(client, factory):
    sign_in(client, "otto", "battery staple")
    assert client.get("/alerts").status_code == 200
    assert client.post("/shift", data={"name": "x", "roster": ROSTER}).status_code == 403
    assert client.post("/weapon/SN-0001/loss", data={"kind": "lost"}).status_code == 403
    assert client.post("/dock", data={"ports": "/dev/null"}).status_code == 403
    with factory() as s:
        assert s.scalars(select(Token)).all() == []


def test_loss_report_alert_trace_export_and_map(client, factory):
    sign_in(client, "anna", "correct horse")
    client.post("/shift", data={"name": "day", "roster": ROSTER})
    r = client.post("/weapon/SN-0002/loss", data={"kind": "stolen", "hours_ago": "2"})
    assert "recorded stolen" in r.text
    assert "reported stolen" in client.get("/alerts").text
    exp = client.get("/weapon/SN-0002/export").json()
    assert [t["kind"] for t in exp["tokens"]] == ["permit", "recall"]
    assert exp["changes"] and exp["weapon"]["serial_number"] == "SN-0002"
    with db.transaction(factory) as s:
        s.add(Position(device_id="AL-0001", fix_utc=None, lat_e7=524010000, lon_e7=132015000,
                       hacc_m=5, source="test", at=0))
    svg = client.get("/map").text
    assert "<svg" in svg and "SN-0001 (AL-0001)" in svg and "<circle" in svg
    page = client.get("/weapon/SN-0001").text
    assert "fix 52.401000, 13.201500" in page and "&plusmn;5 m" in page
    assert client.get("/weapon/NOPE").status_code == 404
