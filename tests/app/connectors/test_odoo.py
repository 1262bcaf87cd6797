"""The Odoo preset against the fake Odoo server on 127.0.0.1, over both of its APIs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    RateLimited,
    RetryableError,
)
from app.connectors.http import RetryPolicy
from app.connectors.odoo import OdooPreset
from app.connectors.registry import get_preset
from app.mapping import validate_mapping
from tests.fakes import odoo as fake

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=0.05)
PAGE = 4
VERSIONS = [16, 17, 18, 19]


@pytest.fixture(params=VERSIONS, ids=lambda version: f"odoo{version}")
def odoo(request: pytest.FixtureRequest) -> Iterator[fake.FakeOdoo]:
    with fake.serve_odoo(request.param) as server:
        yield server


def make_preset(page_size: int = PAGE) -> OdooPreset:
    preset = OdooPreset()
    preset.page_size = page_size
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    return preset


def config(server: fake.FakeOdoo, **overrides: Any) -> SourceConfig:
    return SourceConfig(OdooPreset.validate(server.connector_settings(**overrides)))


def pull(preset: OdooPreset, cfg: SourceConfig, cursor: Any = None) -> list[Page]:
    return list(preset.pull(cfg, cursor))


def records(pages: list[Page]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page.records]


def expected_sale_lines(server: fake.FakeOdoo, since: str | None = None) -> list[int]:
    return sorted(
        row["id"]
        for row in server.rows("sale.order.line")
        if row["state"] in ("sale", "done", "cancel")
        and row["display_type"] is False
        and (since is None or row["write_date"] >= since)
    )


def protocols(server: fake.FakeOdoo) -> set[str]:
    return {protocol for protocol, _, _ in server.calls}


# -- declaration and settings -------------------------------------------------------------


def test_the_preset_is_registered_as_an_erp_with_a_secret_key() -> None:
    assert get_preset("odoo") is OdooPreset
    assert OdooPreset.category is Category.ERP
    assert OdooPreset.secret_fields() == {"api_key"}
    specs = {spec.name: spec for spec in OdooPreset.fields}
    assert specs["model"].choices == ("sale_order_lines", "invoice_lines")
    mapping = validate_mapping(OdooPreset.default_mapping())
    assert set(mapping.columns) >= {"order_id", "line_id", "order_date", "sku", "quantity"}


def test_a_pasted_page_address_is_cut_back_to_the_server() -> None:
    base = {"database": "d", "username": "u", "api_key": "k"}
    for pasted in (
        "https://acme.odoo.com/odoo/action-123",
        "https://acme.odoo.com/web#action=12",
        "https://acme.odoo.com/",
    ):
        assert OdooPreset.validate({**base, "url": pasted})["url"] == "https://acme.odoo.com"
    proxied = OdooPreset.validate({**base, "url": "https://erp.example.com/odoo-prod/"})
    assert proxied["url"] == "https://erp.example.com/odoo-prod"
    with pytest.raises(ConfigurationError) as caught:
        OdooPreset.validate({**base, "url": "https://u:p@acme.odoo.com"})
    assert "url" in caught.value.fields


# -- connecting ---------------------------------------------------------------------------


def test_probe_picks_the_api_the_version_offers(odoo: fake.FakeOdoo) -> None:
    result = make_preset().probe(config(odoo))
    protocol = "JSON-2" if odoo.version >= 19 else "JSON-RPC"
    assert protocols(odoo) == {protocol}
    assert result.details == {
        "version": f"{odoo.version}.0",
        "protocol": protocol,
        "lines": len(expected_sale_lines(odoo)),
    }
    assert f"Connected to Odoo {odoo.version}.0" in result.message
    assert fake.DATABASE in result.message


@pytest.mark.parametrize("version", [17, 19])
def test_a_wrong_api_key_is_an_auth_error(version: int) -> None:
    with fake.serve_odoo(version) as server, pytest.raises(AuthError) as caught:
        make_preset().probe(config(server, api_key="0" * 40))
    message = str(caught.value)
    assert ("Invalid apikey" if version >= 19 else "returned no user") in message
    assert fake.API_KEY not in message


def test_a_revoked_key_mid_session_is_odoos_access_denied() -> None:
    with fake.serve_odoo(17) as server:
        pages = make_preset().pull(config(server), None)
        next(pages)
        # execute_kw checks the key on every call: a key revoked now fails the next one.
        server.revoke_key()
        with pytest.raises(AuthError) as caught:
            list(pages)
    assert "Access Denied" in str(caught.value)
    assert "object.execute_kw" in str(caught.value)


@pytest.mark.parametrize("version", [17, 19])
def test_a_wrong_database_is_named(version: int) -> None:
    with fake.serve_odoo(version) as server, pytest.raises(ConnectorError) as caught:
        make_preset().probe(config(server, database="acme-test"))
    assert not isinstance(caught.value, AuthError)
    assert "acme-test" in str(caught.value)
    assert "does not exist" in str(caught.value) or "not found" in str(caught.value)


@pytest.mark.parametrize("version", [17, 19])
def test_missing_access_rights_show_odoos_message(version: int) -> None:
    with (
        fake.serve_odoo(version, denied_models=("account.move.line",)) as server,
        pytest.raises(ConnectorError) as caught,
    ):
        make_preset().probe(config(server, model="invoice_lines"))
    assert not isinstance(caught.value, AuthError), "rights are granted in Odoo, not here"
    message = str(caught.value)
    assert "You are not allowed to access 'Journal Item' (account.move.line) records" in message
    assert "read access" in message


def test_versions_before_16_are_refused() -> None:
    with fake.serve_odoo(15) as server, pytest.raises(ConnectorError) as caught:
        make_preset().probe(config(server))
    assert "Odoo 15.0" in str(caught.value)
    assert "16 or newer" in str(caught.value)


# -- reading lines ------------------------------------------------------------------------


def test_a_full_pull_reads_confirmed_sale_lines_in_id_order(odoo: fake.FakeOdoo) -> None:
    pages = pull(make_preset(), config(odoo))
    ids = [record["id"] for record in records(pages)]
    assert ids == expected_sale_lines(odoo)
    assert all(len(page.records) == PAGE for page in pages[:-1])
    assert len(pages) == -(-len(ids) // PAGE), "the count spares a last, empty request"
    assert {page.total for page in pages} == {len(ids)}
    rows = {row["id"]: row for row in odoo.rows("sale.order.line")}
    orders = {row["id"]: row for row in odoo.rows("sale.order")}
    for record in records(pages):
        row = rows[record["id"]]
        order = orders[row["order_id"]]
        assert record["order_id"] == order["id"]
        assert record["order_id_name"] == order["name"]
        assert record["document"]["name"] == order["name"]
        assert record["document"]["date"] == order["date_order"]
        assert record["document"]["warehouse"] in ("Main warehouse", "East depot")
        assert record["document"].get("x_sales_channel") == (order["x_sales_channel"] or None)
        assert record["x_pick_zone"] == (row["x_pick_zone"] or None)
        assert Decimal(record["quantity"]) == Decimal(str(row["product_uom_qty"]))
        assert record["currency"] == "EUR"
        assert record["status"] == (
            "cancelled"
            if row["state"] == "cancel"
            else "fulfilled"
            if row["qty_delivered"] >= row["product_uom_qty"]
            else "open"
        )
        product = row["product_id"]
        assert record["sku"] == (f"FURN_{product:04d}" if product < 10 else "10")


def test_invoice_lines_count_credit_notes_negative(odoo: fake.FakeOdoo) -> None:
    pages = pull(make_preset(), config(odoo, model="invoice_lines"))
    rows = {row["id"]: row for row in odoo.rows("account.move.line")}
    expected = sorted(i for i, row in rows.items() if row["display_type"] == "product")
    assert [record["id"] for record in records(pages)] == expected
    statuses = set()
    for record in records(pages):
        row = rows[record["id"]]
        sign = -1 if row["move_type"] == "out_refund" else 1
        assert Decimal(record["quantity"]) == sign * Decimal(str(row["quantity"]))
        statuses.add(record["status"])
        assert record["document"]["date"].count("-") == 2
    assert statuses == {"fulfilled", "refunded", "open", "cancelled"}


def test_a_resumed_pull_reads_exactly_the_remaining_lines(odoo: fake.FakeOdoo) -> None:
    preset = make_preset()
    whole = [record["id"] for record in records(pull(preset, config(odoo)))]
    stopped = list(preset.pull(config(odoo), None))[:2]
    resumed = pull(preset, config(odoo), stopped[-1].cursor)
    read = [record["id"] for record in records(stopped) + records(resumed)]
    assert read == whole
    assert json.loads(json.dumps(stopped[-1].cursor)) == stopped[-1].cursor


def test_backfill_then_incremental_reads_what_was_written_since(odoo: fake.FakeOdoo) -> None:
    preset = make_preset(page_size=100)
    backfill = pull(preset, config(odoo))
    cursor = backfill[-1].cursor
    newest = max(row["write_date"] for row in odoo.rows("sale.order.line"))
    assert cursor["watermark"] == newest
    odoo.touch_orders([1, 3])
    added = odoo.add_orders(2)
    odoo.touch_orders(added)
    incremental = pull(preset, config(odoo), cursor)
    bound = dt.datetime.strptime(newest, fake.FORMAT) - dt.timedelta(
        minutes=10, seconds=cursor["lookback_seconds"]
    )
    ids = [record["id"] for record in records(incremental)]
    assert ids == expected_sale_lines(odoo, bound.strftime(fake.FORMAT))
    orders = {record["order_id"] for record in records(incremental)}
    assert {1, 3} <= orders
    assert orders & set(added)
    assert len(ids) < len(expected_sale_lines(odoo)), "unchanged old lines are not read again"
    rows = {row["id"]: row for row in odoo.rows("sale.order.line")}
    for record in records(incremental):
        assert Decimal(record["quantity"]) == Decimal(str(rows[record["id"]]["product_uom_qty"]))
    assert incremental[-1].cursor["watermark"] > newest


def test_sample_reads_one_small_page(odoo: fake.FakeOdoo) -> None:
    sample = make_preset().sample(config(odoo), 3)
    assert [record["id"] for record in sample] == expected_sale_lines(odoo)[:3]
    methods = [method for _, model, method in odoo.calls if model == "sale.order.line"]
    assert methods.count("search_read") == 1


# -- discovery ----------------------------------------------------------------------------


def test_describe_fields_marks_the_instances_custom_fields(odoo: fake.FakeOdoo) -> None:
    described = make_preset().describe_fields(config(odoo))
    by_path = {field.path: field for field in described}
    assert {path for path, field in by_path.items() if field.custom} == {
        "x_pick_zone",
        "document.x_sales_channel",
    }
    assert by_path["x_pick_zone"].label == "Pick zone"
    assert by_path["product_uom_qty"].type == "decimal"
    assert by_path["order_id"].type == "integer"
    assert by_path["order_id_name"].type == "string"
    assert by_path["write_date"].type == "datetime"
    assert "tax_id" not in by_path, "many2many fields are not read into records"
    assert {"quantity", "sku", "document.warehouse", "status"} <= set(by_path)


# -- rate limits and failures -------------------------------------------------------------


@pytest.mark.parametrize("version", [17, 19])
def test_a_pull_rides_out_429s_and_5xx(version: int) -> None:
    with fake.serve_odoo(version) as server:
        preset = make_preset()
        server.fail_with_429(2, retry_after="0")
        server.fail_with_5xx(1)
        ids = [record["id"] for record in records(pull(preset, config(server)))]
        assert ids == expected_sale_lines(server)


def test_exhausted_retries_say_what_failed() -> None:
    with fake.serve_odoo(17) as server:
        server.fail_with_429(FAST.attempts, retry_after="0")
        with pytest.raises(RateLimited) as limited:
            make_preset().probe(config(server))
        server.fail_with_5xx(FAST.attempts, status=503)
        with pytest.raises(RetryableError) as failed:
            make_preset().probe(config(server))
    assert "HTTP 429" in str(limited.value)
    assert "HTTP 503" in str(failed.value)


@pytest.mark.parametrize("version", [17, 19])
def test_no_secret_reaches_logs_cursors_or_errors(
    version: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with fake.serve_odoo(version) as server:
        preset = make_preset()
        pages = pull(preset, config(server))
        with pytest.raises(AuthError) as caught:
            preset.probe(config(server, api_key="f" * 40))
    text = caplog.text + json.dumps([page.cursor for page in pages]) + str(caught.value)
    assert fake.API_KEY not in text
