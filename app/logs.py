"""Logging set-up: console plus a rotating file in the data dir, both masked."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from app.config import Config
from app.redaction import SecretMaskingFilter

LOG_FILE = "accupredix.log"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# Marks our handlers so configuring twice replaces rather than duplicates them.
_OWNED = "_accupredix_handler"


def configure_logging(
    config: Config, *, console: bool = True, console_level: int | str | None = None
) -> None:
    """Send logs to ``<data dir>/logs/accupredix.log`` (rotating) and stderr.

    ``console_level`` lets a command keep stderr to warnings while the file gets
    the configured level.
    """
    config.ensure_data_dir()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OWNED, False):
            root.removeHandler(handler)
            handler.close()

    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(
            config.log_dir / LOG_FILE, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
        )
    ]
    if console:
        stream = logging.StreamHandler(sys.stderr)
        if console_level is not None:
            stream.setLevel(console_level)
        handlers.append(stream)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(SecretMaskingFilter())
        setattr(handler, _OWNED, True)
        root.addHandler(handler)
    root.setLevel(config.log_level)
    # Waitress logs each queued request at INFO under load; keep it to warnings.
    logging.getLogger("waitress.queue").setLevel(logging.WARNING)
    # Alembic announces its context on every start; app.store.migrate logs the
    # upgrades that actually happen.
    logging.getLogger("alembic").setLevel(logging.WARNING)
