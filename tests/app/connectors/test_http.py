"""The shared HTTP layer against real servers on 127.0.0.1."""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from requests.auth import HTTPBasicAuth
from werkzeug.wrappers import Request, Response

from app import __version__
from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConnectorError,
    RateLimited,
    RetryableError,
    SourceDataError,
)
from app.connectors.http import (
    HeaderAuth,
    HttpClient,
    OAuth2ClientCredentials,
    QueryParamAuth,
    RetryPolicy,
    decode_json,
    next_link,
    parse_retry_after,
    without_param,
)
from tests.fakes import rest_api as fake
from tests.fakes.rest_server import serve_responses

# Short waits so that retries cost milliseconds; Retry-After still governs 429s.
FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=5)


@pytest.fixture
def api() -> Iterator[fake.FakeRestApi]:
    with fake.serve_rest_api(30, pagination="page_number") as server:
        yield server


def client_for(api: fake.FakeRestApi, **options: object) -> HttpClient:
    options.setdefault("retry", FAST)
    options.setdefault("timeout", 5.0)
    return HttpClient(api.base_url, **options)  # type: ignore[arg-type]


def gaps(log: list[fake.Served]) -> list[float]:
    """Seconds between the end of each response and the next request, on the fake's clock."""
    return [after.started - before.finished for before, after in itertools.pairwise(log)]


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers, mimetype="application/json")


# -- requests that succeed -------------------------------------------------


def test_sends_the_product_user_agent_and_reads_json(api: fake.FakeRestApi) -> None:
    with client_for(api) as client:
        body = client.get_json("orders", params={"limit": 2})
    assert [order["id"] for order in body["orders"]] == [1, 2]
    assert api.log[0].headers["User-Agent"] == f"AccuPredix/{__version__}"
    assert api.log[0].headers["Accept"] == "application/json"


def test_paths_join_the_base_url_and_absolute_urls_stay_on_its_host(
    api: fake.FakeRestApi,
) -> None:
    with client_for(api) as client:
        assert client.url("/orders") == api.orders_url
        assert client.url("orders") == api.orders_url
        assert client.url(api.orders_url + "?page=2") == api.orders_url + "?page=2"
        with pytest.raises(ConnectorError, match=r"another host \(example\.com\)"):
            client.get("https://example.com/orders")
        with pytest.raises(ConnectorError, match="another host"):
            client.url(api.orders_url.replace("http://", "https://"))
    assert api.served == 0


def test_follows_link_headers_with_filters_on_the_first_request_only() -> None:
    with fake.serve_rest_api(12, pagination="link_header") as api, client_for(api) as client:
        since = fake.iso(fake.EPOCH)
        pages = list(client.follow_links("orders", params={"limit": 5, "updated_since": since}))
        ids = [order["id"] for page in pages for order in decode_json(page)["orders"]]
        assert ids == list(range(1, 13))
        assert [sorted(entry.params) for entry in api.log] == [
            ["limit", "updated_since"],
            ["limit", "page_info"],
            ["limit", "page_info"],
        ]
        assert next_link(pages[-1]) is None


def test_next_link_resolves_a_relative_target() -> None:
    def handler(request: Request) -> Response:
        return json_response(200, [], {"Link": '</api/orders?page_info=abc>; rel="next"'})

    with serve_responses(handler) as server, HttpClient(server.url, retry=FAST) as client:
        response = client.get("/api/orders", params={"limit": 1})
        assert next_link(response) == f"{server.url}/api/orders?page_info=abc"


# -- transient failures ----------------------------------------------------


def test_a_burst_of_5xx_is_retried(api: fake.FakeRestApi) -> None:
    api.fail_with_5xx(2, status=503)
    with client_for(api) as client:
        body = client.get_json("orders")
    assert len(body["orders"]) == 30
    assert [entry.status for entry in api.log] == [503, 503, 200]


def test_429_waits_as_long_as_retry_after_says(api: fake.FakeRestApi) -> None:
    api.fail_with_429(2, retry_after="1")
    with client_for(api) as client:
        client.get("orders")
    assert [entry.status for entry in api.log] == [429, 429, 200]
    # The backoff is 10 ms; only Retry-After can explain a second between tries.
    waits = gaps(api.log)
    assert all(wait >= 0.9 for wait in waits), waits


