"""The store: SQLAlchemy models, engine and sessions, and Alembic migrations."""

from app.store.db import Database, open_database

__all__ = ["Database", "open_database"]
