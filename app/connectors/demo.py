"""The demo source: the synthetic history of ``app.demo`` served as a connector.

It lets the demo connectors sync like real ones (re-syncing updates in place
and adds nothing), without a network or credentials.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from app.connectors.base import Category, ConnectorPreset, Cursor, Page, ProbeResult, SourceConfig
from app.connectors.fields import Field, FieldKind
from app.connectors.registry import register
from app.demo.generator import CHANNELS, generate_demand

PAGE_SIZE = 5_000


@register
class DemoPreset(ConnectorPreset):
    id = "demo"
    display_name = "Demo data"
    category = Category.CUSTOM
    description = "Two years of synthetic daily demand, the same for a given seed."
    fields = (
        Field("channel", "Channel", FieldKind.CHOICE, required=True, choices=CHANNELS),
        Field("seed", "Seed", FieldKind.NUMBER, default=7),
        Field("end", "Last day (YYYY-MM-DD)", FieldKind.TEXT, required=True),
        Field("days", "Days of history", FieldKind.NUMBER, default=730),
        Field("skus", "Number of SKUs", FieldKind.NUMBER, default=200),
    )

    def probe(self, config: SourceConfig) -> ProbeResult:
        return ProbeResult(
            account=f"demo {config['channel']}",
            message="Demo data is always available.",
            details={"seed": config.get("seed", 7), "end": config["end"]},
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        data = generate_demand(
            int(config.get("seed", 7)),
            days=int(config.get("days", 730)),
            end=dt.date.fromisoformat(str(config["end"])),
            skus=int(config.get("skus", 200)),
        )
        lines = [line for line in data.lines if line.channel == config["channel"]]
        # The history never changes, so a finished pull has nothing new to add.
        start = (
            len(lines) if (cursor or {}).get("complete") else int((cursor or {}).get("offset", 0))
        )
        if start >= len(lines):
            yield Page(records=[], cursor={"complete": True}, total=len(lines))
            return
        for offset in range(start, len(lines), PAGE_SIZE):
            chunk = lines[offset : offset + PAGE_SIZE]
            done = offset + len(chunk) >= len(lines)
            yield Page(
                records=[_record(line) for line in chunk],
                cursor={"complete": True} if done else {"offset": offset + len(chunk)},
                total=len(lines),
            )


def _record(line: object) -> dict[str, object]:
    values = line._asdict()  # type: ignore[attr-defined]
    values["order_date"] = values["order_date"].isoformat()
    values["source_updated_at"] = values["source_updated_at"].isoformat()
    values["quantity"] = str(values["quantity"])
    values["unit_price"] = str(values["unit_price"])
    return values
