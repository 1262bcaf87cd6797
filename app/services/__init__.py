"""Use cases, called alike by the desktop app, the HTTP API and the CLI."""