def test_retry_after_is_bounded_by_the_cap(api: fake.FakeRestApi) -> None:
    api.fail_with_429(2, retry_after="3600")
    policy = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0, retry_after_cap=0.2)
    started = time.monotonic()
    with client_for(api, retry=policy) as client:
        client.get("orders")
    assert [entry.status for entry in api.log] == [429, 429, 200]
    waits = gaps(api.log)
    assert all(wait >= 0.15 for wait in waits), waits
    assert time.monotonic() - started < 30, "an hour-long Retry-After must not be obeyed"


def test_retry_after_as_an_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(42)
    assert parse_retry_after(email.utils.formatdate(now - 10, usegmt=True), now=now) == 0
    assert parse_retry_after("7") == 7
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_a_slow_response_times_out_and_is_retried(api: fake.FakeRestApi) -> None:
    api.respond_slowly(1, delay=3)
    with client_for(api, timeout=0.3) as client:
        body = client.get_json("orders")
    assert len(body["orders"]) == 30
    assert api.served == 2


def test_exhausted_retries_say_how_many_attempts_over_how_long(api: fake.FakeRestApi) -> None:
    api.fail_with_5xx(10, status=502)
    policy = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05, jitter=0)
    with client_for(api, retry=policy) as client, pytest.raises(RetryableError) as caught:
        client.get("orders", params={"api_key": "query-secret-value"})
    message = str(caught.value)
    assert "HTTP 502 on GET /api/orders" in message
    assert "Gave up after 3 attempts over" in message
    assert "query-secret-value" not in message
    assert not isinstance(caught.value, RateLimited)
    assert api.served == 3


def test_exhausted_rate_limit_is_rate_limited_with_the_wait_hint(api: fake.FakeRestApi) -> None:
    api.fail_with_429(5, retry_after="0")
    policy = RetryPolicy(attempts=2, backoff=0.01, backoff_max=0.05, jitter=0)
    with client_for(api, retry=policy) as client, pytest.raises(RateLimited) as caught:
        client.get("orders")
    assert caught.value.retry_after == 0
    assert "Exceeded 2 calls per second" in str(caught.value)
    assert "Gave up after 2 attempts" in str(caught.value)


def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = RetryPolicy(attempts=2, backoff=0.01, backoff_max=0.05, jitter=0)
    with (
        HttpClient(f"http://127.0.0.1:{port}", retry=policy, timeout=2) as client,
        pytest.raises(RetryableError, match=r"refused.*Gave up after 2 attempts"),
    ):
        client.get("orders", params={"token": "never-shown-123"})


def test_retry_false_sends_once(api: fake.FakeRestApi) -> None:
    api.fail_with_5xx(1)
    with client_for(api) as client, pytest.raises(RetryableError, match="after 1 attempt over"):
        client.request("POST", "orders", retry=False)
    assert api.served == 1


# -- failures the operator must act on ---------------------------------------


def test_401_is_an_auth_error_with_the_sources_message() -> None:
    with fake.serve_rest_api(5, auth="bearer") as api:
        wrong = HeaderAuth("Authorization", "Bearer wrong-token-abcdef")
        with client_for(api, auth=wrong) as client, pytest.raises(AuthError) as caught:
            client.get("orders")
        assert api.served == 1, "credentials refused are not retried"
    message = str(caught.value)
    assert "HTTP 401 on GET /api/orders" in message
    assert "Invalid API key or access token" in message
    assert "wrong-token-abcdef" not in message


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            403,
            {"errors": ["Scope read_orders missing", "shop frozen"]},
            "Scope read_orders missing",
        ),
        (
            403,
            {"error": {"code": 7, "message": "Forbidden for this key"}},
            "Forbidden for this key",
        ),
        (401, {"error": "invalid_token", "error_description": "Token expired"}, "Token expired"),
        (403, {"errors": {"shop": ["is closed"]}}, "shop: is closed"),
    ],
)
def test_auth_errors_quote_the_json_error_in_any_common_shape(
    status: int, body: object, expected: str
) -> None:
    with (
        serve_responses(lambda request: json_response(status, body)) as server,
        HttpClient(server.url, retry=FAST) as client,
        pytest.raises(AuthError) as caught,
    ):
        client.get("data")
    assert expected in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)


