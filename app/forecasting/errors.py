"""What the forecasting engine raises for input it cannot use."""

from __future__ import annotations


class ForecastInputError(ValueError):
    """The frame or a setting cannot be forecast; the message says what to fix."""
