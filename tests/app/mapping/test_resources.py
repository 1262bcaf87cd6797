"""The presets' default mappings shipped under resources/mappings/."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from app.canonical import COLUMN_NAMES
from app.mapping import apply_mapping, validate_mapping
from resources import resource

PRESETS = ("custom_rest", "custom_sftp", "custom_file", "demo")


def load(preset: str) -> dict:
    return json.loads(resource("mappings", f"{preset}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("preset", PRESETS)
def test_default_mapping_reads_a_flat_record_named_like_the_columns(preset: str) -> None:
    mapping = validate_mapping(load(preset))
    assert mapping.columns == COLUMN_NAMES
    assert mapping.expansion is None
    # A CSV row: every value is text.
    record = {
        "order_id": "SO-1",
        "line_id": "2",
        "order_date": "2024-01-05",
        "sku": "A-1",
        "quantity": "3",
        "unit_price": "9.90",
        "currency": "eur",
        "status": "open",
        "source_updated_at": "2024-01-05T10:00:00+01:00",
        "location": "",
    }
    [row] = apply_mapping(mapping, record)
    assert row.errors == {}
    assert row.values == {
        "order_id": "SO-1",
        "line_id": "2",
        "order_date": dt.date(2024, 1, 5),
        "sku": "A-1",
        "quantity": Decimal(3),
        "unit_price": Decimal("9.90"),
        "currency": "EUR",
        "location": "default",
        "status": "open",
        "source_updated_at": dt.datetime(2024, 1, 5, 9, tzinfo=dt.UTC),
    }


def test_demo_mapping_maps_what_the_demo_preset_serves() -> None:
    from app.connectors.base import SourceConfig
    from app.connectors.demo import DemoPreset

    config = SourceConfig(
        values=DemoPreset.validate({"channel": "web", "end": "2024-01-31", "days": 14, "skus": 4})
    )
    page = next(DemoPreset().pull(config, None))
    assert page.records
    mapping = validate_mapping(DemoPreset.default_mapping())
    rows = [row for record in page.records for row in apply_mapping(mapping, record)]
    assert len(rows) == len(page.records)
    assert [row.errors for row in rows if row.errors] == []
    first, source = rows[0].values, page.records[0]
    assert first["order_date"] == dt.date.fromisoformat(source["order_date"])
    assert first["quantity"] == Decimal(source["quantity"])
    assert first["source_updated_at"].tzinfo is not None
    assert {row.values["channel"] for row in rows} == {"web"}
