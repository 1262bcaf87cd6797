"""Connectors: the preset contract, the shared HTTP and file layers, the presets."""
