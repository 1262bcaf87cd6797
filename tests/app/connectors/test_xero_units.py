"""Xero's date values, documents into demand lines, and the pacing rule, without a server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from app.connectors.xero.dates import XeroDateError, calendar_date, instant, parse_ms_date
from app.connectors.xero.documents import CREDIT_NOTES, INVOICES, Tally, lines_of
from app.connectors.xero.preset import XeroPreset
from app.connectors.xero.quota import Pacing
from app.mapping import apply_mapping, validate_mapping

UTC = dt.UTC


# -- dates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "moment", "offset"),
    [
        # The paged Invoices example of Xero's documentation.
        ("/Date(1518685950940+0000)/", dt.datetime(2018, 2, 15, 9, 12, 30, 940000, UTC), 0),
        # No offset at all (the envelope's DateTimeUTC).
        ("/Date(1552326816230)/", dt.datetime(2019, 3, 11, 17, 53, 36, 230000, UTC), 0),
        ("/Date(1481803200000+1300)/", dt.datetime(2016, 12, 15, 12, 0, tzinfo=UTC), 13 * 60),
        ("/Date(1481889600000-0530)/", dt.datetime(2016, 12, 16, 12, 0, tzinfo=UTC), -330),
        ("/Date(-86400000+0000)/", dt.datetime(1969, 12, 31, tzinfo=UTC), 0),
    ],
)
def test_ms_dates_are_milliseconds_since_1970_utc_with_the_writers_offset(
    text: str, moment: dt.datetime, offset: int
) -> None:
    assert parse_ms_date(text) == (moment, dt.timedelta(minutes=offset))
    assert instant(text) == moment


def test_the_calendar_date_is_where_the_value_was_written() -> None:
    # 11:00 UTC on 15 December is already 16 December in Auckland (+13:00).
    assert calendar_date("/Date(1481799600000+1300)/") == dt.date(2016, 12, 16)
    assert instant("/Date(1481799600000+1300)/").date() == dt.date(2016, 12, 15)
    # 22:00 UTC on 16 December is still the 16th in Los Angeles (-08:00).
    assert calendar_date("/Date(1481925600000-0800)/") == dt.date(2016, 12, 16)
    assert calendar_date("/Date(1481846400000+0000)/") == dt.date(2016, 12, 16)


@pytest.mark.parametrize(
    "text", ["2016-12-16T00:00:00", "2018-10-20 00:00:00", "2016-12-16", "2016-12-16T23:30:00Z"]
)
def test_date_strings_keep_their_calendar_date(text: str) -> None:
    assert calendar_date(text) == dt.date.fromisoformat(text[:10])


def test_iso_text_without_an_offset_is_utc() -> None:
    assert instant("2019-12-07T18:46:19.516540") == dt.datetime(
        2019, 12, 7, 18, 46, 19, 516540, UTC
    )
    assert instant("2019-12-07T20:46:19+02:00") == dt.datetime(2019, 12, 7, 18, 46, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["", "Date(1518685950940)", "/Date(abc)/", "/Date(1518685950940+2500)/", "yesterday", None, 5],
)
def test_what_is_not_a_xero_date_is_refused_by_name(value: Any) -> None:
    with pytest.raises(XeroDateError):
        instant(value)
    with pytest.raises(XeroDateError):
        calendar_date(value)


# -- documents -------------------------------------------------------------------


def invoice(status: str = "AUTHORISED", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "Type": "ACCREC",
        "InvoiceID": "243216c5-369e-4056-ac67-05388f86dc81",
        "InvoiceNumber": "INV-0042",
        "Contact": {"ContactID": "025867f1-d741-4d6b-b1af-9ac774b59ba7", "Name": "City Agency"},
        "Date": "/Date(1539993600000+0000)/",
        "DateString": "2018-10-20T00:00:00",
        "Status": status,
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {
                "LineItemID": "52208ff9-528a-4985-a9ad-b2b1d4210e38",
                "ItemCode": "GB1-White",
                "Description": "Golf balls - white single",
                "Quantity": 4.0,
                "UnitAmount": 4.3400,
                "AccountCode": "200",
                "Tracking": [{"Name": "Region", "Option": "North"}],
            },
            # Xero's documentation also shows numbers as text.
            {
                "LineItemID": "9361c7b9-7f85-44f6-9ce0-1225d63a36bd",
                "ItemCode": "Untracked",
                "Description": "Monthly subscription",
                "Quantity": "1.0000",
                "UnitAmount": "77.39",
            },
        ],
        "UpdatedDateUTC": "/Date(1541176290160+0000)/",
        "CurrencyCode": "NZD",
    }
    return document | changes


def test_authorised_and_paid_invoice_lines_are_sales() -> None:
    tally = Tally()
    [first, second] = lines_of(invoice(), INVOICES, tally)
    assert first == {
        "order_id": "243216c5-369e-4056-ac67-05388f86dc81",
        "line_id": "52208ff9-528a-4985-a9ad-b2b1d4210e38",
        "order_date": "2018-10-20",
        "sku": "GB1-White",
        "quantity": "4.0",
        "product_name": "Golf balls - white single",
        "unit_price": "4.34",
        "currency": "NZD",
        "customer_id": "025867f1-d741-4d6b-b1af-9ac774b59ba7",
        "status": "open",
        "source_updated_at": "2018-11-02T16:31:30.160000+00:00",
        "document_type": "ACCREC",
        "document_number": "INV-0042",
        "xero_status": "AUTHORISED",
        "description": "Golf balls - white single",
        "account_code": "200",
        "tracking": {"Region": "North"},
    }
    assert (second["quantity"], second["unit_price"]) == ("1.0000", "77.39")
    assert [line["status"] for line in lines_of(invoice("PAID"), INVOICES, tally)] == [
        "fulfilled",
        "fulfilled",
    ]
    assert (tally.documents, tally.lines) == (2, 4)


def test_credit_notes_are_negative_refunds_with_their_own_order_ids() -> None:
    note = invoice(Type="ACCRECCREDIT", CreditNoteID="aea95d78-ea48-456b-9b08-6bc012600072")
    note["CreditNoteNumber"] = "CN-0002"
    lines = lines_of(note, CREDIT_NOTES, Tally())
    assert [line["order_id"] for line in lines] == ["CN-aea95d78-ea48-456b-9b08-6bc012600072"] * 2
    assert [line["quantity"] for line in lines] == ["-4.0", "-1.0000"]
    assert {line["status"] for line in lines} == {"refunded"}
    assert lines[0]["document_number"] == "CN-0002"


def test_drafts_give_no_lines_voided_ones_cancel_and_deleted_ones_give_none() -> None:
    tally = Tally()
    assert lines_of(invoice("DRAFT"), INVOICES, tally) == []
    assert lines_of(invoice("SUBMITTED"), INVOICES, tally) == []
    assert lines_of(invoice("DELETED"), INVOICES, tally) == []
    voided = lines_of(invoice("VOIDED"), INVOICES, tally)
    assert [line["status"] for line in voided] == ["cancelled", "cancelled"]
    assert (tally.not_yet_sales, tally.deleted) == (2, 1)
    assert "2 drafts or submitted, 1 deleted" in tally.summary()


def test_bills_are_not_read_as_sales() -> None:
    tally = Tally()
    assert lines_of(invoice(Type="ACCPAY"), INVOICES, tally) == []
    assert tally.other_types == 1


def test_comment_lines_are_counted_and_lines_without_an_item_code_kept_for_the_mapping() -> None:
    document = invoice()
    document["LineItems"] += [
        {"LineItemID": "a1", "Description": "Thank you for your custom"},
        {"LineItemID": "a2", "Description": "Consulting", "Quantity": 2.0, "UnitAmount": 95.0},
    ]
    tally = Tally()
    lines = lines_of(document, INVOICES, tally)
    assert [line["line_id"] for line in lines][-1] == "a2"
    assert lines[-1]["sku"] is None
    assert tally.comment_lines == 1
    mapping = validate_mapping(XeroPreset.default_mapping())
    rows = [row for line in lines for row in apply_mapping(mapping, line)]
    assert [row.errors for row in rows[:2]] == [{}, {}]
    assert "sku" in rows[2].errors


def test_a_status_xero_adds_later_reaches_the_mapping_which_rejects_it() -> None:
    [line, _] = lines_of(invoice("ARCHIVED"), INVOICES, Tally())
    assert line["status"] == "ARCHIVED"
    [row] = apply_mapping(validate_mapping(XeroPreset.default_mapping()), line)
    assert "status" in row.errors


def test_long_descriptions_are_shortened_for_the_product_name_only() -> None:
    document = invoice()
    document["LineItems"][0]["Description"] = "x" * 4000
    [line, _] = lines_of(document, INVOICES, Tally())
    assert len(line["product_name"]) == 300
    assert line["product_name"].endswith("…")
    assert len(line["description"]) == 4000


def test_unreadable_values_reach_the_mapping_as_they_came() -> None:
    document = invoice(Date="/Date(garbage)/")
    document["LineItems"][0]["Quantity"] = "lots"
    [line, _] = lines_of(document, INVOICES, Tally())
    assert (line["order_date"], line["quantity"]) == ("/Date(garbage)/", "lots")
    [row] = apply_mapping(validate_mapping(XeroPreset.default_mapping()), line)
    assert {"order_date", "quantity"} <= set(row.errors)


def test_the_default_mapping_turns_a_line_into_canonical_values() -> None:
    [line, _] = lines_of(invoice(Date="/Date(1539954000000+1100)/"), INVOICES, Tally())
    [row] = apply_mapping(validate_mapping(XeroPreset.default_mapping()), line)
    assert row.errors == {}
    assert row.values == {
        "order_id": "243216c5-369e-4056-ac67-05388f86dc81",
        "line_id": "52208ff9-528a-4985-a9ad-b2b1d4210e38",
        "order_date": dt.date(2018, 10, 20),
        "sku": "GB1-White",
        "quantity": Decimal("4.0"),
        "product_name": "Golf balls - white single",
        "unit_price": Decimal("4.34"),
        "currency": "NZD",
        "location": "default",
        "customer_id": "025867f1-d741-4d6b-b1af-9ac774b59ba7",
        "status": "open",
        "source_updated_at": dt.datetime(2018, 11, 2, 16, 31, 30, 160000, UTC),
    }


# -- pacing ----------------------------------------------------------------------


def test_pacing_waits_longer_as_the_minute_runs_out_and_a_window_at_zero() -> None:
    pacing = Pacing(window=60.0, low=10)
    waits = [pacing.wait(left) for left in (None, 60, 10, 9, 5, 1, 0)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0 < waits[3] < waits[4] < waits[5] < waits[6]
    assert waits[6] == 60.0
    assert pacing.wait(-3) == 60.0
