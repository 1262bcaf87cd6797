"""Which files of a folder were read, and how far: the cursor of file-based sources.

Each file is tracked by path, size, modification time and content hash, so an
unchanged file is never read again, a changed one is read again whole, and a
file left half-read by a crash resumes after the rows already delivered.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.connectors.base import Cursor, Page, Record
from app.connectors.errors import RetryableError, SourceDataError
from app.connectors.files import (
    PAGE_SIZE,
    FileOptions,
    FileReader,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceFile:
    """One file of a source as listed: ``path`` identifies it in the cursor."""

    path: str
    name: str
    size: int
    mtime: int | float


class FileSource(Protocol):
    """Where files come from: a local path or a remote folder."""

    def list_files(self) -> list[SourceFile]: ...

    def read_bytes(self, file: SourceFile) -> Iterator[bytes]: ...

    def archive(self, file: SourceFile) -> str:
        """Move a file that has been read completely; returns where it went."""
        ...


@dataclass
class FileCursor:
    """Which files were read (by path, size, mtime, hash) and how far into the current one.

    Stored as plain JSON: ``{"files": {path: {"size", "mtime", "sha256", "rows"
    [, "archived_to"]}}, "current": {"path", "size", "mtime", "rows"} | None}``.
    """

    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: dict[str, Any] | None = None

    @classmethod
    def load(cls, cursor: Cursor | None) -> FileCursor:
        if not cursor:
            return cls()
        files = cursor.get("files")
        current = cursor.get("current")
        return cls(
            files={path: dict(entry) for path, entry in files.items()}
            if isinstance(files, dict)
            else {},
            current=dict(current) if isinstance(current, dict) else None,
        )

    def dump(self) -> Cursor:
        return {
            "files": {path: dict(entry) for path, entry in self.files.items()},
            "current": dict(self.current) if self.current else None,
        }

    def unchanged(self, file: SourceFile) -> bool:
        entry = self.files.get(file.path) or {}
        return entry.get("size") == file.size and entry.get("mtime") == file.mtime

    def resume_row(self, file: SourceFile) -> int:
        """Rows of ``file`` already delivered by an interrupted pull (0 if none)."""
        current = self.current
        if (
            current
            and current.get("path") == file.path
            and current.get("size") == file.size
            and current.get("mtime") == file.mtime
        ):
            return int(current.get("rows", 0))
        return 0

    def forget_missing(self, present: Iterable[str]) -> None:
        present = set(present)
        self.files = {path: entry for path, entry in self.files.items() if path in present}
        if self.current and self.current.get("path") not in present:
            self.current = None


def pull_files(
    source: FileSource,
    options: FileOptions,
    cursor: Cursor | None,
    *,
    archive: bool = False,
    page_size: int = PAGE_SIZE,
    checkpoint: Callable[[], None] = lambda: None,
) -> Iterator[Page]:
    """Pages of the source's new and changed files, oldest first, ``page_size`` rows each.

    A file whose size and mtime match the cursor is skipped unread; one whose
    size matches but mtime does not is hashed first and skipped if the content
    is the same. A page's cursor says how far into which file it got, so an
    interrupted pull resumes there (re-reading, not re-delivering, the rows
    before). With ``archive``, each file read completely is moved after its
    last page has been taken (the engine commits a page before asking for the
    next one), and files read by earlier pulls but still present are moved too.
    Nothing is yielded when nothing changed.

    Limitation: SFTP reports mtimes in whole seconds, so a file rewritten to the
    same size within the second it was read is taken as unchanged.
    """
    state = FileCursor.load(cursor)
    files = sorted(source.list_files(), key=lambda file: (file.mtime, file.path))
    state.forget_missing(file.path for file in files)
    dirty = False  # the cursor changed since the last page
    for file in files:
        checkpoint()
        if not state.unchanged(file) and not _same_content(source, file, state):
            yield from _file_pages(
                source,
                file,
                options=options,
                state=state,
                page_size=page_size,
                checkpoint=checkpoint,
            )
            dirty = False
        elif state.files[file.path].get("mtime") != file.mtime:
            state.files[file.path]["mtime"] = file.mtime
            dirty = True
        if archive:
            destination = source.archive(file)
            logger.info("Moved %s to %s", file.path, destination)
            state.files[file.path]["archived_to"] = destination
            dirty = True
    if dirty:
        yield Page([], state.dump())


def _same_content(source: FileSource, file: SourceFile, state: FileCursor) -> bool:
    """Whether a file whose mtime changed still has the content the cursor saw."""
    entry = state.files.get(file.path)
    if not entry or entry.get("size") != file.size:
        return False
    digest = hashlib.sha256()
    for chunk in source.read_bytes(file):
        digest.update(chunk)
    return digest.hexdigest() == entry.get("sha256")


def _file_pages(
    source: FileSource,
    file: SourceFile,
    *,
    options: FileOptions,
    state: FileCursor,
    page_size: int,
    checkpoint: Callable[[], None],
) -> Iterator[Page]:
    start = state.resume_row(file)
    if start:
        logger.info("Resuming %s after row %d", file.path, start)
    else:
        logger.info("Reading %s (%d bytes)", file.path, file.size)
    reader = FileReader(file.name, source.read_bytes(file), options)
    records = reader.records()
    try:
        rows = itertools.islice(records, start, None)
        delivered = start
        batch, error = _take(rows, page_size)
        while True:
            checkpoint()
            # Read one page ahead, so that the last page is known as the last one.
            following: list[Record] = []
            if error is None and len(batch) == page_size:
                following, error = _take(rows, page_size)
            delivered += len(batch)
            if following or error is not None:
                # The rows before a bad one are delivered before it is reported.
                if batch:
                    state.current = {
                        "path": file.path,
                        "size": file.size,
                        "mtime": file.mtime,
                        "rows": delivered,
                    }
                    yield Page(batch, state.dump())
                if error is not None and not following:
                    raise error
                batch = following
                continue
            _check_complete(reader, file)
            state.current = None
            state.files[file.path] = {
                "size": file.size,
                "mtime": file.mtime,
                "sha256": reader.sha256,
                "rows": delivered,
            }
            yield Page(batch, state.dump())
            return
    finally:
        records.close()


def _take(rows: Iterator[Record], count: int) -> tuple[list[Record], SourceDataError | None]:
    """Up to ``count`` rows, and the error that stopped the reading early, if one did."""
    taken: list[Record] = []
    try:
        for row in rows:
            taken.append(row)
            if len(taken) == count:
                break
    except SourceDataError as exc:
        return taken, exc
    return taken, None


def _check_complete(reader: FileReader, file: SourceFile) -> None:
    if reader.bytes_read != file.size:
        raise RetryableError(
            f"{file.name} changed while it was being read ({file.size} bytes listed, "
            f"{reader.bytes_read} read); it is read again on the next sync."
        )


def sample_files(
    source: FileSource, options: FileOptions, limit: int, files: Iterable[SourceFile] | None = None
) -> list[Record]:
    """Up to ``limit`` records from the first files, for preview; moves nothing."""
    if files is None:
        files = sorted(source.list_files(), key=lambda file: (file.mtime, file.path))
    records: list[Record] = []
    for file in files:
        if len(records) >= limit:
            break
        reader = FileReader(file.name, source.read_bytes(file), options)
        rows = reader.records()
        try:
            records.extend(itertools.islice(rows, limit - len(records)))
        finally:
            rows.close()
    return records