def test_a_short_text_body_is_the_message_and_html_is_not() -> None:
    def handler(request: Request) -> Response:
        if request.path == "/text":
            return Response("Quota exhausted for key\nmore detail", 400, mimetype="text/plain")
        return Response("<html><body><h1>Bad</h1></body></html>", 400, mimetype="text/html")

    with serve_responses(handler) as server, HttpClient(server.url, retry=FAST) as client:
        with pytest.raises(
            ConnectorError, match=r"HTTP 400 on GET /text: Quota exhausted for key\.$"
        ):
            client.get("text")
        with pytest.raises(ConnectorError) as caught:
            client.get("html")
    assert "<html>" not in str(caught.value)
    assert str(caught.value).endswith(": BAD REQUEST.")


def test_404_names_the_path_but_no_query_values(api: fake.FakeRestApi) -> None:
    with client_for(api) as client, pytest.raises(ConnectorError) as caught:
        client.get("nope", params={"api_key": "k-123456789", "since": "2024"})
    error = caught.value
    assert type(error) is ConnectorError
    assert "HTTP 404 on GET /api/nope" in str(error)
    assert "No route for /api/nope" in str(error)
    assert "k-123456789" not in str(error)
    assert "2024" not in str(error)


def test_a_body_that_is_not_json_is_a_source_data_error_with_an_excerpt() -> None:
    page = "<html><head><title>Login</title></head><body>" + "x" * 500 + "</body></html>"
    with (
        serve_responses(lambda request: Response(page, 200, mimetype="text/html")) as server,
        HttpClient(server.url, retry=FAST) as client,
        pytest.raises(SourceDataError) as caught,
    ):
        client.get_json("orders")
    message = str(caught.value)
    assert "GET /orders" in message
    assert "text/html" in message
    assert "<html><head><title>Login</title>" in message
    assert len(message) < 300


# -- cancellation ------------------------------------------------------------


def test_cancel_before_the_first_attempt_sends_nothing(api: fake.FakeRestApi) -> None:
    cancel = threading.Event()
    cancel.set()
    with client_for(api, cancel=cancel) as client, pytest.raises(Cancelled):
        client.get("orders")
    assert api.served == 0


def test_cancel_ends_a_retry_wait_early(api: fake.FakeRestApi) -> None:
    api.fail_with_429(1, retry_after="30")
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    started = time.monotonic()
    timer.start()
    try:
        with client_for(api, cancel=cancel) as client, pytest.raises(Cancelled):
            client.get("orders")
    finally:
        timer.join()
    assert time.monotonic() - started < 10, "the 30 s wait must end when cancelled"
    assert api.served == 1


# -- auth objects -------------------------------------------------------------


def test_api_key_in_the_query_replaces_any_value_already_there() -> None:
    with fake.serve_rest_api(3, auth="api_key_query") as api:
        auth = QueryParamAuth(fake.API_KEY_PARAM, fake.API_KEY)
        with client_for(api, auth=auth) as client:
            client.get(api.orders_url + "?api_key=stale&limit=1")
        assert api.log[0].params == {"api_key": fake.API_KEY, "limit": "1"}
    assert without_param("http://h/p?a=1&api_key=x&b=2", "api_key") == "http://h/p?a=1&b=2"


def test_credential_headers_are_dropped_on_a_redirect_to_another_host() -> None:
    with serve_responses(lambda request: json_response(200, {})) as target:

        def redirect(request: Request) -> Response:
            return Response("", 302, headers={"Location": f"{target.url}/landing"})

        with serve_responses(redirect) as origin:
            with HttpClient(
                origin.url,
                auth=HeaderAuth("X-API-Key", "header-secret-123"),
                headers={"X-Trace": "t1"},
                retry=FAST,
            ) as client:
                client.get("start")
            with HttpClient(origin.url, auth=HTTPBasicAuth("u", "basic-pass"), retry=FAST) as c:
                c.get("start")
    assert origin.requests[0].headers["X-Api-Key"] == "header-secret-123"
    first, second = target.requests
    assert first.path == "/landing"
    assert "X-Api-Key" not in first.headers
    assert first.headers["X-Trace"] == "t1"
    assert "Authorization" not in second.headers


