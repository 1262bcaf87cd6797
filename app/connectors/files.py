"""CSV and Excel files as records.

Shared by the SFTP folder and local file presets. A file is read from an
iterable of byte chunks, so it never sits in memory whole; its SHA-256 is
computed on the way. CSV is decoded and split into lines here (to know the line
of a bad byte) and parsed by the ``csv`` module; XLSX is parsed by openpyxl in
read-only mode from a temporary copy, since a zip archive needs random access.

Every problem with the content raises :class:`SourceDataError` naming the file
and the line (CSV) or row (XLSX).
"""

from __future__ import annotations

import codecs
import collections
import csv
import hashlib
import io
import itertools
import logging
import posixpath
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from app.connectors.base import Record
from app.connectors.errors import ConfigurationError, SourceDataError
from app.connectors.fields import Field, FieldKind

logger = logging.getLogger(__name__)

PAGE_SIZE = 5_000
READ_SIZE = 1 << 20
# A physical line longer than this is not a CSV line; stop before it fills memory.
MAX_LINE_CHARS = 16 << 20
SNIFF_LINES = 50
SNIFF_CHARS = 1 << 16

CSV_EXTENSIONS = frozenset({".csv", ".txt", ".tsv"})
XLSX_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
DELIMITERS: dict[str, str] = {",": ",", ";": ";", "tab": "\t", "|": "|"}
ENCODINGS = ("auto", "utf-8", "cp1252", "latin-1")
QUOTES: dict[str, str | None] = {'"': '"', "'": "'", "none": None}

_CSV_LIKE = ("auto", "csv")
_XLSX_LIKE = ("auto", "xlsx")

FORMAT_FIELDS: tuple[Field, ...] = (
    Field(
        "file_format",
        "File format",
        FieldKind.CHOICE,
        default="auto",
        choices=("auto", "csv", "xlsx"),
        help="auto: by the extension (.csv, .txt, .tsv are CSV; .xlsx, .xlsm are Excel).",
    ),
    Field(
        "delimiter",
        "Delimiter",
        FieldKind.CHOICE,
        default="auto",
        choices=("auto", *DELIMITERS),
        help="auto: guessed from the first lines.",
        visible_when={"file_format": _CSV_LIKE},
    ),
    Field(
        "encoding",
        "Encoding",
        FieldKind.CHOICE,
        default="auto",
        choices=ENCODINGS,
        help="auto: UTF-8 (with or without a byte order mark), else Windows-1252.",
        visible_when={"file_format": _CSV_LIKE},
    ),
    Field(
        "quote_char",
        "Quote character",
        FieldKind.CHOICE,
        default='"',
        choices=tuple(QUOTES),
        visible_when={"file_format": _CSV_LIKE},
    ),
    Field(
        "header_row",
        "Header row",
        FieldKind.NUMBER,
        default=1,
        help="The row that holds the column names; rows above it are ignored.",
    ),
    Field(
        "sheet",
        "Sheet",
        help="Excel only; empty for the first sheet.",
        visible_when={"file_format": _XLSX_LIKE},
    ),
    Field("skip_blank_lines", "Skip blank lines", FieldKind.BOOLEAN, default=True),
)


@dataclass(frozen=True)
class FileOptions:
    """How to read a file; the defaults suit most exports."""

    format: str = "auto"
    delimiter: str = "auto"
    encoding: str = "auto"
    quote_char: str = '"'
    header_row: int = 1
    sheet: str | None = None
    skip_blank_lines: bool = True

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> FileOptions:
        """Options from a preset's validated settings (the FORMAT_FIELDS)."""
        return cls(
            format=values.get("file_format") or "auto",
            delimiter=values.get("delimiter") or "auto",
            encoding=values.get("encoding") or "auto",
            quote_char=values.get("quote_char") or '"',
            header_row=int(values.get("header_row") or 1),
            sheet=values.get("sheet") or None,
            skip_blank_lines=values.get("skip_blank_lines", True) is not False,
        )


