"""The Dataverse (Dynamics 365 Sales) preset against the fakes on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.dynamics import odata
from app.connectors.dynamics.dataverse import DataversePreset
from app.connectors.errors import AuthError, ConfigurationError, ConnectorError, RetryableError
from app.connectors.http import RetryPolicy
from app.connectors.registry import get_preset
from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.fakes import dynamics as fake

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=5)
VAULT = Vault(bytes(range(32)))
PAGE = 4


@pytest.fixture
def dv() -> Iterator[fake.DataverseFakes]:
    with fake.serve_dataverse(orders=9) as fakes:
        yield fakes


@pytest.fixture
def preset(dv: fake.DataverseFakes) -> DataversePreset:
    preset = DataversePreset()
    preset.login_url = dv.login_url
    preset.page_size = PAGE
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    return preset


@pytest.fixture
def on_fake(dv: fake.DataverseFakes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Presets the services and the sync engine create read the fake too."""
    monkeypatch.setattr(DataversePreset, "login_url", dv.login_url)
    monkeypatch.setattr(DataversePreset, "page_size", PAGE)
    monkeypatch.setattr(DataversePreset, "retry_policy", FAST)
    monkeypatch.setattr(DataversePreset, "probe_retry_policy", FAST)


def pull(preset: DataversePreset, values: dict[str, Any], cursor: Any = None) -> list[Page]:
    return list(preset.pull(SourceConfig(dict(values)), cursor))


def ids(pages: list[Page]) -> list[str]:
    return [record["salesorderdetailid"] for page in pages for record in page.records]


def reads(dv: fake.DataverseFakes) -> list[fake.Served]:
    return dv.api.requests_to("/salesorderdetails")


# -- declaration and settings ----------------------------------------------------------


def test_the_preset_is_registered_as_an_erp_with_its_fields() -> None:
    assert get_preset("dynamics_dataverse") is DataversePreset
    assert DataversePreset.category is Category.ERP
    assert DataversePreset.secret_fields() == {"client_secret"}
    assert [spec.name for spec in DataversePreset.fields] == [
        "environment_url",
        "tenant_id",
        "client_id",
        "client_secret",
    ]


def test_a_pasted_page_address_is_kept_to_the_environment(dv: fake.DataverseFakes) -> None:
    out = DataversePreset.validate(
        dv.settings(environment_url="https://contoso.crm4.dynamics.com/main.aspx?appid=1")
    )
    assert out["environment_url"] == "https://contoso.crm4.dynamics.com"


