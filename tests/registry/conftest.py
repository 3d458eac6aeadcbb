"""Registry fixtures: a fresh registry database per test, on SQLite always and on a
throwaway PostgreSQL server when one can be started (tests/registry_pg.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from armlock.registry import db
from armlock.registry.signer import Signer, create_master_key
from tests import registry_pg

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[registry_pg.PostgresServer]:
    reason = registry_pg.unavailable()
    if reason:
        pytest.skip(f"PostgreSQL leg skipped: {reason}")
    server = registry_pg.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database (not yet initialised)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_db(f"reg_{next(_names)}")


@pytest.fixture
def engine(registry_url: str) -> Iterator[Engine]:
    e = db.connect(registry_url)
    db.init(e)
    yield e
    e.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return db.sessions(engine)


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    p = tmp_path / "master.key"
    create_master_key(p)
    return p


@pytest.fixture
def signer(key_path: Path) -> Signer:
    return Signer(key_path)
