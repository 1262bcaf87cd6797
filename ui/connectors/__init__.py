"""The connectors page and its parts."""
