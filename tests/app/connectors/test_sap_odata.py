"""SAP's OData pieces: /Date()/ values, v2 envelopes, $metadata and error bodies."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from app.connectors.errors import SourceDataError
from app.connectors.sap import odata
from tests.fakes import sap as fake


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Date(1492041600000)/", dt.datetime(2017, 4, 13)),
        ("/Date(0)/", dt.datetime(1970, 1, 1)),
        ("/Date(-86400000)/", dt.datetime(1969, 12, 31)),
        ("/Date(1492041600123)/", dt.datetime(2017, 4, 13, 0, 0, 0, 123000)),
        ("/Date(1492041600000+0000)/", dt.datetime(2017, 4, 13, tzinfo=dt.UTC)),
        (
            "/Date(1492041600000+0060)/",
            dt.datetime(2017, 4, 13, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        ),
        (
            "/Date(1492041600000-0300)/",
            dt.datetime(2017, 4, 12, 19, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        ),
    ],
)
def test_v2_dates_are_read_with_and_without_an_offset_in_minutes(
    text: str, expected: dt.datetime
) -> None:
    parsed = odata.parse_v2_date(text)
    assert parsed == expected
    assert (parsed.tzinfo is None) == (expected.tzinfo is None)
    if parsed.tzinfo is not None:
        # The offset says where the instant is shown, never moves it.
        assert parsed.astimezone(dt.UTC) == dt.datetime(2017, 4, 13, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "text", ["2017-04-13", "/Date()/", "/Date(abc)/", "Date(1492041600000)", "/Date(1+99999)/", 7]
)
def test_anything_else_is_not_a_v2_date(text: object) -> None:
    assert odata.parse_v2_date(text) is None


def test_the_fakes_dates_read_back_as_what_they_wrote() -> None:
    moment = dt.datetime(2024, 3, 1, 8, 7, 30, tzinfo=dt.UTC)
    assert odata.parse_v2_date(fake.v2_date(moment)) == moment
    assert odata.parse_v2_date(fake.v2_date(moment.date())) == dt.datetime(2024, 3, 1)


def test_iso_values_rewrites_dates_at_any_depth_and_leaves_the_rest() -> None:
    record = {
        "SalesOrderDate": "/Date(1492041600000)/",
        "to_SalesOrder": {"LastChangeDateTime": "/Date(1492041600000+0000)/", "Text": "/Date"},
        "lines": [{"When": "/Date(0)/"}, 3],
        "Quantity": "5.000",
    }
    assert odata.iso_values(record) == {
        "SalesOrderDate": "2017-04-13T00:00:00",
        "to_SalesOrder": {"LastChangeDateTime": "2017-04-13T00:00:00+00:00", "Text": "/Date"},
        "lines": [{"When": "1970-01-01T00:00:00"}, 3],
        "Quantity": "5.000",
    }


def test_a_filter_literal_is_utc_to_the_second() -> None:
    moment = dt.datetime(2024, 3, 1, 9, 30, 15, 999, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert odata.v2_date_literal(moment) == "datetimeoffset'2024-03-01T08:30:15Z'"


def test_a_v2_collection_loses_metadata_and_deferred_links_and_keeps_expansions() -> None:
    body = {
        "d": {
            "__count": "42",
            "__next": "https://host/A_SalesOrder?$skiptoken=2",
            "results": [
                {
                    "__metadata": {"uri": "x", "type": "T"},
                    "SalesOrder": "1",
                    "to_Partner": {"__deferred": {"uri": "y"}},
                    "to_Item": {"results": [{"__metadata": {}, "SalesOrderItem": "10"}]},
                }
            ],
        }
    }
    collection = odata.v2_collection(body, "S4")
    assert collection.count == 42
    assert collection.next == "https://host/A_SalesOrder?$skiptoken=2"
    assert collection.results == [{"SalesOrder": "1", "to_Item": [{"SalesOrderItem": "10"}]}]


@pytest.mark.parametrize(
    "body", [{"value": []}, {"d": {"SalesOrder": "1"}}, [], {"d": {"results": [], "__next": 3}}]
)
def test_a_body_that_is_not_a_v2_collection_is_refused_with_what_it_held(body: object) -> None:
    with pytest.raises(SourceDataError) as caught:
        odata.v2_collection(body, "SAP S/4HANA")
    assert "SAP S/4HANA" in str(caught.value)


def test_s4_metadata_gives_types_labels_and_date_display_formats() -> None:
    model = odata.parse_metadata(fake.S4_METADATA, "S4")
    header = model.set_type("A_SalesOrder")
    assert header is not None
    assert header.navigation == ("to_Item",)
    props = {p.name: p for p in header.properties}
    assert model.kind(props["SalesOrderDate"]) == "date"  # Edm.DateTime shown as a date
    assert model.kind(props["LastChangeDateTime"]) == "datetime"
    assert model.kind(props["TotalNetAmount"]) == "decimal"
    assert props["YY1_SalesChannel_SDH"].label == "Sales Channel"
    assert model.type("API_SALES_ORDER_SRV.A_SalesOrderItemType") is not None


@pytest.mark.parametrize("version", [1, 2])
def test_service_layer_metadata_of_both_versions_gives_enums_and_line_types(version: int) -> None:
    model = odata.parse_metadata(fake.b1_metadata(version), "B1")
    document = model.set_type("Invoices")
    assert document is not None
    props = {p.name: p for p in document.properties}
    assert model.kind(props["Cancelled"]) == "string"  # an enumeration
    assert model.kind(props["DocEntry"]) == "integer"
    assert props["DocumentLines"].collection_of == "SAPB1.DocumentLine"
    line = model.type("SAPB1.DocumentLine")
    assert line is not None
    assert "U_BinLocation" in {p.name for p in line.properties}


def test_metadata_that_is_not_xml_is_refused() -> None:
    with pytest.raises(SourceDataError) as caught:
        odata.parse_metadata(b'{"not": "xml"}', "SAP S/4HANA")
    assert "not XML" in str(caught.value)


def _response(status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return response


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error": {"code": -304, "message": {"lang": "en-us", "value": "Login failed"}}},
            ("-304", "Login failed"),
        ),
        (
            {
                "error": {
                    "code": "/IWFND/MED/170",
                    "message": {"lang": "en", "value": "No  service"},
                }
            },
            ("/IWFND/MED/170", "No service"),
        ),
        ({"error": {"code": 1, "message": "plain text"}}, ("1", "plain text")),
        ({"error": "invalid_client"}, (None, None)),
        (b"<html>Logon failed</html>", (None, None)),
    ],
)
def test_sap_error_bodies_give_the_code_and_the_message(
    body: object, expected: tuple[str | None, str | None]
) -> None:
    assert odata.sap_error(_response(401, body)) == expected
