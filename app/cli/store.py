"""Store administration: migrations, demo data, organisation plan."""

from __future__ import annotations

import click

from app.cli.context import CliState, pass_state
from app.services import organisations
from app.store.migrate import current_revision


@click.group()
def db() -> None:
    """Manage the store."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: CliState) -> None:
    """Apply pending migrations (also done on every start)."""
    runtime = state.runtime  # bootstrapping migrates
    click.echo(f"store at revision {current_revision(runtime.database.engine)}")


@db.command("migrate-to")
@click.argument("target_url")
@pass_state
def db_migrate_to(state: CliState, target_url: str) -> None:
    """Copy the whole store into the empty database TARGET_URL (e.g. PostgreSQL).

    Then set ACCUPREDIX_DATABASE_URL to TARGET_URL; the current store is left as it is.
    """
    from sqlalchemy.engine import make_url

    from app.ops.copy_store import copy_store
    from app.redaction import register_secret

    password = make_url(target_url).password
    if password:
        register_secret(str(password))

    def report(table: str, rows: int) -> None:
        click.echo(f"  {table}: {rows:,} rows", err=True)

    result = copy_store(state.runtime.database, target_url, progress=report)
    click.echo(
        f"copied {result.rows:,} rows in {len(result.tables)} tables; now set "
        "ACCUPREDIX_DATABASE_URL to the new store and restart AccuPredix"
    )


@click.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@click.option("--seed", default=7, show_default=True, help="Random seed; same seed, same data.")
@pass_state
def demo_seed(state: CliState, seed: int) -> None:
    """Seed a demo organisation (Growth plan) with two years of demand."""
    from app.demo import seed_demo

    summary = seed_demo(state.runtime.database, seed=seed)
    if not summary.seeded:
        click.echo("demo data already present; nothing to do")
        return
    click.echo(
        f"seeded organisation {summary.organisation_id}: {summary.series} series, "
        f"{summary.lines} demand lines, {len(summary.connectors)} connectors"
    )


@click.group()
def org() -> None:
    """Organisation settings."""


@org.command("set-plan")
@click.argument(
    "plan", type=click.Choice(["starter", "growth", "enterprise"], case_sensitive=False)
)
@click.option("--org", "organisation_id", type=int, help="Organisation id (default: the first).")
@pass_state
def org_set_plan(state: CliState, plan: str, organisation_id: int | None) -> None:
    """Set the organisation's plan (the API and OData need Growth or higher)."""
    with state.runtime.database.session() as session:
        organisation = organisations.set_plan(session, plan, organisation_id)
        click.echo(
            f"organisation {organisation.id} ({organisation.name}) is on {organisation.plan}"
        )