def check_format_settings(values: Mapping[str, Any]) -> dict[str, str]:
    """Problems with the FORMAT_FIELDS values beyond their types, by field name."""
    header_row = values.get("header_row", 1)
    if not isinstance(header_row, int) or header_row < 1:
        return {"header_row": "must be a whole number, 1 or more"}
    return {}


def raise_for_problems(fields: Iterable[Field], problems: Mapping[str, str]) -> None:
    """Raise a ConfigurationError naming each problem by its field's label, if any."""
    if not problems:
        return
    labels = {spec.name: spec.label for spec in fields}
    summary = "; ".join(f"{labels.get(name, name)} {text}" for name, text in problems.items())
    raise ConfigurationError(f"Invalid settings: {summary}.", fields=dict(problems))


def detect_format(name: str, options: FileOptions) -> str:
    """``csv`` or ``xlsx``: the chosen format, or the one the extension says."""
    if options.format != "auto":
        return options.format
    extension = posixpath.splitext(name.lower())[1]
    if extension in CSV_EXTENSIONS:
        return "csv"
    if extension in XLSX_EXTENSIONS:
        return "xlsx"
    if extension == ".xls":
        raise SourceDataError(
            f"{name}: old Excel .xls files cannot be read; save it as .xlsx or CSV."
        )
    raise SourceDataError(
        f"{name}: cannot tell the format from the name; choose CSV or Excel in the settings."
    )


class FileReader:
    """Reads one file's records from its bytes, hashing the bytes as they pass.

    ``columns`` is known once the header has been read; ``sha256`` and
    ``bytes_read`` are complete once ``records()`` is exhausted.
    """

    def __init__(self, name: str, chunks: Iterable[bytes], options: FileOptions) -> None:
        self.name = name
        self.options = options
        self.format = detect_format(name, options)
        self.columns: list[str] | None = None
        self.bytes_read = 0
        self._chunks = chunks
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _hashed(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._hash.update(chunk)
            self.bytes_read += len(chunk)
            yield chunk

    def records(self) -> Iterator[Record]:
        """The file's data rows as dicts keyed by the header's column names."""
        if self.format == "csv":
            yield from _csv_records(self, self._hashed())
            return
        # openpyxl needs a seekable file; spool the bytes to disk, not memory.
        with tempfile.TemporaryFile() as spool:
            for chunk in self._hashed():
                spool.write(chunk)
            spool.seek(0)
            yield from _xlsx_records(self, spool)


def read_chunks(stream: IO[bytes], size: int = READ_SIZE) -> Iterator[bytes]:
    """A binary stream as chunks of at most ``size`` bytes."""
    while chunk := stream.read(size):
        yield chunk


# --- CSV -----------------------------------------------------------------------------

_LINE_END = re.compile(r"\r\n|\r|\n")


def _decoded(name: str, chunks: Iterable[bytes], encoding: str) -> Iterator[str]:
    """Decode chunk by chunk; a bad byte is reported with its line number.

    ``auto`` reads UTF-8 (a byte order mark is dropped) and falls back to
    Windows-1252 at the first byte that is not UTF-8, provided everything
    before it was ASCII, which reads the same in both.
    """
    chunks = iter(chunks)
    first = next(chunks, b"")
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceDataError(f"{name} is UTF-16 text; save it as UTF-8 or Windows-1252 CSV.")
    fallback = encoding == "auto"
    if fallback:
        encoding = "utf-8"
    decoder = _decoder(encoding)
    newlines = 0
    for chunk in itertools.chain([first], chunks):
        while True:
            try:
                text = decoder.decode(chunk)
                break
            except UnicodeDecodeError as exc:
                if not fallback:
                    line = newlines + exc.object[: exc.start].count(b"\n") + 1
                    bad = exc.object[exc.start : exc.end].hex(" ")
                    raise SourceDataError(
                        f"{name}, line {line}: the bytes {bad} are not valid {encoding}; "
                        "choose the file's encoding in the settings."
                    ) from None
                logger.debug("%s: not UTF-8 at line %d, reading it as cp1252", name, newlines + 1)
                encoding, decoder, fallback = "cp1252", _decoder("cp1252"), False
        if fallback and not chunk.isascii():
            fallback = False
        if "\x00" in text:
            line = newlines + chunk[: chunk.find(b"\x00")].count(b"\n") + 1
            raise SourceDataError(
                f"{name}, line {line}: contains NUL bytes, so it is not a text (CSV) file."
            )
        newlines += chunk.count(b"\n")
        yield text
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise SourceDataError(
            f"{name}, line {newlines + 1}: the file ends inside a {encoding} character."
        ) from None
    if tail:
        yield tail


def _decoder(encoding: str) -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)()


