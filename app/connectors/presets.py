"""Imports every built-in preset module so that each registers itself."""

from app.connectors import custom_file, custom_rest, custom_sftp, demo  # noqa: F401
