"""A series' forecast as CSV, one row per period, for a spreadsheet or a purchasing system."""

from __future__ import annotations

import csv
from pathlib import Path

from ui.series.data import SeriesDetail

COLUMNS = (
    "sku",
    "location",
    "period_start",
    "forecast",
    "lo80",
    "hi80",
    "lo95",
    "hi95",
    "model",
    "run_id",
    "frequency",
    "safety_stock",
    "reorder_point",
    "service_level",
)


def suggested_name(detail: SeriesDetail) -> str:
    """A file name from the SKU and location, safe on every file system."""
    parts = [detail.series["sku"]]
    if detail.series["location"] != "default":
        parts.append(detail.series["location"])
    stem = "-".join(parts)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._") or "series"
    return f"forecast-{safe}.csv"


def write_forecast_csv(path: str | Path, detail: SeriesDetail) -> int:
    """Write the forecast to ``path``; returns the number of periods written.

    Safety stock and reorder point are figures of the whole lead time, repeated
    on every row so that each row stands alone in a spreadsheet.

    Raises:
        ValueError: the series has no forecast yet.
        OSError: the file cannot be written.
    """
    if not detail.periods:
        raise ValueError(f"{detail.label} has no forecast yet: run a forecast first.")
    stock = detail.stock or {}
    forecast = detail.forecast or {}
    rows = [
        {
            "sku": detail.series["sku"],
            "location": detail.series["location"],
            "period_start": period["period_start"],
            "forecast": period["point"],
            "lo80": period["lo80"],
            "hi80": period["hi80"],
            "lo95": period["lo95"],
            "hi95": period["hi95"],
            "model": forecast.get("model", ""),
            "run_id": forecast.get("run_id", ""),
            "frequency": detail.frequency,
            "safety_stock": stock.get("safety_stock", ""),
            "reorder_point": stock.get("reorder_point", ""),
            "service_level": stock.get("service_level", ""),
        }
        for period in detail.periods
    ]
    # utf-8-sig: Excel reads a BOM-less CSV in the machine's legacy code page.
    with Path(path).open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
