"""Syncing connectors into the store: the engine, its locks and the scheduler."""
