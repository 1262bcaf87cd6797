"""The OData reading and sign-in pieces the Dynamics presets share, on scripted servers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from app.connectors.dynamics import identity, odata
from app.connectors.errors import AuthError, ConnectorError, RateLimited, SourceDataError
from app.connectors.http import HttpClient, RetryPolicy
from tests.fakes import dynamics as fake
from tests.fakes.rest_server import ScriptedServer, serve_responses

FAST = RetryPolicy(attempts=2, backoff=0.01, backoff_max=0.02, jitter=0.01, retry_after_cap=1)


def odata_json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def client_for(server: ScriptedServer) -> HttpClient:
    client = HttpClient(server.url, name="Service", retry=FAST)
    client.session.hooks["response"].append(odata.raise_client_errors("Service"))
    return client


def reader(client: HttpClient, **overrides: Any) -> odata.IncrementalReader:
    values: dict[str, Any] = {
        "client": client,
        "scope": "here",
        "first_request": lambda since: ("rows", {} if since is None else {"$filter": since}),
        "modified": lambda row: (row.get("modifiedon"),),
        "to_records": list,
        "page_size": 2,
    }
    values.update(overrides)
    return odata.IncrementalReader(**values)


# -- errors --------------------------------------------------------------------------------


def test_a_final_4xx_keeps_the_services_code_and_message() -> None:
    def answer(request: Request) -> Response:
        return odata_json(
            {"error": {"code": "Internal_CompanyNotFound", "message": "No such company."}}, 404
        )

    with (
        serve_responses(answer) as server,
        client_for(server) as client,
        pytest.raises(odata.ODataError) as caught,
    ):
        client.get_json("companies(1)/salesInvoices", params={"$top": 1})
    error = caught.value
    assert (error.status, error.code, error.said) == (
        404,
        "Internal_CompanyNotFound",
        "No such company.",
    )
    assert str(error) == (
        "Service answered HTTP 404 on GET /companies(1)/salesInvoices: No such company "
        "(Internal_CompanyNotFound)."
    )
    assert len(server.requests) == 1  # a final answer is not retried


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthError), (403, AuthError), (429, RateLimited)]
)
def test_refusals_that_a_new_credential_or_a_wait_may_fix_are_left_to_the_client(
    status: int, error: type[Exception]
) -> None:
    def answer(request: Request) -> Response:
        return odata_json({"error": {"code": "x", "message": "Go away."}}, status)

    with (
        serve_responses(answer) as server,
        client_for(server) as client,
        pytest.raises(error) as caught,
    ):
        client.get_json("rows")
    assert not isinstance(caught.value, odata.ODataError)
    assert "Go away" in str(caught.value)


def test_an_error_without_an_odata_body_quotes_its_start() -> None:
    def answer(request: Request) -> Response:
        return Response("Bad gateway configuration", status=400, content_type="text/plain")

    with (
        serve_responses(answer) as server,
        client_for(server) as client,
        pytest.raises(odata.ODataError) as caught,
    ):
        client.get_json("rows")
    assert caught.value.code is None
    assert "Bad gateway configuration" in str(caught.value)


# -- paging --------------------------------------------------------------------------------


def test_a_next_link_that_does_not_move_on_stops_the_pull() -> None:
    def answer(request: Request) -> Response:
        return odata_json({"value": [{"id": 1}], "@odata.nextLink": request.url})

    with serve_responses(answer) as server, client_for(server) as client:
        pages = reader(client).pages(None)
        next(pages)
        with pytest.raises(SourceDataError) as caught:
            next(pages)
    assert "does not move on" in str(caught.value)


def test_a_next_link_to_another_host_is_refused_before_it_is_stored() -> None:
    def answer(request: Request) -> Response:
        return odata_json({"value": [], "@odata.nextLink": "https://elsewhere.example/rows?p=2"})

    with (
        serve_responses(answer) as server,
        client_for(server) as client,
        pytest.raises(ConnectorError) as caught,
    ):
        list(reader(client).pages(None))
    assert "another host" in str(caught.value)


def test_a_body_without_a_value_list_is_named() -> None:
    def answer(request: Request) -> Response:
        return odata_json({"items": []})

    with (
        serve_responses(answer) as server,
        client_for(server) as client,
        pytest.raises(SourceDataError) as caught,
    ):
        list(reader(client).pages(None))
    assert 'without a "value" list' in str(caught.value)
    assert "items" in str(caught.value)


def test_cursors_carry_the_link_the_filter_and_the_watermark() -> None:
    rows = [
        {"id": n, "modifiedon": f"2024-05-0{n}T10:00:00Z", "@odata.etag": "W/1"} for n in (1, 2, 3)
    ]

    def answer(request: Request) -> Response:
        start = int(request.args.get("$skiptoken", 0))
        body: dict[str, Any] = {"value": rows[start : start + 2]}
        if start + 2 < len(rows):
            body["@odata.nextLink"] = f"{request.host_url}rows?$skiptoken={start + 2}"
        return odata_json(body)

    cursor = {"scope": "here", "watermark": "2024-05-01T09:00:00Z", "lookback_seconds": 5}
    with serve_responses(answer) as server, client_for(server) as client:
        pages = list(reader(client).pages(cursor))
    first, last = pages
    assert [r["id"] for r in first.records] == [1, 2]
    assert first.records[0] == {"id": 1, "modifiedon": "2024-05-01T10:00:00Z"}
    assert first.cursor["next"].endswith("rows?$skiptoken=2")
    assert first.cursor["since"] == "2024-05-01T08:49:55Z"  # watermark - 10 min - 5 s
    assert last.cursor["watermark"] == "2024-05-03T10:00:00Z"
    assert "next" not in last.cursor
    assert server.requests[0].query == {"$filter": "2024-05-01T08:49:55Z"}
    assert server.requests[1].query == {"$skiptoken": "2"}
    assert all(r.headers["Prefer"] == "odata.maxpagesize=2" for r in server.requests)


def test_the_watermark_keeps_the_sources_text_and_skips_what_it_cannot_read() -> None:
    mark = odata.Watermark(None)
    mark.update(["2024-05-01T10:00:00.500Z", None, "not a time", "2024-05-01T09:00:00Z"])
    assert mark.value == "2024-05-01T10:00:00.500Z"
    assert odata.filter_time(mark.moment - dt.timedelta(seconds=1)) == "2024-05-01T09:59:59Z"


# -- $metadata -----------------------------------------------------------------------------


def test_metadata_lists_properties_with_enumerations_as_text() -> None:
    bc = fake.FakeBusinessCentral(fake.FakeIdentity(), invoices=0, orders=0, page_cap=5)
    found = odata.entity_properties(bc.metadata(fake.CUSTOM_ROUTE), "BC")
    line = {p.name: p.kind for p in found["salesInvoiceLine"]}
    assert line["lineType"] == "string"
    assert line["quantity"] == "decimal"
    assert line["sequence"] == "integer"
    assert line["binCode"] == "string"
    assert {p.name for p in found["salesInvoice"]} >= {"salesChannel", "lastModifiedDateTime"}


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ("<html><body>Sign in", "not XML"),
        ('<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"/>', "without entity"),
    ],
)
def test_a_metadata_document_that_cannot_be_read_is_named(document: str, said: str) -> None:
    with pytest.raises(SourceDataError) as caught:
        odata.entity_properties(document, "BC")
    assert said in str(caught.value)


# -- sign-in -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "good"),
    [
        (fake.TENANT_ID, True),
        ("contoso.onmicrosoft.com", True),
        ("contoso", False),
        ("contoso.onmicrosoft.com/../common", False),
        ("", False),
    ],
)
def test_tenants_are_a_guid_or_a_domain(tenant: str, good: bool) -> None:
    assert (identity.check_tenant(tenant) is None) is good


def test_the_client_secret_goes_to_the_tenants_v2_token_endpoint() -> None:
    with fake.serve_business_central(invoices=0, orders=0) as bc:
        auth = identity.client_credentials(
            bc.login_url,
            fake.TENANT_ID,
            fake.CLIENT_ID,
            fake.CLIENT_SECRET,
            "https://api.businesscentral.dynamics.com/.default",
            timeout=5,
            leeway=1,
        )
        with HttpClient(bc.api_url, auth=auth, retry=FAST) as client:
            body = client.get_json(f"/v2.0/{fake.TENANT_ID}/production/api/v2.0/companies")
    assert identity.token_url("https://login.microsoftonline.com/", "t") == (
        "https://login.microsoftonline.com/t/oauth2/v2.0/token"
    )
    assert len(body["value"]) == len(fake.COMPANIES)
    assert bc.identity.token_scopes == ["https://api.businesscentral.dynamics.com/.default"]


def test_a_scope_without_default_is_refused_with_the_identity_platforms_words() -> None:
    with fake.serve_business_central(invoices=0, orders=0) as bc:
        auth = identity.client_credentials(
            bc.login_url,
            fake.TENANT_ID,
            fake.CLIENT_ID,
            fake.CLIENT_SECRET,
            "https://api.businesscentral.dynamics.com/user_impersonation",
            timeout=5,
            leeway=1,
        )
        with (
            HttpClient(bc.api_url, auth=auth, retry=FAST) as client,
            pytest.raises(AuthError) as caught,
        ):
            client.get_json(f"/v2.0/{fake.TENANT_ID}/production/api/v2.0/companies")
    assert "AADSTS1002012" in str(caught.value)
    assert bc.api.log == []
