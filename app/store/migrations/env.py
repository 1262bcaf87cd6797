"""Alembic environment: runs against the engine the application hands over."""

from __future__ import annotations

from alembic import context

from app.store.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    # Only `alembic revision --autogenerate` during development gets here.
    from app.config import load_config
    from app.store.db import create_store_engine

    engine = create_store_engine(load_config().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
