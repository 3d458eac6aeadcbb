"""Alembic revision files of the registry schema."""
