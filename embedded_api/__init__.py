"""The embedded web server: Flask application and its Waitress runner."""

from embedded_api.app import create_app

__all__ = ["create_app"]
