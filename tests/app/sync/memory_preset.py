"""An in-memory source for sync-engine tests: records and failures come from config."""

from __future__ import annotations

import json
from collections.abc import Iterator

from app.connectors.base import Category, ConnectorPreset, Cursor, Page, ProbeResult, SourceConfig
from app.connectors.errors import AuthError, RetryableError
from app.connectors.fields import Field, FieldKind
from app.connectors.registry import register

MAPPING = {
    "columns": {
        "order_id": {"path": "order"},
        "line_id": {"path": "lines[].n"},
        "order_date": {"path": "date"},
        "sku": {"path": "lines[].sku"},
        "quantity": {"path": "lines[].qty", "transforms": [{"type": "decimal"}]},
        "status": {"path": "status", "default": "fulfilled"},
    }
}


def orders(count: int, lines: int = 2, *, qty: int = 1) -> list[dict]:
    return [
        {
            "order": f"o{n}",
            "date": f"2026-01-{n % 28 + 1:02d}",
            "lines": [{"n": str(i), "sku": f"SKU-{i}", "qty": str(qty)} for i in range(lines)],
        }
        for n in range(count)
    ]


@register
class MemoryPreset(ConnectorPreset):
    id = "test_memory"
    display_name = "Test memory source"
    category = Category.CUSTOM
    fields = (
        Field("records", "Records", FieldKind.TEXT, required=True),
        Field("page_size", "Page size", FieldKind.NUMBER, default=10),
        Field("fail_at_page", "Fail at page", FieldKind.NUMBER),
        Field("failure", "Failure", FieldKind.CHOICE, choices=("auth", "retry", "crash")),
        Field("token", "Token", FieldKind.SECRET),
        Field("rotate_token", "Rotate the token on every page", FieldKind.BOOLEAN, default=False),
    )

    def probe(self, config: SourceConfig) -> ProbeResult:
        return ProbeResult(
            account="memory", details={"records": len(json.loads(config["records"]))}
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        records = json.loads(config["records"])
        size = int(config.get("page_size", 10))
        start = int((cursor or {}).get("offset", 0))
        for number, offset in enumerate(range(start, len(records), size), 1):
            if config.get("fail_at_page") == number:
                failure = config.get("failure")
                if failure == "auth":
                    raise AuthError("Memory source: token expired.")
                if failure == "retry":
                    raise RetryableError("Memory source: still down after 5 attempts.")
                raise RuntimeError("boom: token=" + str(config.get("token")))
            if config.get("rotate_token"):
                config.remember_secrets({"token": f"rotated-{number}"})
            chunk = records[offset : offset + size]
            yield Page(records=chunk, cursor={"offset": offset + len(chunk)}, total=len(records))
