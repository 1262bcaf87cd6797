"""The custom REST preset against the fake REST API on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from typing import Any

import pytest
from werkzeug.wrappers import Response

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.custom_rest import CustomRestPreset, since_value
from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConfigurationError,
    ConnectorError,
    RetryableError,
    SourceDataError,
)
from app.connectors.fields import FieldKind
from app.connectors.http import RetryPolicy
from app.connectors.registry import get_preset
from tests.fakes import rest_api as fake
from tests.fakes.rest_server import serve_responses

PAGE = 7
FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=5)
# Each pagination style with one representative auth; together they use every auth once.
STYLE_AUTH = [
    ("none", "none"),
    ("page_number", "basic"),
    ("offset_limit", "api_key_header"),
    ("cursor", "bearer"),
    ("link_header", "oauth2"),
    ("next_url", "api_key_query"),
]
PAGED = [style for style in fake.PAGINATIONS if style != "none"]
SECRETS = (fake.PASSWORD, fake.TOKEN, fake.API_KEY, fake.CLIENT_SECRET)


WRONG = "wrong-credential-4242"
# The setting that carries each auth style's secret.
SECRET_SETTING = {
    "basic": "password",
    "bearer": "token",
    "api_key_header": "api_key",
    "api_key_query": "api_key",
    "oauth2": "client_secret",
}


def settings(api: fake.FakeRestApi, **overrides: Any) -> dict[str, Any]:
    """The preset's settings for the fake, at a small page size."""
    if api.pagination != "none":
        overrides.setdefault("page_size", PAGE)
    return api.connector_settings(**overrides)


@pytest.fixture
def preset() -> CustomRestPreset:
    preset = CustomRestPreset()
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    return preset


def pull(preset: CustomRestPreset, values: dict[str, Any], cursor: Any = None) -> list[Page]:
    return list(preset.pull(SourceConfig(dict(values)), cursor))


def ids(pages: list[Page]) -> list[int]:
    return [record["id"] for page in pages for record in page.records]


def page_state(cursor: dict[str, Any]) -> set[str]:
    return set(cursor) & {"page", "offset", "cursor", "url"}


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- declaration and validation ----------------------------------------------------


def test_the_preset_is_registered_with_its_declared_fields() -> None:
    assert get_preset("custom_rest") is CustomRestPreset
    assert CustomRestPreset.display_name == "Custom REST API"
    assert CustomRestPreset.category is Category.CUSTOM
    assert CustomRestPreset.secret_fields() == {"password", "token", "api_key", "client_secret"}
    specs = {spec.name: spec for spec in CustomRestPreset.fields}
    assert specs["password"].visible_when == {"auth": ("basic",)}
    assert specs["api_key"].visible_when == {"auth": ("api_key_header", "api_key_query")}
    assert specs["client_secret"].kind is FieldKind.SECRET
    assert specs["page_param"].visible_when == {"pagination": ("page_number",)}
    assert specs["overlap_minutes"].default == 10
    assert set(specs["pagination"].choices) == set(fake.PAGINATIONS)


def test_a_missing_base_url_is_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        CustomRestPreset.validate({"resource_path": "/orders"})
    assert caught.value.fields == {"base_url": "is required"}
    assert "Base URL is required" in str(caught.value)