def _lines(name: str, texts: Iterable[str]) -> Iterator[str]:
    """Physical lines with their endings (\r\n, \r or \n), as the csv module wants."""
    pending = ""
    count = 0
    for text in texts:
        pending += text
        if pending.count("\r") == pending.count("\r\n") and not pending.endswith("\r"):
            # The usual case, no lone \r: a plain split is much faster than the regex.
            *lines, pending = pending.split("\n")
            count += len(lines)
            for line in lines:
                yield line + "\n"
        else:
            start = 0
            for match in _LINE_END.finditer(pending):
                if match.end() == len(pending) and match.group() == "\r":
                    break  # the \n of a \r\n may start the next chunk
                yield pending[start : match.end()]
                start = match.end()
                count += 1
            pending = pending[start:]
        if len(pending) > MAX_LINE_CHARS:
            raise SourceDataError(
                f"{name}, line {count + 1}: longer than {MAX_LINE_CHARS} characters; "
                "is this a CSV file?"
            )
    if pending:
        yield pending


def sniff_delimiter(sample: str, quote_char: str | None = '"') -> str:
    """The delimiter among , ; tab | that splits the sample's lines most consistently.

    csv.Sniffer also guesses quoting and is easily misled by quoted text; only
    the delimiter is wanted here, so each candidate is tried and the one giving
    the same number of columns (at least two) on most lines wins. Ties go to the
    earlier candidate; a single-column sample gives a comma.
    """
    lines = list(itertools.islice(_LINE_END.finditer(sample), SNIFF_LINES))
    if lines:
        sample = sample[: lines[-1].end()]  # drop a partial last line
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS.values():
        reader = _csv_reader(io.StringIO(sample, newline=""), delimiter, quote_char, strict=False)
        try:
            widths = collections.Counter(len(row) for row in reader if any(row))
        except csv.Error:
            continue
        if not widths:
            continue
        width, rows = max(widths.items(), key=lambda item: (item[1], item[0]))
        if width > 1 and (rows, width) > best_score:
            best, best_score = delimiter, (rows, width)
    return best


def _csv_reader(
    lines: Iterable[str], delimiter: str, quote_char: str | None, *, strict: bool = True
) -> Any:
    if quote_char is None:
        return csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE, strict=strict)
    return csv.reader(
        lines, delimiter=delimiter, quotechar=quote_char, doublequote=True, strict=strict
    )


def _csv_records(reader: FileReader, chunks: Iterable[bytes]) -> Iterator[Record]:
    name, options = reader.name, reader.options
    texts = iter(_decoded(name, chunks, options.encoding))
    quote_char = QUOTES.get(options.quote_char, '"')
    delimiter = DELIMITERS.get(options.delimiter)
    if delimiter is None:
        head = _head(texts)
        delimiter = sniff_delimiter("".join(head), quote_char)
        texts = itertools.chain(head, texts)
    rows = _csv_reader(_lines(name, texts), delimiter, quote_char)
    header: list[str] | None = None
    row_number = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceDataError(f"{name}, line {rows.line_num}: {_csv_problem(exc)}") from None
        row_number += 1
        if header is None:
            if row_number == options.header_row:
                header = _header(name, f"line {rows.line_num}", row)
                reader.columns = header
            continue
        if not any(row):
            if options.skip_blank_lines:
                continue
            row = [""] * len(header)
        yield _record(name, f"line {rows.line_num}", header, row)


