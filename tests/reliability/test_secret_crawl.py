"""A crawl of every API and OData answer, and of the server's logs, for stored secret values.

Connectors are created through the services with known secret values (a REST
bearer token and OAuth client secret, an SFTP password, a Shopify access
token and webhook secret, QuickBooks and Xero access and refresh tokens), the
OAuth apps' client secrets are in the environment, and the two REST
connectors sync from the server's scheduler, so their secrets are used while
it runs. Then every route of the OpenAPI document is read with real ids, every
list to its last page, every OData entity set to its last nextLink, the
webhook and OAuth routes with good and bad input; no answer (body or header)
and no line of the server's logs may hold any of the values.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from app.services import connectors as connector_service
from app.store.db import Database
from app.store.models import Alert, Connector, ForecastRun, Series
from tests.app.webhooks.support import SHOP, delivery_headers, simple_order
from tests.conftest import TEST_KEY
from tests.embedded_api.api_support import CONNECTOR_SECRET, seed_world
from tests.fakes.rest_api import ORDER_LINES_MAPPING, serve_rest_api
from tests.reliability.stores import HOURLY, VAULT, create_key, synced_once
from tests.reliability.support import FIGURES, Serve, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

PROVIDERS = ("SHOPIFY", "QUICKBOOKS", "XERO")
MAX_PAGES = 50


def secret(name: str) -> str:
    """A value no answer could contain by chance."""
    return f"crawl-{name}-{secrets.token_hex(12)}"


@dataclass
class Crawl:
    """What the crawl read: each answer's method, URL, status, headers and body."""

    base: str
    session: requests.Session
    answers: list[tuple[str, str, int, str]] = field(default_factory=list)

    def fetch(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        url = url if "://" in url else self.base + url
        for _ in range(10):
            response = self.session.request(method, url, timeout=60, **kwargs)
            FIGURES.add("requests served")
            if response.status_code != 429:
                break
            # The per-key rate limit: wait as a client would; the 429 is an answer too.
            self.answers.append((method, url, 429, response.text))
            time.sleep(float(response.headers.get("Retry-After", "1")))
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.answers.append((method, url, response.status_code, headers + "\n" + response.text))
        return response

    def pages(self, path: str, **kwargs: Any) -> None:
        """Every page of a list, following the Link header's next URL."""
        url: str | None = path
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self.fetch("GET", url, **kwargs)
            url = response.links.get("next", {}).get("url")

    def odata(self, path: str, **kwargs: Any) -> None:
        """Every page of an OData collection, following ``@odata.nextLink``."""
        url: str | None = path
        headers = {"Prefer": "odata.maxpagesize=3", **kwargs.pop("headers", {})}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self.fetch("GET", url, headers=headers, **kwargs)
            url = response.json().get("@odata.nextLink") if response.status_code == 200 else None


@pytest.fixture
def oauth_env() -> dict[str, str]:
    env = {}
    for provider in PROVIDERS:
        env[f"ACCUPREDIX_OAUTH_{provider}_CLIENT_ID"] = f"client-{provider.lower()}"
        env[f"ACCUPREDIX_OAUTH_{provider}_CLIENT_SECRET"] = secret(f"{provider}-client")
    return env


def add_connectors(
    database: Database, bearer_api: Any, oauth_api: Any
) -> tuple[dict[str, str], list[int]]:
    """One connector of each kind that holds secrets: their values by name, and the scheduled."""
    values = {
        "sftp password": secret("sftp-password"),
        "shopify token": "shpat_" + secrets.token_hex(16),
        "shopify webhook secret": secret("shopify-webhook"),
        "quickbooks access": secret("qbo-access"),
        "quickbooks refresh": secret("qbo-refresh"),
        "xero access": secret("xero-access"),
        "xero refresh": secret("xero-refresh"),
    }

    def add(preset: str, name: str, settings: dict[str, Any], **kwargs: Any) -> int:
        created = connector_service.add_connector(
            database, VAULT, preset=preset, name=name, values=settings, **kwargs
        )
        return int(created["id"])

    # The fakes accept only their own credentials, so the scheduled syncs use
    # these for real: the token in a header, the client secret at the token endpoint.
    bearer = bearer_api.connector_settings()
    values["rest token"] = bearer["token"]
    scheduled = [add("custom_rest", "bearer", bearer, mapping=ORDER_LINES_MAPPING, schedule=HOURLY)]
    oauth = oauth_api.connector_settings()
    values["rest client secret"] = oauth["client_secret"]
    scheduled.append(
        add(
            "custom_rest", "client credentials", oauth, mapping=ORDER_LINES_MAPPING, schedule=HOURLY
        )
    )
    add(
        "custom_sftp",
        "sftp",
        {
            "host": "127.0.0.1",
            "port": 9,
            "username": "crawler",
            "password": values["sftp password"],
        },
    )
    add(
        "shopify",
        "shop",
        {
            "shop": SHOP,
            "access_token": values["shopify token"],
            "api_secret_key": values["shopify webhook secret"],
        },
    )
    add(
        "quickbooks",
        "books",
        {
            "realm_id": "9130357766890123",
            "access_token": values["quickbooks access"],
            "refresh_token": values["quickbooks refresh"],
        },
    )
    add(
        "xero",
        "xero",
        {
            "tenant_id": str(uuid.uuid4()),
            "tenant_name": "Harbour Ltd",
            "access_token": values["xero access"],
            "refresh_token": values["xero refresh"],
        },
    )
    return values, scheduled


@pytest.fixture
def served(tmp_path: Path, oauth_env: dict[str, str]) -> Iterator[tuple[Serve, Database, dict]]:
    data = tmp_path / "data"
    data.mkdir()
    database = Database(f"sqlite:///{data / 'accupredix.db'}")
    database.upgrade()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACCUPREDIX_DATA_DIR", str(data))
        world = seed_world(database)  # runs, series, alerts, safety stock; two organisations
    with (
        serve_rest_api(12, auth="bearer", pagination="link_header") as bearer_api,
        serve_rest_api(12, auth="oauth2", pagination="cursor") as oauth_api,
    ):
        values, scheduled = add_connectors(database, bearer_api, oauth_api)
        values["seeded connector secret"] = CONNECTOR_SECRET
        values.update({name: value for name, value in oauth_env.items() if "SECRET" in name})
        values["vault key"] = TEST_KEY
        keys = {"crawl": create_key(database, "read,write,odata"), **world.keys}
        server = Serve(data, **oauth_env).start()
        try:
            wait_for(lambda: synced_once(database, scheduled), 60, "the scheduled syncs")
            yield server, database, {"secrets": values, "keys": keys}
        finally:
            server.stop()
            database.dispose()


def ids_of(database: Database) -> dict[str, list[int]]:
    with database.session() as session:
        return {
            "run_id": list(session.scalars(select(ForecastRun.id))),
            "series_id": list(session.scalars(select(Series.id))),
            "alert_id": list(session.scalars(select(Alert.id))),
            "connector_id": list(session.scalars(select(Connector.id))),
        }


def expand(template: str, ids: dict[str, list[int]]) -> list[str]:
    """The path with each of its parameters set to every stored id of that kind."""
    paths = [template]
    for name in re.findall(r"\{(\w+)\}", template):
        paths = [p.replace("{" + name + "}", str(i)) for p in paths for i in ids[name]]
    return paths


def crawl_api(crawl: Crawl, ids: dict[str, list[int]], keys: dict[str, str]) -> None:
    document = crawl.fetch("GET", "/api/v1/openapi.json").json()
    assert document["paths"], "the document lists the routes"
    bearer = {"Authorization": f"Bearer {keys['crawl']}"}
    for route, operations in document["paths"].items():
        for method, operation in operations.items():
            for path in expand("/api/v1" + route, ids):
                if method == "get":
                    crawl.pages(path, headers=bearer)
                    for parameter in operation.get("parameters", []):
                        for value in parameter.get("schema", {}).get("enum", []):
                            crawl.pages(f"{path}?{parameter['name']}={value}", headers=bearer)
                else:
                    crawl.fetch(method.upper(), path, headers=bearer, json={})
                # Refusals are answers too: no key, a revoked one, another organisation's.
                crawl.fetch(method.upper(), path)
                for other in ("revoked", "other", "starter"):
                    crawl.fetch(
                        method.upper(), path, headers={"Authorization": f"Bearer {keys[other]}"}
                    )


def crawl_odata(crawl: Crawl, keys: dict[str, str]) -> None:
    bearer = {"Authorization": f"Bearer {keys['crawl']}"}
    service = crawl.fetch("GET", "/odata/", headers=bearer).json()
    crawl.fetch("GET", "/odata/$metadata", headers=bearer)
    for entity_set in service["value"]:
        name = entity_set["url"]
        crawl.odata(f"/odata/{name}", headers=bearer)
        # As Tableau sends the key (HTTP Basic, the key as password) and as Power BI's
        # Web API option does (a query parameter, which the nextLinks carry on).
        crawl.odata(f"/odata/{name}?$count=true", auth=("tableau", keys["crawl"]))
        crawl.odata(f"/odata/{name}?api_key={keys['crawl']}")
        first = crawl.fetch("GET", f"/odata/{name}?$top=1", headers=bearer).json()["value"]
        if first:
            crawl.fetch("GET", f"/odata/{name}({first[0]['Id']})", headers=bearer)
        crawl.fetch("GET", f"/odata/{name}?$filter=Nope eq 1", headers=bearer)
    crawl.fetch("GET", "/odata/Series")


def crawl_the_rest(crawl: Crawl, ids: dict[str, list[int]], webhook_secret: str) -> None:
    crawl.fetch("GET", "/healthz")
    crawl.fetch("GET", "/nowhere")
    for connector_id in ids["connector_id"]:
        path = f"/webhooks/connectors/shopify/{connector_id}"
        body = simple_order(8_000 + connector_id).body()
        crawl.fetch("POST", path, data=body, headers=delivery_headers(body, secret=webhook_secret))
        crawl.fetch("POST", path, data=body, headers=delivery_headers(body, secret="wrong"))
    for provider in ("shopify", "quickbooks", "xero", "nosuch"):
        crawl.fetch("GET", f"/oauth/{provider}/callback?state=forged&code=abc&realmId=1")
        crawl.fetch("GET", f"/oauth/{provider}/callback?error=access_denied&state=forged")


def test_no_answer_and_no_log_line_holds_a_secret(served: tuple[Serve, Database, dict]) -> None:
    server, database, known = served
    values: dict[str, str] = known["secrets"]
    keys: dict[str, str] = known["keys"]
    crawl = Crawl(server.url, requests.Session())
    try:
        ids = ids_of(database)
        crawl_api(crawl, ids, keys)
        crawl_odata(crawl, keys)
        crawl_the_rest(crawl, ids, values["shopify webhook secret"])
    finally:
        crawl.session.close()
    assert server.stop() == 0, server.output()

    statuses = {status for *_, status, _ in crawl.answers}
    assert {200, 401, 403, 404} <= statuses, statuses
    assert max(statuses) < 500, [a[:3] for a in crawl.answers if a[2] >= 500][:5]
    assert len(crawl.answers) > 200
    # The routes that hold connectors were read, their secrets shown as set but masked.
    shown = [
        text
        for _, url, status, text in crawl.answers
        if "/api/v1/connectors/" in url and status == 200
    ]
    assert len(shown) >= 6, "every connector of the organisation was read"
    assert all("********" in text for text in shown if '"preset":"demo"' not in text)
    for method, url, status, text in crawl.answers:
        found = [name for name, value in values.items() if value in text]
        assert not found, f"{method} {url} ({status}) shows {found}"

    # The API keys travel in requests, so they may appear in answers (a nextLink
    # keeps ?api_key=); the logs must hold none of them either.
    logs = {
        "server log": (server.data_dir / "logs" / "accupredix.log").read_text(errors="replace"),
        "serve output": server.log.read_text(errors="replace"),
    }
    assert "sync 1 complete" in logs["server log"], "the syncs ran and logged"
    everything = {**values, **{f"API key {name}": key for name, key in keys.items()}}
    for where, text in logs.items():
        found = [name for name, value in everything.items() if value in text]
        assert not found, f"the {where} shows {found}"
