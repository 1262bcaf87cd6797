"""Absolute URLs the API hands out: on the public URL when one is configured."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, request

from app.services.urls import join_url


def external_base() -> str:
    """The public URL when set (a tunnel or reverse proxy), else the URL this request came to."""
    public_url: str | None = current_app.config["RUNTIME"].config.public_url
    return public_url or request.url_root


def external_url(path: str, query: dict[str, str] | None = None) -> str:
    url = join_url(external_base(), path)
    return f"{url}?{urlencode(query)}" if query else url
