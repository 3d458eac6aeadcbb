"""Connecting to the registry database: SQLite file by default, PostgreSQL by URL.

`connect(url)` returns an engine whose every transaction on SQLite starts with
BEGIN IMMEDIATE (one writer at a time, no lock upgrades that fail under contention).
`init(engine)` runs the Alembic migrations shipped in this package. Sessions refuse to
update or delete rows of history tables (`models.History`); the migrations add database
triggers that refuse the same for any SQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from armlock.registry.models import History

URL_ENV = "ARMLOCK_REGISTRY"
DEFAULT_FILE = "armlock-registry.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class RegistryError(ValueError):
    """A registry request the user can fix (one-line message)."""


class AppendOnlyError(RegistryError):
    """An attempt to change or remove a history record."""


def default_url() -> str:
    """$ARMLOCK_REGISTRY, else a SQLite file in the current directory."""
    return os.environ.get(URL_ENV) or f"sqlite:///{DEFAULT_FILE}"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def connect(url: str | None = None, **kw: Any) -> Engine:
    """An engine for `url` (default: `default_url()`)."""
    url = url or default_url()
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    try:
        engine = create_engine(url, **kw)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise RegistryError(f"registry database {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine)
    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic config for the migrations in this package, bound to `engine`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def init(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    command.upgrade(alembic_config(engine), "head")


def is_initialised(engine: Engine) -> bool:
    """True when the schema exists (migrations have run)."""
    return inspect(engine).has_table("alembic_version")


def _refuse_history_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, History) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError(
                f"{type(obj).__tablename__} is append-only: records are never changed or "
                "deleted (add a new record instead)")


def _refuse_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and issubclass(mapper.class_, History):
        raise AppendOnlyError(f"{mapper.class_.__tablename__} is append-only: "
                              "bulk UPDATE/DELETE refused")


def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory that enforces append-only history."""
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "before_flush", _refuse_history_changes)
    event.listen(factory, "do_orm_execute", _refuse_bulk)
    return factory


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session, committed at the end, rolled back on any exception."""
    with factory() as s, s.begin():
        yield s
