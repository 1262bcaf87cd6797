"""Shared state of a CLI invocation and the translation of errors into exit codes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError

from app.config import ConfigError
from app.connectors.errors import ConnectorError
from app.runtime import Runtime, bootstrap
from app.services.errors import NotFound, ServiceError
from app.vault import VaultError

log = logging.getLogger(__name__)

# Exit codes: 0 success, 1 failure, 2 usage (click), 3 configuration, 4 not found,
# 5 store unreachable.
EXIT_FAILURE = 1
EXIT_CONFIG = 3
EXIT_NOT_FOUND = 4
EXIT_STORE = 5

F = TypeVar("F", bound=Callable[..., Any])


class CliState:
    """Bootstraps the runtime on first use, so ``--help`` needs no store."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None
        self.console_level: int = logging.WARNING

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = bootstrap(console_level=self.console_level)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


pass_state = click.make_pass_decorator(CliState, ensure=True)


def fail(message: str, code: int = EXIT_FAILURE) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class AppGroup(click.Group):
    """A click group whose commands report failures as one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except ConfigError as exc:
            fail(f"configuration: {exc}", EXIT_CONFIG)
        except NotFound as exc:
            fail(str(exc), EXIT_NOT_FOUND)
        except (ServiceError, VaultError, ConnectorError) as exc:
            fail(str(exc))
        except OperationalError as exc:
            log.warning("store unreachable: %s", exc.orig)
            fail(
                "cannot reach the store; check ACCUPREDIX_DATABASE_URL and that the "
                f"database is running ({type(exc.orig).__name__}).",
                EXIT_STORE,
            )
        except Exception:
            log.exception("unexpected error")
            fail("unexpected error; the log file in the data directory has the details.")
        return None
