"""CSV or Excel file on this machine (or a mounted share), re-importable without duplicates.

The file is tracked like the files of an SFTP folder (path, size, mtime,
SHA-256; see :func:`app.connectors.file_tracking.pull_files`): syncing an unchanged file
yields nothing, and a changed one is read again, its lines updated in place by
their (order_id, line_id).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from app.connectors.base import (
    Category,
    ConnectorPreset,
    Cursor,
    Page,
    ProbeResult,
    Record,
    SourceConfig,
)
from app.connectors.errors import ConfigurationError, ConnectorError
from app.connectors.fields import Field, FieldKind
from app.connectors.file_tracking import SourceFile, pull_files, sample_files
from app.connectors.files import (
    FORMAT_FIELDS,
    PAGE_SIZE,
    FileOptions,
    FileReader,
    check_format_settings,
    raise_for_problems,
    read_chunks,
)
from app.connectors.registry import register

logger = logging.getLogger(__name__)

FIELDS: tuple[Field, ...] = (
    Field(
        "path",
        "File",
        FieldKind.FILE,
        required=True,
        help="A .csv, .txt, .tsv, .xlsx or .xlsm file; it is read again whenever it changes.",
    ),
    *FORMAT_FIELDS,
)


class LocalFile:
    """One file on disk, as the file-tracking code reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def list_files(self) -> list[SourceFile]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            raise ConnectorError(f"The file {self.path} does not exist.") from None
        except OSError as exc:
            raise ConnectorError(f"Cannot open {self.path}: {exc.strerror or exc}.") from None
        if not self.path.is_file():
            raise ConnectorError(f"{self.path} is not a file.")
        return [SourceFile(str(self.path), self.path.name, info.st_size, info.st_mtime_ns)]

    def read_bytes(self, file: SourceFile) -> Iterator[bytes]:
        try:
            with Path(file.path).open("rb") as handle:
                yield from read_chunks(handle)
        except OSError as exc:
            raise ConnectorError(f"Cannot read {file.path}: {exc.strerror or exc}.") from None

    def archive(self, file: SourceFile) -> str:
        raise NotImplementedError("local files are not archived")


def _local_file(values: Mapping[str, Any]) -> LocalFile:
    raw = str(values.get("path") or "").strip()
    if not raw:
        raise ConfigurationError("Choose the file to import.", fields={"path": "is required"})
    try:
        path = Path(os.path.expandvars(raw)).expanduser().absolute()
        path.stat()  # NUL bytes and similar are refused here, not mid-sync
    except RuntimeError:
        # expanduser: ~name of a user this machine does not know.
        raise ConfigurationError(
            f"{raw} names a home folder of an unknown user.", fields={"path": "unknown user"}
        ) from None
    except ValueError:
        raise ConfigurationError(
            "The path contains a character no file name can hold.",
            fields={"path": "invalid characters"},
        ) from None
    except OSError:
        pass  # missing or unreadable: reported when the file is read, with the reason
    return LocalFile(path)


@register
class CustomFilePreset(ConnectorPreset):
    id = "custom_file"
    display_name = "CSV or Excel file"
    category = Category.CUSTOM
    description = "A CSV or Excel file on this computer or a mounted share."
    fields = FIELDS
    page_size: ClassVar[int] = PAGE_SIZE

    @classmethod
    def validate(cls, values: Any) -> dict[str, Any]:
        settings = super().validate(values)
        raise_for_problems(cls.fields, check_format_settings(settings))
        return settings

    def probe(self, config: SourceConfig) -> ProbeResult:
        source = _local_file(config)
        (file,) = source.list_files()
        reader = FileReader(file.name, source.read_bytes(file), FileOptions.from_config(config))
        records = reader.records()
        try:
            first = next(records, None)
        finally:
            records.close()
        columns = reader.columns or []
        return ProbeResult(
            account=file.name,
            message=f"Read {file.name}: {len(columns)} column(s)"
            + ("." if first is not None else ", but no data rows yet."),
            details={
                "path": file.path,
                "size": file.size,
                "format": reader.format,
                "columns": columns,
            },
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        yield from pull_files(
            _local_file(config),
            FileOptions.from_config(config),
            cursor,
            page_size=self.page_size,
            checkpoint=config.check_cancelled,
        )

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        return sample_files(_local_file(config), FileOptions.from_config(config), limit)
