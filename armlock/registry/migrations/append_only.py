"""Database triggers that refuse UPDATE and DELETE on history tables (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import Connection

# (%% because the driver formats parameters even when none are given)
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION armlock_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'armlock registry: %% is append-only (%% refused)', TG_TABLE_NAME, TG_OP;
END $$ LANGUAGE plpgsql
"""


def add_triggers(conn: Connection, tables: Iterable[str]) -> None:
    """Install the append-only triggers on `tables`."""
    pg = conn.dialect.name == "postgresql"
    if pg:
        conn.exec_driver_sql(PG_FUNCTION)
    for t in tables:
        if pg:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION armlock_append_only()")
            continue
        for op in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER {t}_no_{op.lower()} BEFORE {op} ON {t} BEGIN "
                f"SELECT RAISE(ABORT, 'armlock registry: {t} is append-only ({op} refused)'); "
                "END")


def drop_triggers(conn: Connection, tables: Iterable[str]) -> None:
    """Remove the triggers `add_triggers` installed."""
    pg = conn.dialect.name == "postgresql"
    for t in tables:
        if pg:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
            continue
        for op in ("update", "delete"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_no_{op}")
    if pg:
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS armlock_append_only()")
