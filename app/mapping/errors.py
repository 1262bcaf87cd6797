"""Errors of the mapping engine: a bad mapping, and a bad cell of a record."""

from __future__ import annotations

from app.services.errors import InvalidInput


class MappingError(InvalidInput):
    """A field mapping that cannot be used; ``problems`` maps each column to what is wrong.

    Problems that belong to no single column are filed under ``"columns"`` (the
    list as a whole) or ``"mapping"`` (the document).
    """

    def __init__(self, message: str, problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = dict(problems or {})


class CellError(Exception):
    """One value of one record cannot become its column's value; caught per cell."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def show(value: object, width: int = 40) -> str:
    """A short, quoted rendering of a source value for a cell's error message."""
    if isinstance(value, str):
        text = value if len(value) <= width else value[: width - 1] + "…"
        return f'"{text}"'
    if value is None or isinstance(value, (bool, dict, list)):
        return _describe(value)
    if isinstance(value, int) and value.bit_length() > 1000:
        # str() of such an int is slow, and refused past 4,300 digits.
        return "a number of over 300 digits"
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "an object" if isinstance(value, dict) else "a list"


class SpecProblem(ValueError):
    """One part of a mapping is wrong; the message says which and why."""