def test_oauth2_token_is_fetched_once_and_reused() -> None:
    with fake.serve_rest_api(5, auth="oauth2") as api:
        auth = OAuth2ClientCredentials(
            api.token_url, fake.CLIENT_ID, fake.CLIENT_SECRET, scope="orders:read"
        )
        with client_for(api, auth=auth) as client:
            for _ in range(3):
                client.get("orders")
        assert api.token_requests == 1
        assert api.token_scopes == ["orders:read"]
        assert [entry.status for entry in api.log] == [200, 200, 200]


def test_oauth2_token_is_renewed_when_it_is_about_to_expire() -> None:
    with fake.serve_rest_api(5, auth="oauth2", token_lifetime=5) as api:
        # A leeway longer than the lifetime makes every token due for renewal.
        auth = OAuth2ClientCredentials(api.token_url, fake.CLIENT_ID, fake.CLIENT_SECRET, leeway=10)
        with client_for(api, auth=auth) as client:
            for _ in range(3):
                client.get("orders")
        assert api.token_requests == 3
        assert len(set(api.issued_tokens)) == 3


def test_oauth2_token_refused_by_the_api_is_renewed_once() -> None:
    with fake.serve_rest_api(5, auth="oauth2") as api:
        auth = OAuth2ClientCredentials(api.token_url, fake.CLIENT_ID, fake.CLIENT_SECRET)
        with client_for(api, auth=auth) as client:
            client.get("orders")
            api.revoke_tokens()
            client.get("orders")
        assert [entry.status for entry in api.log] == [200, 401, 200]
        assert api.token_requests == 2


def test_oauth2_bad_client_secret_is_an_auth_error_without_the_secret() -> None:
    with fake.serve_rest_api(5, auth="oauth2") as api:
        auth = OAuth2ClientCredentials(api.token_url, fake.CLIENT_ID, "wrong-secret-7777")
        with client_for(api, auth=auth) as client, pytest.raises(AuthError) as caught:
            client.get("orders")
        assert api.served == 0
    assert "Client authentication failed" in str(caught.value)
    assert "wrong-secret-7777" not in str(caught.value)


def test_oauth2_token_endpoint_outage_is_retryable() -> None:
    with serve_responses(lambda request: json_response(503, {"error": "down"})) as server:
        auth = OAuth2ClientCredentials(f"{server.url}/token", "id", "secret-abcdef")
        policy = RetryPolicy(attempts=2, backoff=0.01, backoff_max=0.05, jitter=0)
        with (
            HttpClient(server.url, auth=auth, retry=policy) as client,
            pytest.raises(RetryableError, match=r"token endpoint.*HTTP 503.*Gave up after 2"),
        ):
            client.get("orders")
    assert [arrived.path for arrived in server.requests] == ["/token", "/token"]


def test_oauth2_wrong_token_url_is_a_plain_error() -> None:
    with serve_responses(lambda request: json_response(404, {"message": "No such page"})) as server:
        auth = OAuth2ClientCredentials(f"{server.url}/wrong", "id", "secret-abcdef")
        with (
            HttpClient(server.url, auth=auth, retry=FAST) as client,
            pytest.raises(ConnectorError) as caught,
        ):
            client.get("orders")
    assert type(caught.value) is ConnectorError
    assert "(HTTP 404 on POST /wrong): No such page." in str(caught.value)
    assert len(server.requests) == 1


# -- logs ----------------------------------------------------------------------


def test_debug_log_shows_method_path_status_and_no_query_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with fake.serve_rest_api(5, auth="api_key_query") as api:
        api.fail_with_5xx(1)
        auth = QueryParamAuth(fake.API_KEY_PARAM, fake.API_KEY)
        with client_for(api, auth=auth) as client:
            client.get("orders", params={"updated_since": "2024-05-01T00:00:00Z"})
    ours = [r.getMessage() for r in caplog.records if r.name == "app.connectors.http"]
    assert any("GET /api/orders -> 503" in line for line in ours)
    assert any("GET /api/orders -> 200" in line for line in ours)
    assert any("Retrying in" in line for line in ours)
    assert not any("2024-05-01" in line for line in ours)
    assert fake.API_KEY not in caplog.text
    assert all(fake.API_KEY not in r.getMessage() for r in caplog.records)
