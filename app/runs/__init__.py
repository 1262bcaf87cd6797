"""Forecast runs over the store: series building, execution and persistence."""
