"""Alembic environment: runs on the engine `db.init` passes in (online mode only)."""

from alembic import context

from armlock.registry.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from armlock.registry.db import connect

    engine = connect(config.get_main_option("sqlalchemy.url"))

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