def _head(texts: Iterator[str]) -> list[str]:
    """Enough leading text to sniff the delimiter from."""
    head: list[str] = []
    size = lines = 0
    for text in texts:
        head.append(text)
        size += len(text)
        lines += text.count("\n")
        if size >= SNIFF_CHARS or lines >= SNIFF_LINES:
            break
    return head


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (
            f"a value is longer than {csv.field_size_limit()} characters "
            "(often a quote that is never closed)."
        )
    if "unexpected end of data" in text:
        return "the file ends inside a quoted value (a quote that is never closed)."
    return f"malformed CSV ({text})."


# --- shared by CSV and XLSX ------------------------------------------------------------


def _header(name: str, where: str, cells: Iterable[Any]) -> list[str]:
    names = ["" if cell is None else str(cell).strip() for cell in cells]
    # Spreadsheets often carry empty columns at the right of the table.
    while names and not names[-1]:
        names.pop()
    if not names:
        raise SourceDataError(f"{name}, {where}: the header row is empty; check the header row.")
    first_seen: dict[str, int] = {}
    for number, column in enumerate(names, start=1):
        if not column:
            raise SourceDataError(f"{name}, {where}: header column {number} has no name.")
        if column in first_seen:
            raise SourceDataError(
                f"{name}, {where}: the column name {column!r} appears twice "
                f"(columns {first_seen[column]} and {number})."
            )
        first_seen[column] = number
    return names


def _record(
    name: str, where: str, header: list[str], values: list[Any], *, pad: bool = False
) -> Record:
    """A row as a dict; with ``pad``, missing cells at the right are None (XLSX)."""
    width = len(header)
    if len(values) == width:
        return dict(zip(header, values, strict=True))
    if len(values) < width and not pad:
        raise SourceDataError(
            f"{name}, {where}: {len(values)} values, but the header has {width} columns."
        )
    extra = [index for index in range(width, len(values)) if values[index] not in ("", None)]
    if extra:
        raise SourceDataError(
            f"{name}, {where}: a value in column {extra[0] + 1}, "
            f"but the header names only {width} columns."
        )
    record = dict(zip(header, values, strict=False))
    for column in header[len(values) :]:
        record[column] = None
    return record


# --- XLSX ----------------------------------------------------------------------------

_BROKEN_WORKBOOK = (
    zipfile.BadZipFile,
    InvalidFileException,
    KeyError,
    ValueError,
    TypeError,
    ParseError,
    EOFError,
    zlib.error,
)
_OLE2_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


def _xlsx_records(reader: FileReader, spool: IO[bytes]) -> Iterator[Record]:
    name, options = reader.name, reader.options
    magic = spool.read(8)
    spool.seek(0)
    if magic == _OLE2_MAGIC:
        raise SourceDataError(f"{name} is an old Excel .xls file; save it as .xlsx or CSV.")
    try:
        workbook = openpyxl.load_workbook(spool, read_only=True, data_only=True)
    except _BROKEN_WORKBOOK:
        raise SourceDataError(f"{name} is not an Excel workbook (.xlsx) or is damaged.") from None
    try:
        sheet = _sheet(name, workbook, options.sheet)
        yield from _sheet_records(reader, sheet)
    finally:
        workbook.close()


def _sheet_records(reader: FileReader, sheet: Any) -> Iterator[Record]:
    name, options = reader.name, reader.options
    where = f"sheet {sheet.title!r}"
    number = options.header_row
    try:
        rows = sheet.iter_rows(min_row=number, values_only=True)
        cells = next(rows, None)
        if cells is None:
            return
        header = _header(name, f"{where}, row {number}", cells)
        reader.columns = header
        for cells in rows:
            number += 1
            values = list(cells)
            if all(value in ("", None) for value in values):
                if options.skip_blank_lines:
                    continue
                values = []
            yield _record(name, f"{where}, row {number}", header, values, pad=True)
    except _BROKEN_WORKBOOK:
        raise SourceDataError(
            f"{name}, {where}, row {number}: the workbook is damaged and cannot be read."
        ) from None


def _sheet(name: str, workbook: Any, wanted: str | None) -> Any:
    if not wanted:
        return workbook.worksheets[0]
    if wanted in workbook.sheetnames:
        return workbook[wanted]
    raise SourceDataError(
        f"{name} has no sheet named {wanted!r}; its sheets are {', '.join(workbook.sheetnames)}."
    )
