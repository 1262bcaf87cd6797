"""What every entry point needs: configuration, logging, the store and the vault."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Config, load_config
from app.logs import configure_logging
from app.store.db import Database, open_database
from app.vault import Vault


@dataclass
class Runtime:
    config: Config
    database: Database
    vault: Vault

    def close(self) -> None:
        self.database.dispose()


def bootstrap(
    config: Config | None = None,
    *,
    console_log: bool = True,
    console_level: int | str | None = None,
) -> Runtime:
    """Load and validate the configuration, start logging, open and migrate the store.

    Raises:
        ConfigError: when a setting is invalid.
    """
    config = config or load_config()
    configure_logging(config, console=console_log, console_level=console_level)
    database = open_database(config)
    return Runtime(config=config, database=database, vault=Vault.from_config(config))
