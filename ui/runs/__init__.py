"""The forecast runs page and its parts."""
