"""Alembic migrations of the registry schema (run by `armlock.registry.db.init`)."""