@pytest.mark.parametrize(
    ("values", "field", "problem"),
    [
        ({"base_url": "https://user:pw@api.example.com"}, "base_url", "user name or password"),
        ({"incremental_param": "updated_since"}, "updated_field", "is required"),
        ({"extra_headers": "X-Ok: 1\nno colon here"}, "extra_headers", "line 2"),
        ({"pagination": "page_number", "page_size": 0}, "page_size", "at least 1"),
        ({"pagination": "page_number", "page_size": 2.5}, "page_size", "whole number"),
        ({"auth": "basic", "username": "u"}, "password", "is required"),
        ({"auth": "oauth2_client_credentials", "client_id": "c"}, "token_url", "is required"),
        ({"pagination": "sideways"}, "pagination", "must be one of"),
        ({"page_parm": "p"}, "page_parm", "not a setting"),
    ],
)
def test_bad_settings_are_refused_by_name(values: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        CustomRestPreset.validate({"base_url": "https://api.example.com", **values})
    assert problem in caught.value.fields[field]


def test_defaults_fill_in_and_hidden_settings_are_dropped() -> None:
    out = CustomRestPreset.validate(
        {"base_url": "https://api.example.com/v1/", "pagination": "page_number", "token": "x"}
    )
    assert out["base_url"] == "https://api.example.com/v1"
    assert out["page_param"] == "page"
    assert out["first_page"] == 1
    assert out["page_size"] == 100
    assert out["page_size_param"] == "limit"
    assert out["overlap_minutes"] == 10
    assert "token" not in out, "a bearer token is hidden when auth is none"
    assert "offset_param" not in out


def test_since_value_goes_back_by_the_overlap_in_the_sources_format() -> None:
    ten = dt.timedelta(minutes=10)
    assert since_value("2024-05-01T12:00:00Z", ten) == "2024-05-01T11:50:00Z"
    assert since_value("2024-05-01T14:00:00+02:00", ten) == "2024-05-01T11:50:00Z"
    assert since_value("2024-05-01T12:00:00.250000", ten) == "2024-05-01T11:50:00.250000"
    assert since_value(1_714_564_800, ten) == 1_714_564_200
    assert since_value(1_714_564_800_000, ten) == 1_714_564_200_000
    assert since_value("1714564800", ten) == "1714564200"


# -- reading every record ----------------------------------------------------------


@pytest.mark.parametrize(("style", "auth"), STYLE_AUTH)
def test_a_full_pull_reads_every_record_once_in_order(
    preset: CustomRestPreset, style: str, auth: str
) -> None:
    with fake.serve_rest_api(23, pagination=style, auth=auth) as api:
        pages = pull(preset, settings(api))
        assert ids(pages) == list(range(1, 24))
        assert [record for page in pages for record in page.records] == [
            api.order(order_id) for order_id in range(1, 24)
        ]
        assert {entry.status for entry in api.log} == {200}
        expected_requests = {"none": 1, "page_number": 5, "offset_limit": 5}.get(style, 4)
        assert api.served == expected_requests
    if style != "none":
        assert [len(page.records) for page in pages[:3]] == [PAGE] * 3
    for page in pages[:-1]:
        assert len(page_state(page.cursor)) == 1
    if style in ("page_number", "offset_limit"):
        assert {page.total for page in pages} == {23}, "read from total_path"
    final = pages[-1].cursor
    assert not page_state(final)
    assert final["watermark"] == api.order(23)["updated_at"]


def test_a_bare_list_and_a_nested_records_path_are_read(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(9, pagination="page_number", records_key=None) as api:
        assert ids(pull(preset, settings(api, records_path=""))) == list(range(1, 10))
    with fake.serve_rest_api(9, pagination="cursor", records_key="data.orders") as api:
        assert ids(pull(preset, settings(api, records_path="data.orders"))) == list(range(1, 10))


def test_a_wrong_records_path_says_where_the_list_is(preset: CustomRestPreset) -> None:
    with (
        fake.serve_rest_api(3, pagination="page_number") as api,
        pytest.raises(SourceDataError) as caught,
    ):
        pull(preset, settings(api, records_path="items"))
    assert "'items' is not a list of records" in str(caught.value)
    assert "the response has a list in orders" in str(caught.value)


def test_a_source_that_ignores_the_page_parameter_is_stopped(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(30, pagination="page_number") as api:
        with pytest.raises(SourceDataError, match="same page again"):
            pull(preset, settings(api, page_param="p"))
        assert api.served == 2


def test_a_capped_page_size_does_not_end_the_pull_early(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(25, pagination="offset_limit", max_page_size=10) as api:
        pages = pull(preset, settings(api, page_size=50))
    assert ids(pages) == list(range(1, 26))
    assert [len(page.records) for page in pages] == [10, 10, 5, 0]


def test_extra_headers_are_sent(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(3, pagination="none") as api:
        pull(preset, settings(api, extra_headers="X-Tenant: acme\n\nX-Trace-Id: 42"))
        assert api.log[0].headers["X-Tenant"] == "acme"
        assert api.log[0].headers["X-Trace-Id"] == "42"


def test_a_next_url_on_another_host_is_refused(preset: CustomRestPreset) -> None:
    body = {"orders": [{"id": 1}], "next": "https://example.com/orders?page=2"}
    with serve_responses(lambda request: Response(json.dumps(body), 200)) as server:
        values = {"base_url": server.url, "records_path": "orders", "pagination": "next_url"}
        with pytest.raises(ConnectorError, match=r"another host \(example\.com\)"):
            pull(preset, values)
    assert len(server.requests) == 1


# -- resuming and incremental sync -------------------------------------------------


def assert_each_cursor_resumes(
    preset: CustomRestPreset, values: dict[str, Any], pages: list[Page]
) -> None:
    """A pull from the cursor after page i yields exactly the records of pages i+1..."""
    for index, page in enumerate(pages[:-1]):
        assert page_state(page.cursor), "a mid-pull cursor says where to go on"
        resumed = pull(preset, values, json.loads(json.dumps(page.cursor)))  # as stored
        assert ids(resumed) == ids(pages[index + 1 :])
        assert resumed[-1].cursor["watermark"] == pages[-1].cursor["watermark"]


@pytest.mark.parametrize("style", PAGED)
def test_a_resumed_pull_reads_exactly_the_remaining_records(
    preset: CustomRestPreset, style: str
) -> None:
    with fake.serve_rest_api(60, pagination=style) as api:
        values = settings(api)
        first = pull(preset, values)
        assert len(first) >= 9
        assert_each_cursor_resumes(preset, values, first)

        api.touch(range(2, 50, 3))  # 16 changed orders: an incremental pull of several pages
        api.reset_counters()
        pages = pull(preset, values, first[-1].cursor)
        since = api.log[0].params["updated_since"]
        assert ids(pages) == api.matching_ids(since)
        assert len(pages) >= 3
        assert_each_cursor_resumes(preset, values, pages)
    incremental = [entry for entry in api.log if "updated_since" in entry.params]
    if style in ("link_header", "next_url"):
        # The next link carries the filter; repeating it is an error for such APIs.
        assert all("page_info" not in entry.params for entry in incremental)
    else:
        assert len(incremental) == api.served
        assert {entry.params["updated_since"] for entry in incremental} == {since}


def test_a_resumed_page_number_pull_keeps_its_page_size(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(30, pagination="page_number") as api:
        values = settings(api)
        pages = pull(preset, values)
        resumed = pull(preset, values | {"page_size": 4}, pages[1].cursor)
    assert ids(resumed) == list(range(2 * PAGE + 1, 31))


@pytest.mark.parametrize("style", ["page_number", "link_header"])
def test_an_incremental_pull_returns_what_changed_since_the_watermark_less_the_overlap(
    preset: CustomRestPreset, style: str
) -> None:
    with fake.serve_rest_api(40, pagination=style) as api:
        values = settings(api)
        first = pull(preset, values)
        watermark = first[-1].cursor["watermark"]
        before = {record["id"]: record for record in itertools.chain(*(p.records for p in first))}
        api.touch([3, 17])
        new = api.add_orders(2)
        api.reset_counters()

        second = pull(preset, values, first[-1].cursor)
        since = api.log[0].params["updated_since"]
        got = ids(second)
        assert got == api.matching_ids(since)
        assert {3, 17, *new} <= set(got)
        assert len(got) < 10, "only changes and the overlap window are read again"
        went_back = parse(watermark) - parse(since)
        assert dt.timedelta(minutes=10) <= went_back <= dt.timedelta(minutes=11)
        changed = {record["id"]: record for record in second[0].records}
        assert [line["quantity"] for line in changed[3]["line_items"]] == [
            line["quantity"] + 1 for line in before[3]["line_items"]
        ]
        assert second[-1].cursor["watermark"] == api.order(new[-1])["updated_at"]

        api.reset_counters()
        third = pull(preset, values, second[-1].cursor)
        assert ids(third) == api.matching_ids(api.log[0].params["updated_since"])
        assert 3 not in ids(third)


def test_without_an_incremental_parameter_every_pull_reads_everything(
    preset: CustomRestPreset,
) -> None:
    with fake.serve_rest_api(12, pagination="cursor") as api:
        values = settings(api)
        del values["incremental_param"]
        first = pull(preset, values)
        second = pull(preset, values, first[-1].cursor)
        assert ids(second) == list(range(1, 13))
        assert all("updated_since" not in entry.params for entry in api.log)


# -- failures ------------------------------------------------------------------------


def test_a_pull_rides_out_429s_5xx_and_a_timeout(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(40, pagination="page_number") as api:
        api.fail_with_429(2, retry_after="1", at=2)
        api.fail_with_5xx(2, status=500, at=5)
        api.respond_slowly(1, delay=3, at=8)
        pages = pull(preset, settings(api, timeout_seconds=0.5))
        assert ids(pages) == list(range(1, 41))
        statuses = [entry.status for entry in api.log]
    assert statuses[:8] == [200, 429, 429, 200, 500, 500, 200, 200]
    # After each 429 (requests 2 and 3) the client waited what Retry-After asked.
    retry_waits = [b.started - a.finished for a, b in itertools.pairwise(api.log[1:4])]
    assert len(retry_waits) == 2
    assert all(wait >= 0.9 for wait in retry_waits), retry_waits


def test_exhausted_retries_end_the_pull_after_the_pages_already_read(
    preset: CustomRestPreset,
) -> None:
    preset.retry_policy = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05, jitter=0)
    with fake.serve_rest_api(40, pagination="offset_limit") as api:
        api.fail_with_5xx(50, at=2)
        pages = preset.pull(SourceConfig(settings(api)), None)
        first = next(pages)
        with pytest.raises(RetryableError, match="Gave up after 3 attempts over"):
            next(pages)
    assert first.cursor["offset"] == PAGE, "the sync engine can resume after the first page"
    assert first.cursor["watermark"] == first.records[-1]["updated_at"]


@pytest.mark.parametrize(
    ("auth", "said"),
    [
        ("basic", "Invalid username or password."),
        ("bearer", "[API] Invalid API key or access token"),
        ("api_key_header", "Invalid API key."),
        ("api_key_query", "Invalid API key."),
        ("oauth2", "Client authentication failed."),
    ],
)
def test_refused_credentials_are_an_auth_error_with_the_sources_message(
    preset: CustomRestPreset, auth: str, said: str
) -> None:
    with fake.serve_rest_api(5, pagination="page_number", auth=auth) as api:
        values = settings(api, **{SECRET_SETTING[auth]: WRONG})
        with pytest.raises(AuthError) as probed:
            preset.probe(SourceConfig(values))
        with pytest.raises(AuthError) as pulled:
            pull(preset, values)
    for error in (probed.value, pulled.value):
        assert said in str(error)
        assert WRONG not in str(error)


def test_an_unknown_resource_is_an_error_naming_the_path(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(5, pagination="page_number", auth="api_key_query") as api:
        values = settings(api, resource_path="/missing")
        with pytest.raises(ConnectorError) as caught:
            pull(preset, values)
    assert type(caught.value) is ConnectorError
    assert "HTTP 404 on GET /api/missing" in str(caught.value)
    assert fake.API_KEY not in str(caught.value)


def test_cancel_stops_before_the_next_page(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(30, pagination="page_number") as api:
        config = SourceConfig(settings(api))
        pages = preset.pull(config, None)
        next(pages)
        config.cancel.set()
        with pytest.raises(Cancelled):
            next(pages)
        assert api.served == 1


# -- probe and sample ----------------------------------------------------------------


def test_probe_reads_one_record_and_lists_its_fields(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(30, pagination="link_header", auth="bearer") as api:
        result = preset.probe(SourceConfig(settings(api)))
        assert api.log[0].params == {"limit": "1"}
        assert api.served == 1
        assert result.account == api.origin.removeprefix("http://")
    assert result.details["records_on_first_page"] == 1
    assert {"id", "updated_at", "customer.id", "line_items"} <= set(result.details["sample_fields"])


def test_sample_asks_the_source_for_a_small_page(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(30, pagination="page_number") as api:
        records = preset.sample(SourceConfig(settings(api)), 4)
        assert [record["id"] for record in records] == [1, 2, 3, 4]
        assert api.log[0].params == {"limit": "4", "page": "1"}
        assert api.served == 1


# -- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "bearer", "api_key_header", "api_key_query", "oauth2"])
def test_no_secret_reaches_logs_or_cursors(
    preset: CustomRestPreset, auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # next_url: the fake echoes a query API key into its next links, as some APIs do.
    with fake.serve_rest_api(20, pagination="next_url", auth=auth) as api:
        values = settings(api)
        api.fail_with_5xx(1, at=2)
        preset.probe(SourceConfig(values))
        pages = pull(preset, values)
        assert ids(pages) == list(range(1, 21))
        issued = list(api.issued_tokens)
    cursors = json.dumps([page.cursor for page in pages])
    messages = [record.getMessage() for record in caplog.records]
    assert any("GET /api/orders -> 200" in message for message in messages)
    for secret in (*SECRETS, *issued):
        assert secret not in caplog.text
        assert all(secret not in message for message in messages)
        assert secret not in cursors


# -- scale -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hundred_thousand_orders_of_three_lines(preset: CustomRestPreset) -> None:
    with fake.serve_rest_api(100_000, pagination="link_header", max_page_size=250) as api:
        count = lines = 0
        last = 0
        for page in preset.pull(SourceConfig(settings(api, page_size=250)), None):
            for record in page.records:
                assert record["id"] == last + 1
                last = record["id"]
                lines += len(record["line_items"])
            count += len(page.records)
        assert api.served == 400
    assert (count, lines) == (100_000, 300_000)
