"""The local CSV or Excel file preset: reading, tracking, and re-import without duplicates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from app.connectors.base import Page, SourceConfig
from app.connectors.custom_file import CustomFilePreset, LocalFile
from app.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    RetryableError,
    SourceDataError,
)
from app.connectors.fields import FieldKind
from app.connectors.file_tracking import SourceFile, pull_files
from app.connectors.files import FileOptions
from app.connectors.registry import get_preset
from app.services import connectors as service
from app.store.db import Database
from app.store.models import DemandLine, SyncStatus
from app.vault import Vault

VAULT = Vault(bytes(range(32)))
HEADER = "order_id,line_id,order_date,sku,quantity\n"


def write_orders(path: Path, count: int, quantity: int = 1, mtime: float | None = None) -> Path:
    lines = [f"O-{n},1,2024-02-{n % 28 + 1:02d},SKU-{n % 3},{quantity}\n" for n in range(count)]
    path.write_text(HEADER + "".join(lines))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def config(path: Path, **values: Any) -> SourceConfig:
    return SourceConfig(CustomFilePreset.validate({"path": str(path), **values}))


def pull(path: Path, cursor: dict | None = None, page_size: int = 5000, **values) -> list[Page]:
    preset = CustomFilePreset()
    preset.page_size = page_size
    return list(preset.pull(config(path, **values), cursor))


def records(pages: list[Page]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page.records]


def test_registered_with_a_file_field() -> None:
    assert get_preset("custom_file") is CustomFilePreset
    assert CustomFilePreset.display_name == "CSV or Excel file"
    path_field = CustomFilePreset.fields[0]
    assert (path_field.name, path_field.kind, path_field.required) == ("path", FieldKind.FILE, True)


def test_probe_reads_the_header_and_changes_nothing(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv", 3, mtime=1_000)
    before = sorted(tmp_path.rglob("*"))
    result = CustomFilePreset().probe(config(path))
    assert result.details == {
        "path": str(path),
        "size": path.stat().st_size,
        "format": "csv",
        "columns": ["order_id", "line_id", "order_date", "sku", "quantity"],
    }
    assert result.message == "Read orders.csv: 5 column(s)."
    assert sorted(tmp_path.rglob("*")) == before
    assert path.stat().st_mtime == 1_000


def test_probe_of_missing_or_unreadable_input(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match=r"orders\.csv does not exist"):
        CustomFilePreset().probe(config(tmp_path / "orders.csv"))
    with pytest.raises(ConnectorError, match="is not a file"):
        CustomFilePreset().probe(config(tmp_path))
    (tmp_path / "bad.xlsx").write_text("order_id,sku\n")
    with pytest.raises(SourceDataError, match=r"bad\.xlsx is not an Excel workbook"):
        CustomFilePreset().probe(config(tmp_path / "bad.xlsx"))


def test_home_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_orders(tmp_path / "orders.csv", 2)
    assert len(records(pull(Path("~/orders.csv")))) == 2


def test_unchanged_file_yields_nothing_and_a_changed_one_is_read_again(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv", 3, mtime=1_000)
    first = pull(path)
    assert [r["order_id"] for r in records(first)] == ["O-0", "O-1", "O-2"]
    cursor = first[-1].cursor
    entry = cursor["files"][str(path)]
    assert entry["rows"] == 3
    assert entry["size"] == path.stat().st_size
    assert len(entry["sha256"]) == 64
    assert pull(path, cursor) == []

    write_orders(path, 4, quantity=7, mtime=2_000)
    second = pull(path, cursor)
    assert [(r["order_id"], r["quantity"]) for r in records(second)] == [
        ("O-0", "7"),
        ("O-1", "7"),
        ("O-2", "7"),
        ("O-3", "7"),
    ]
    assert pull(path, second[-1].cursor) == []


def test_a_touched_file_is_hashed_not_read_again(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv", 3, mtime=1_000)
    cursor = pull(path)[-1].cursor
    os.utime(path, (9_000, 9_000))
    pages = pull(path, cursor)
    assert [page.records for page in pages] == [[]]
    assert pages[0].cursor["files"][str(path)]["mtime"] == path.stat().st_mtime_ns


def test_a_pull_resumes_mid_file(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv", 7)
    pages = pull(path, page_size=3)
    assert [len(page.records) for page in pages] == [3, 3, 1]
    everything = records(pages)
    assert records(pull(path, pages[0].cursor, page_size=3)) == everything[3:]
    assert records(pull(path, pages[1].cursor, page_size=3)) == everything[6:]


def test_excel_files_with_options(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Summary"
    data = book.create_sheet("Lines")
    data.append(["Export of 2024-02"])
    data.append(["order_id", "line_id", "sku", "quantity"])
    data.append(["X-1", 1, "SKU-1", 2])
    path = tmp_path / "orders.xlsx"
    book.save(path)
    rows = records(pull(path, sheet="Lines", header_row=2))
    assert rows == [{"order_id": "X-1", "line_id": 1, "sku": "SKU-1", "quantity": 2}]


def test_a_file_that_grows_while_read_is_read_again_later(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv", 2)

    class GrowingFile(LocalFile):
        """Another program appends between the listing and the reading."""

        def list_files(self) -> list[SourceFile]:
            listed = super().list_files()
            with path.open("a") as handle:
                handle.write("O-9,1,2024-02-01,SKU-9,1\n")
            return listed

    with pytest.raises(RetryableError, match="changed while it was being read"):
        list(pull_files(GrowingFile(path), FileOptions(), None))


def test_invalid_format_settings() -> None:
    with pytest.raises(ConfigurationError, match="Header row must be a whole number") as caught:
        CustomFilePreset.validate({"path": "/x.csv", "header_row": 0})
    assert caught.value.fields == {"header_row": "must be a whole number, 1 or more"}


def test_reimporting_the_file_never_duplicates_lines(database: Database, tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv", 12, quantity=1, mtime=1_000)
    created = service.add_connector(
        database, VAULT, preset="custom_file", name="Orders file", values={"path": str(path)}
    )
    first = service.sync_now(database, VAULT, created["id"])
    assert (first.status, first.inserted, first.updated) == (SyncStatus.COMPLETE, 12, 0)

    unchanged = service.sync_now(database, VAULT, created["id"])
    assert (unchanged.status, unchanged.pages, unchanged.inserted) == (SyncStatus.COMPLETE, 0, 0)

    write_orders(path, 13, quantity=5, mtime=2_000)
    changed = service.sync_now(database, VAULT, created["id"])
    assert (changed.status, changed.inserted, changed.updated) == (SyncStatus.COMPLETE, 1, 12)
    with database.session() as session:
        stored = session.scalars(select(DemandLine)).all()
    assert len(stored) == 13
    assert {float(line.quantity) for line in stored} == {5.0}