@pytest.mark.parametrize(
    ("override", "field", "problem"),
    [
        ({"environment_url": "contoso.crm.dynamics.com"}, "environment_url", "http"),
        ({"environment_url": "https://me:pw@contoso.crm.dynamics.com"}, "environment_url", "user"),
        ({"tenant_id": "not a tenant"}, "tenant_id", "GUID or a domain"),
    ],
)
def test_bad_settings_are_refused_by_name(
    dv: fake.DataverseFakes, override: dict[str, str], field: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        DataversePreset.validate(dv.settings(**override))
    assert problem in caught.value.fields[field]


# -- probe -------------------------------------------------------------------------------


def test_the_probe_asks_who_am_i_and_reads_one_order_product(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    result = preset.probe(SourceConfig(dv.settings()))
    assert result.details["user_id"] == fake.DV_USER
    assert dv.identity.token_scopes == [f"{dv.environment_url}/.default"]
    assert [s.path for s in dv.api.log] == [
        "/api/data/v9.2/WhoAmI",
        "/api/data/v9.2/salesorderdetails",
    ]
    assert dv.api.log[1].params["$top"] == "1"
    assert all(s.headers["Odata-Version"] == "4.0" for s in dv.api.log)


@pytest.mark.parametrize(
    ("change", "error", "said"),
    [
        ("wrong_secret", AuthError, "AADSTS7000215"),
        ("wrong_tenant", AuthError, "AADSTS90002"),
        ("not_a_user", AuthError, "The user is not a member of the organization"),
        ("no_privilege", AuthError, "missing prvReadProduct privilege"),
    ],
)
def test_a_probe_failure_says_what_the_source_said(
    preset: DataversePreset,
    dv: fake.DataverseFakes,
    change: str,
    error: type[Exception],
    said: str,
) -> None:
    values = dv.settings()
    if change == "wrong_secret":
        values["client_secret"] = "wrong-secret-value-0000"
    elif change == "wrong_tenant":
        values["tenant_id"] = "fabrikam.onmicrosoft.com"
    elif change == "not_a_user":
        dv.api.remove_application_user()
    else:
        dv.api.deny_privilege("product")
    with pytest.raises(error) as caught:
        preset.probe(SourceConfig(values))
    assert said in str(caught.value)
    assert fake.CLIENT_SECRET not in str(caught.value)


def test_a_wrong_environment_address_is_a_connection_failure(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    dv.identity.resources.add(f"http://127.0.0.1:{port}")
    with pytest.raises(RetryableError) as caught:
        preset.probe(SourceConfig(dv.settings(environment_url=f"http://127.0.0.1:{port}")))
    assert "connection was refused" in str(caught.value)


def test_an_unknown_column_in_a_request_is_dataverses_message(
    preset: DataversePreset, dv: fake.DataverseFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "app.connectors.dynamics.dataverse.EXPAND", "salesorderid($select=ordernumbr)"
    )
    with pytest.raises(ConnectorError) as caught:
        preset.probe(SourceConfig(dv.settings()))
    assert "Could not find a property named 'ordernumbr'" in str(caught.value)
    assert "HTTP 400" in str(caught.value)
    assert not isinstance(caught.value, AuthError | RetryableError)


# -- pull ----------------------------------------------------------------------------------


def test_a_full_pull_follows_the_paging_cookies_to_the_end(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    pages = pull(preset, dv.settings())
    assert sorted(ids(pages)) == sorted(dv.api.lines)
    assert len(ids(pages)) == len(dv.api.lines)
    served = reads(dv)
    assert len(served) == len(pages) == -(-len(dv.api.lines) // PAGE)
    assert all(s.headers["Prefer"] == f"odata.maxpagesize={PAGE}" for s in served)
    for later in served[1:]:
        cookie = later.params["$skiptoken"]
        assert cookie.startswith('<cookie pagenumber="')
        assert "salesorderdetailid last=" in unquote(unquote(cookie))
        assert later.params["$expand"].startswith("salesorderid($select=")
    assert "next" not in pages[-1].cursor


def test_records_carry_their_order_product_and_currency(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    records = [r for page in pull(preset, dv.settings()) for r in page.records]
    for record in records:
        line = dv.api.lines[record["salesorderdetailid"]]
        order = dv.api.orders[line["_salesorderid_value"]]
        assert record["salesorderid"]["ordernumber"] == order["ordernumber"]
        assert record["salesorderid"]["statecode"] == order["statecode"]
        assert record["productid"]["productnumber"] == line["_name_sku"]
        assert record["transactioncurrencyid"]["isocurrencycode"] == "USD"
        assert record["new_channel"] == line["new_channel"]  # a custom column comes along
        assert not any("@" in key for key in record)
        assert "new_region" not in record["salesorderid"]  # header custom columns: a known limit


def test_backfill_then_incremental_reads_lines_and_orders_that_changed(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    first = pull(preset, dv.settings())
    cursor = first[-1].cursor
    assert cursor["watermark"] == max(line["modifiedon"] for line in dv.api.lines.values())
    touched = sorted(dv.api.lines)[:2]
    dv.api.touch_lines(touched)
    [closed] = [o["ordernumber"] for o in dv.api.orders.values() if o["statecode"] == 0][:1]
    dv.api.close_orders([closed], statecode=2)
    added = dv.api.add_orders(1)
    dv.api.reset_log()

    second = pull(preset, dv.settings(), cursor)

    since = odata.parse_time(cursor["watermark"]) - odata.OVERLAP
    since -= dt.timedelta(seconds=cursor["lookback_seconds"])
    moment = odata.filter_time(since)
    assert reads(dv)[0].params["$filter"] == (
        f"modifiedon gt {moment} or salesorderid/modifiedon gt {moment}"
    )
    read = set(ids(second))
    assert read == dv.api.changed_after(since)
    assert set(touched) <= read
    cancelled = [r for page in second for r in page.records if r["salesorderid"]["statecode"] == 2]
    assert {r["salesorderid"]["ordernumber"] for r in cancelled} == {closed}
    assert added[0] in {r["salesorderid"]["ordernumber"] for page in second for r in page.records}
    assert len(read) < len(dv.api.lines)


def test_a_resumed_pull_reads_exactly_the_remaining_pages(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    full = pull(preset, dv.settings())
    resumed = pull(preset, dv.settings(), full[0].cursor)
    assert ids(resumed) == ids(full)[len(full[0].records) :]


def test_429_with_retry_after_and_5xx_are_ridden_out(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    dv.api.fail_with_429(2, retry_after="1", at=2)
    dv.api.fail_with_5xx(1, status=503, at=5)
    pages = pull(preset, dv.settings())
    assert sorted(ids(pages)) == sorted(dv.api.lines)
    throttled = [s for s in dv.api.log if s.status == 429]
    assert len(throttled) == 2
    by_number = {s.number: s for s in dv.api.log}
    for served in throttled:
        assert by_number[served.number + 1].started - served.ended >= 0.9


def test_a_token_revoked_mid_pull_is_renewed_once(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    pages = preset.pull(SourceConfig(dv.settings()), None)
    read = [next(pages)]
    dv.identity.revoke_all()
    read.extend(pages)
    assert sorted(ids(read)) == sorted(dv.api.lines)
    assert dv.identity.token_requests == 2


# -- sample, discovery, preview, sync ------------------------------------------------------


def test_sample_asks_for_a_small_page(preset: DataversePreset, dv: fake.DataverseFakes) -> None:
    records = preset.sample(SourceConfig(dv.settings()), 2)
    assert len(records) == 2
    [served] = reads(dv)
    assert served.headers["Prefer"] == "odata.maxpagesize=2"


def test_fields_come_from_the_attribute_metadata_with_custom_columns_flagged(
    preset: DataversePreset, dv: fake.DataverseFakes
) -> None:
    fields = {f.path: f for f in preset.describe_fields(SourceConfig(dv.settings()))}
    assert fields["new_channel"].custom
    assert fields["new_channel"].label == "Channel"
    assert fields["new_channel"].type == "string"
    assert {path for path, f in fields.items() if f.custom} == {"new_channel", "new_promotioncode"}
    assert fields["quantity"].type == "decimal"
    assert fields["priceperunit"].type == "decimal"
    assert fields["_productid_value"].type == "string"  # lookups as the rows carry them
    assert "productid" not in fields
    assert "productidname" not in fields  # a name column of a lookup, never sent as such
    assert fields["salesorderid.statecode"].type == "integer"
    assert fields["salesorderid._customerid_value"].label == "Customer"
    assert fields["productid.productnumber"].type == "string"
    assert "salesorderid.new_region" not in fields
    records = preset.sample(SourceConfig(dv.settings()), 3)
    record_paths = {key for r in records for key in r}
    assert {path for path in fields if "." not in path} <= record_paths


def test_preview_maps_order_products_onto_the_canonical_columns(
    sqlite_database: Database, dv: fake.DataverseFakes, on_fake: None
) -> None:
    result = service.preview(
        sqlite_database, VAULT, preset="dynamics_dataverse", values=dv.settings()
    )
    assert result.rows
    assert not any(result.errors)
    status = {0: "open", 1: "open", 2: "cancelled", 3: "fulfilled"}
    for row in result.rows:
        line = dv.api.lines[row["line_id"]]
        order = dv.api.orders[line["_salesorderid_value"]]
        assert row["order_id"] == order["ordernumber"]
        assert row["sku"] == line["_name_sku"]
        assert row["quantity"] == Decimal(str(line["quantity"]))
        assert row["unit_price"] == Decimal(str(line["priceperunit"]))
        assert row["currency"] == "USD"
        assert row["order_date"] == dt.date.fromisoformat(order["createdon"][:10])
        assert row["status"] == status[order["statecode"]]
        assert row["customer_id"] == order["_customerid_value"]
        assert row["location"] == "default"


def stored(database: Database) -> dict[tuple[str, str], tuple[Decimal, str | None]]:
    with database.session() as session:
        return {
            (r.order_id, r.line_id): (r.quantity, r.status)
            for r in session.scalars(select(DemandLine))
        }


def expected_rows(dv: fake.DataverseFakes) -> dict[tuple[str, str], tuple[Decimal, str | None]]:
    status = {0: "open", 1: "open", 2: "cancelled", 3: "fulfilled"}
    return {
        (dv.api.orders[line["_salesorderid_value"]]["ordernumber"], line_id): (
            Decimal(str(line["quantity"])),
            status[dv.api.orders[line["_salesorderid_value"]]["statecode"]],
        )
        for line_id, line in dv.api.lines.items()
    }


def test_a_sync_backfills_then_updates_incrementally(
    database: Database, dv: fake.DataverseFakes, on_fake: None
) -> None:
    created = service.add_connector(
        database, VAULT, preset="dynamics_dataverse", name="Sales", values=dv.settings()
    )
    first = sync_connector(database, VAULT, created["id"])
    assert first.status is SyncStatus.COMPLETE, first.error
    assert first.inserted == len(dv.api.lines)
    assert stored(database) == expected_rows(dv)

    dv.api.touch_lines(sorted(dv.api.lines)[:1])
    dv.api.close_orders([next(iter(dv.api.orders.values()))["ordernumber"]], statecode=2)
    dv.api.add_orders(2)
    second = sync_connector(database, VAULT, created["id"])

    assert second.status is SyncStatus.COMPLETE, second.error
    assert second.inserted == len(dv.api.lines) - first.inserted
    assert stored(database) == expected_rows(dv)
    with database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.HEALTHY


def test_no_secret_or_token_reaches_logs_errors_or_cursors(
    preset: DataversePreset, dv: fake.DataverseFakes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pages = pull(preset, dv.settings())
    dv.api.remove_application_user()
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(dv.settings()))
    tokens = {s.token for s in dv.api.log if s.token}
    assert tokens
    for text in (caplog.text, str(caught.value), *(str(page.cursor) for page in pages)):
        assert fake.CLIENT_SECRET not in text
        assert not any(token in text for token in tokens)
