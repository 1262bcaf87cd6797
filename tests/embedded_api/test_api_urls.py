"""Absolute URLs: the settings surface, the public URL, forwarded headers from trusted proxies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flask import Flask, request

from app.config import ConfigError, load_config
from app.services.urls import base_urls, local_base_url
from embedded_api.app import create_app
from embedded_api.proxy import TrustedProxyFix, parse_trusted_proxies
from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world


def test_base_urls_without_a_public_url_use_the_bind_address(isolated_env: Path) -> None:
    urls = base_urls(load_config())
    assert not urls.public
    assert urls.api == "http://127.0.0.1:8765/api/v1"
    assert urls.openapi == "http://127.0.0.1:8765/api/v1/openapi.json"
    assert urls.odata == "http://127.0.0.1:8765/odata/"
    assert urls.webhooks == "http://127.0.0.1:8765/webhooks"
    assert urls.connector_webhook("shopify", 7) == (
        "http://127.0.0.1:8765/webhooks/connectors/shopify/7"
    )
    assert urls.oauth_callback("xero") == "http://127.0.0.1:8765/oauth/xero/callback"
    assert base_urls(load_config(), port=9001).api == "http://127.0.0.1:9001/api/v1"


def test_base_urls_use_the_public_url_when_set(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", "https://forecast.example.com/ap/")
    urls = base_urls(load_config(), host="0.0.0.0", port=9001)
    assert urls.public
    assert urls.api == "https://forecast.example.com/ap/api/v1"
    assert urls.odata == "https://forecast.example.com/ap/odata/"
    assert urls.connector_webhook("shopify", 3) == (
        "https://forecast.example.com/ap/webhooks/connectors/shopify/3"
    )
    assert urls.as_dict()["base"] == "https://forecast.example.com/ap"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "http://127.0.0.1:80"),
        ("::", "http://127.0.0.1:80"),
        ("::1", "http://[::1]:80"),
        ("[::1]", "http://[::1]:80"),
        ("forecast.lan", "http://forecast.lan:80"),
    ],
)
def test_local_base_url(host: str, expected: str) -> None:
    assert local_base_url(host, 80) == expected


def public(world: World, url: str = "https://forecast.example.com/ap") -> World:
    config = dataclasses.replace(world.runtime.config, public_url=url)
    world.runtime = dataclasses.replace(world.runtime, config=config)
    world.app = create_app(world.runtime, on_run_created=world.woken.append)
    return world


def test_links_location_and_the_openapi_server_use_the_public_url(world: World) -> None:
    public(world)
    page = world.get("/api/v1/runs?limit=1")
    assert page.headers["Link"].startswith("<https://forecast.example.com/ap/api/v1/runs?")
    created = world.post("/api/v1/runs")
    run_id = created.get_json()["id"]
    assert created.headers["Location"] == f"https://forecast.example.com/ap/api/v1/runs/{run_id}"
    document = world.client.get("/api/v1/openapi.json").get_json()
    assert document["servers"] == [{"url": "https://forecast.example.com/ap/api/v1"}]


def probe_app(trusted: str) -> Flask:
    probe = Flask(__name__)

    @probe.get("/where")
    def where():
        return {
            "remote": request.remote_addr,
            "url_root": request.url_root,
            "forwarded_for": request.headers.get("X-Forwarded-For"),
        }

    probe.wsgi_app = TrustedProxyFix(probe.wsgi_app, parse_trusted_proxies(trusted))  # type: ignore[method-assign]
    return probe


FORWARDED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "forecast.example.com",
}


def test_forwarded_headers_are_honoured_from_a_trusted_proxy() -> None:
    client = probe_app("10.0.0.0/8, 127.0.0.1").test_client()
    seen = client.get("/where", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert seen.get_json()["remote"] == "203.0.113.9"
    assert seen.get_json()["url_root"] == "https://forecast.example.com/"


def test_forwarded_headers_from_anyone_else_are_dropped() -> None:
    for trusted in ("10.0.0.0/8", ""):
        client = probe_app(trusted).test_client()
        seen = client.get("/where", headers=FORWARDED, environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert seen.get_json() == {
            "remote": "192.0.2.7",
            "url_root": "http://localhost/",
            "forwarded_for": None,
        }


def test_an_ipv4_mapped_peer_matches_an_ipv4_network() -> None:
    client = probe_app("127.0.0.1").test_client()
    seen = client.get("/where", headers=FORWARDED, environ_base={"REMOTE_ADDR": "::ffff:127.0.0.1"})
    assert seen.get_json()["remote"] == "203.0.113.9"


def test_the_api_builds_links_from_a_trusted_proxy_s_host(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUPREDIX_TRUSTED_PROXIES", "127.0.0.1")
    world.app = create_app(world.runtime)
    page = world.get("/api/v1/runs?limit=1", headers=FORWARDED)
    assert page.headers["Link"].startswith("<https://forecast.example.com/api/v1/runs?")


def test_a_bad_trusted_proxies_setting_names_the_variable(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUPREDIX_TRUSTED_PROXIES", "10.0.0.0/8, proxy.lan")
    with pytest.raises(ConfigError, match=r"ACCUPREDIX_TRUSTED_PROXIES: 'proxy\.lan'"):
        create_app(world.runtime)
