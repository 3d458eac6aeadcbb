"""`armlock registry ...` commands (typer sub-app), on a SQLite registry."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from armlock.registry.cli import app
from armlock.registry.signer import create_master_key


@pytest.fixture
def run(tmp_path):
    key = tmp_path / "master.key"
    create_master_key(key)
    base = ["--db", f"sqlite:///{tmp_path / 'r.db'}", "--key", str(key), "--actor", "anna"]
    runner = CliRunner()

    def _run(*args: str, code: int = 0) -> str:
        r = runner.invoke(app, [*base, *args])
        assert r.exit_code == code, r.output
        return r.output
    return _run


def test_registry_commands_end_to_end(run, tmp_path):
    assert "no registry here yet" in run("inventory", code=2)
    run("init")
    run("device", "enrol", "AL-0001", "--manifest-hash", "ab" * 32)
    run("weapon", "add", "--serial", "SN-1", "--manufacturer", "Acme", "--model", "AR-7",
        "--type", "rifle", "--calibre", "5.56", "--country", "BE", "--device", "AL-0001")
    run("holder", "add", "S-1", "--name", "Ann Smith")
    run("holder", "enrol-card", "S-1", "04:a1:b2:c3:d4:e5:f6")
    run("holder", "enrol-finger", "S-1", "--device", "AL-0001", "--template", "3")
    roster = tmp_path / "roster.csv"
    roster.write_text("holder,weapon\nS-1,SN-1\n")
    out = run("issue-shift", "--roster", str(roster), "--name", "night", "--zone",
              "examples/zones/depot.geojson")
    assert "1 permit(s)" in out
    t = json.loads(run("trace", "SN-1", "--json"))
    assert t["status"] == "issued" and t["holdings"][-1]["holders"][0]["name"] == "Ann Smith"
    full = json.loads(run("trace", "SN-1", "--export"))
    assert full["tokens"][0]["zones"] and full["tokens"][0]["holders"][0][1] == [
        "04A1B2C3D4E5F6"]
    out = run("trace", "SN-1")
    assert "Ann Smith" in out and "last seen: never" in out
    inv = json.loads(run("inventory", "--json"))
    assert inv["weapons"][0]["status"] == "issued"
    out = run("weapon", "report-loss", "SN-1", "--stolen", "--discovered-hours-ago", "30")
    assert "recorded stolen" in out
    assert "otto (auditor) added" in run("user", "add", "otto", "--role", "auditor",
                                         "--password", "battery staple")
    assert "role 'boss'" in run("user", "add", "x", "--role", "boss", "--password", "x" * 8,
                                code=2)
    err = run("holder", "enrol-card", "S-2", "04A1B2C3", code=2)
    assert err.startswith("error: no holder with service number") and "Traceback" not in err


def test_key_update_rotates_the_signing_key(run, tmp_path):
    from armlock.registry.signer import Signer
    from hardware import signing

    run("init")
    run("device", "enrol", "AL-0001", "--manifest-hash", "ab" * 32)
    old = Signer(tmp_path / "master.key")
    signing.save(signing.generate(), tmp_path / "new.pem")
    new = Signer(tmp_path / "master.key", tmp_path / "new.pem")
    out = run("key-update", "AL-0001", "--add", str(tmp_path / "new.pem"), "--revoke",
              old.key_id)
    assert f"AL-0001: key update serial 1: trust {new.key_id}, revoke {old.key_id}" in out
    assert "16 hex digits" in run("key-update", "AL-0001", "--add", str(tmp_path / "new.pem"),
                                  "--revoke", "xyz", code=2)
