"""The feed read by an OData client library the project did not write (python-odata).

The client reflects the entity classes from ``$metadata``, pages with
``@odata.nextLink`` until the server stops sending one, filters, counts and
navigates, over HTTP against the real server, on data from a real forecast run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from odata import ODataService
from sqlalchemy import func, select

from app.config import load_config
from app.demo.seed import seed_demo
from app.forecasting import Settings
from app.runs.execute import execute_run
from app.runtime import Runtime
from app.services import api_keys
from app.services import runs as run_service
from app.store.db import Database
from app.store.models import Forecast, RunStatus, Series
from app.vault import Vault
from embedded_api.server import EmbeddedServer
from tests.embedded_api.odata_support import feed_app

PAGE = 7
# Serial and cheap: the forecasts only need to exist.
SETTINGS = Settings(cv_windows=2, conformal_windows=2, n_jobs=1)
END = dt.date(2025, 6, 29)


class Pulled:
    """What the client asked the server, in order."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.bodies: list[dict[str, Any]] = []

    def hook(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self.requests.append(response.url)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            self.bodies.append(response.json())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Database]]:
    """The demo organisation after one completed run, served on 127.0.0.1."""
    path = tmp_path_factory.mktemp("odata-client") / "store.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    demo = seed_demo(database, days=200, skus=4, end=END)
    created, _ = run_service.create_run(database, workspace_id=demo.workspace_id, horizon=6)
    status = execute_run(database, created["id"], settings=SETTINGS, as_of=END)
    assert status is RunStatus.COMPLETE
    with database.session() as session:
        key = api_keys.create_key(session, "Power BI", "odata", demo.organisation_id).secret
    runtime = Runtime(config=load_config({}), database=database, vault=Vault(bytes(32)))
    server = EmbeddedServer(feed_app(runtime), "127.0.0.1", 0)
    server.start()
    try:
        yield f"{server.url}/odata/", key, database
    finally:
        server.stop()
        database.dispose()


@pytest.fixture
def client(served: tuple[str, str, Database]) -> Iterator[tuple[ODataService, Pulled]]:
    url, key, _ = served
    pulled = Pulled()
    with requests.Session() as session:
        # What Power BI sends: Basic credentials with the key as the password.
        session.auth = ("powerbi", key)
        session.headers["Prefer"] = f"odata.maxpagesize={PAGE}"
        session.hooks["response"].append(pulled.hook)
        service = ODataService(url, session=session, reflect_entities=True, quiet_progress=True)
        yield service, pulled


def _count_in_store(database: Database, *conditions: Any) -> int:
    with database.session() as session:
        statement = (
            select(func.count())
            .select_from(Forecast)
            .join(Series, Series.id == Forecast.series_id)
            .where(*conditions)
        )
        return int(session.scalar(statement) or 0)


def test_client_reads_metadata_and_pulls_every_page(
    served: tuple[str, str, Database], client: tuple[ODataService, Pulled]
) -> None:
    _, _, database = served
    service, pulled = client
    assert set(service.entities) == {
        "Series",
        "Forecasts",
        "Runs",
        "Alerts",
        "SafetyStock",
        "DemandLines",
    }
    forecasts = service.entities["Forecasts"]
    pulled.requests.clear()
    rows = service.query(forecasts).all()
    total = _count_in_store(database)
    assert total > 5 * PAGE
    # Every row once, in key order, over as many requests as there are pages.
    assert len(rows) == total
    ids = [row.Id for row in rows]
    assert ids == sorted(set(ids))
    pages = -(-total // PAGE)
    assert len(pulled.requests) == pages
    assert all("$skiptoken=" in url for url in pulled.requests[1:])
    assert "@odata.nextLink" not in pulled.bodies[-1]
    assert all(len(body["value"]) == PAGE for body in pulled.bodies[:-1])
    # The client's $count agrees with what it read.
    assert service.query(forecasts).count() == len(rows)
    first = rows[0]
    assert isinstance(first.Yhat, float)
    assert first.Lo95 <= first.Yhat <= first.Hi95
    assert first.Sku.startswith("SKU-")


def test_client_filters_and_counts_agree(
    served: tuple[str, str, Database], client: tuple[ODataService, Pulled]
) -> None:
    _, _, database = served
    service, pulled = client
    forecasts = service.entities["Forecasts"]
    query = service.query(forecasts).filter(forecasts.Sku == "SKU-0001")
    query = query.filter("PeriodStart ge 2025-07-14").order_by(forecasts.PeriodStart.desc())
    rows = query.all()
    expected = _count_in_store(
        database, Series.sku == "SKU-0001", Forecast.period_start >= dt.date(2025, 7, 14)
    )
    assert 0 < len(rows) == expected
    assert {row.Sku for row in rows} == {"SKU-0001"}
    starts = [row.PeriodStart for row in rows]
    assert starts == sorted(starts, reverse=True)
    assert query.count() == len(rows)
    # $count=true on a raw pull: the same number on every page, equal to the rows read.
    pulled.bodies.clear()
    url = service.url + "Forecasts?$count=true&$filter=Location eq 'north-dc'"
    with requests.Session() as raw:
        raw.auth = service.default_context.connection.session.auth
        raw.headers["Prefer"] = f"odata.maxpagesize={PAGE}"
        read, counts, link = 0, set(), url
        while link:
            body = raw.get(link, timeout=30).json()
            counts.add(body["@odata.count"])
            read += len(body["value"])
            link = body.get("@odata.nextLink")
            if link:
                assert parse_qs(urlsplit(link).query)["$count"] == ["true"]
    assert counts == {read}
    assert read == _count_in_store(database, Series.location == "north-dc")


def test_client_navigates_to_related_entities(client: tuple[ODataService, Pulled]) -> None:
    service, _ = client
    forecasts, series = service.entities["Forecasts"], service.entities["Series"]
    forecast = service.query(forecasts).filter(forecasts.Sku == "SKU-0002").first()
    related = forecast.Series
    assert related.Id == forecast.SeriesId
    assert related.Sku == "SKU-0002"
    assert forecast.Run.Status == "complete"
    found = service.query(series).filter(series.Sku.startswith("SKU-000")).all()
    assert {s.Sku for s in found} == {f"SKU-000{i}" for i in range(1, 5)}
    assert all(s.LastRunId == forecast.RunId for s in found)
