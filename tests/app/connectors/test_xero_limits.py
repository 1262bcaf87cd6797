"""Xero's call limits and token refreshes, against the fake Xero on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.connectors.base import Page, SourceConfig
from app.connectors.errors import AuthError, RateLimited, RetryableError
from app.connectors.http import RetryPolicy
from app.connectors.xero import XeroPreset, api
from app.connectors.xero.api import XeroApi
from app.connectors.xero.quota import Pacing, Quota
from app.connectors.xero.reader import Reader
from app.oauth import tokens
from app.oauth.providers import PROVIDERS
from tests.fakes.xero import (
    CLIENT_ID,
    CLIENT_SECRET,
    HARBOUR,
    KAURI,
    FakeXero,
    Grant,
    Tenant,
    serve_xero,
)

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=0.2)


@pytest.fixture
def xero(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeXero]:
    """The fake Xero, with the preset's hosts and the OAuth provider pointed at it."""
    with serve_xero() as fake:
        monkeypatch.setattr(api, "API_URL", fake.api_url)
        monkeypatch.setattr(api, "CONNECTIONS_URL", fake.connections_url)
        provider = dataclasses.replace(PROVIDERS["xero"], token_url=fake.token_url)
        monkeypatch.setitem(PROVIDERS, "xero", provider)
        monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_SECRET", CLIENT_SECRET)
        yield fake
    tokens.forget_rotations()


@pytest.fixture
def preset() -> XeroPreset:
    preset = XeroPreset()
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    preset.pacing = Pacing(window=0.5)
    preset.invoice_page_size = 100  # Harbour's 105 sales invoices take two pages
    return preset


def source(
    grant: Grant, tenant: Tenant = HARBOUR, saved: list[dict[str, Any]] | None = None
) -> SourceConfig:
    """A saved connector's configuration; ``saved`` collects what it persists."""
    store: list[dict[str, Any]] = [] if saved is None else saved
    return SourceConfig(
        values={**grant.secrets(), "tenant_id": tenant.tenant_id},
        save_secrets=lambda updates: store.append(dict(updates)),
    )


def records(pages: list[Page]) -> int:
    return sum(len(page.records) for page in pages)


# -- the minute ------------------------------------------------------------------------


def test_a_429_storm_slows_the_pull_without_failing_it(xero: FakeXero, preset: XeroPreset) -> None:
    grant = xero.grant()
    calm = list(preset.pull(source(grant), None))
    xero.log.clear()
    xero.rate_limit_storm(3, retry_after=1)
    stormy = list(preset.pull(source(grant), None))
    assert [page.records for page in stormy] == [page.records for page in calm]
    assert [call.status for call in xero.log] == [429, 429, 429, 200, 200, 200]
    # Each retry waited what Retry-After asked (capped at 0.2 s by the test's policy).
    for refused, following in zip(xero.log[:3], xero.log[1:4], strict=True):
        assert following.started - refused.finished >= 0.15


def test_the_minute_allowance_paces_the_calls_so_that_none_is_refused(xero: FakeXero) -> None:
    xero.minute_limit, xero.window = 4, 0.4
    config = source(xero.grant())
    quota = Quota(Pacing(window=0.4, low=4))
    started = time.monotonic()
    with XeroApi(config, tenant_id=HARBOUR.tenant_id, retry=FAST, quota=quota) as client:
        pages = list(Reader(client, HARBOUR.tenant_id, invoice_page_size=15).pages(None))
    elapsed = time.monotonic() - started
    assert len(xero.log) == 9  # 105 sales invoices by 15, one more page, the credit notes
    assert {call.status for call in xero.log} == {200}, "paced below the limit, never refused"
    assert elapsed >= 0.4, "nine calls at four a window take two windows at least"
    assert records(pages) > 0
    assert quota.rate_limited == 0


# -- the day ---------------------------------------------------------------------------


def test_a_used_up_day_stops_the_pull_retryably_and_says_when_it_resets(
    xero: FakeXero, preset: XeroPreset
) -> None:
    xero.use_up_day(HARBOUR)
    with pytest.raises(RateLimited) as caught:
        list(preset.pull(source(xero.grant()), None))
    message = str(caught.value)
    assert "daily limit" in message
    assert "resets in about 5 h 17 min" in message
    assert "resumes where this one stopped" in message
    assert caught.value.retry_after == 5 * 3600 + 17 * 60
    assert [call.status for call in xero.log] == [429], "a day is not waited out with retries"


def test_the_days_last_call_is_used_and_the_pull_stops_before_the_next(
    xero: FakeXero, preset: XeroPreset
) -> None:
    xero.use_up_day(HARBOUR, leave=1)
    pages = preset.pull(source(xero.grant()), None)
    first = next(pages)
    assert first.records, "the last call of the day is not wasted"
    with pytest.raises(RetryableError) as caught:
        next(pages)
    assert "daily limit" in str(caught.value)
    assert "within a day" in str(caught.value)
    assert len(xero.log) == 1, "no call is made once the day says none is left"
    assert first.cursor is not None
    assert first.cursor["kind"] == "invoices"


def test_the_allowances_are_per_organisation(xero: FakeXero, preset: XeroPreset) -> None:
    xero.use_up_day(HARBOUR)
    grant = xero.grant()
    assert preset.probe(source(grant, KAURI)).details["calls_left_today"] == 4998


# -- tokens ----------------------------------------------------------------------------


def test_a_token_refused_before_its_expiry_is_refreshed_once_and_the_call_repeated(
    xero: FakeXero, preset: XeroPreset, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    grant = xero.grant()
    spent = dict(grant.secrets())
    saved: list[dict[str, Any]] = []
    config = source(grant, saved=saved)
    xero.expire_tokens()  # the stored expiry still says 30 minutes
    pages = list(preset.pull(config, None))
    assert records(pages) > 0
    assert [call.status for call in xero.log][:2] == [401, 200]
    assert xero.token_requests == 1
    # The new access token, its expiry and the rotated refresh token, saved together.
    assert len(saved) == 1
    assert set(saved[0]) == {"access_token", "refresh_token", "token_expires_at"}
    assert saved[0]["refresh_token"] == grant.refresh_token != spent["refresh_token"]
    assert saved[0]["access_token"] == grant.access_token
    expires = dt.datetime.fromisoformat(saved[0]["token_expires_at"])
    assert dt.timedelta(minutes=25) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=31)
    assert config["refresh_token"] == grant.refresh_token
    assert {call.headers["Authorization"] for call in xero.log[1:]} == {
        f"Bearer {grant.access_token}"
    }
    for secret in (spent["access_token"], spent["refresh_token"], grant.refresh_token):
        assert secret not in caplog.text
    assert CLIENT_SECRET not in caplog.text


def test_an_expiring_token_is_refreshed_before_the_first_call(
    xero: FakeXero, preset: XeroPreset
) -> None:
    grant = xero.grant()
    config = source(grant)
    config.values["token_expires_at"] = (
        dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    ).isoformat()
    preset.probe(config)
    assert xero.token_requests == 1
    assert {call.status for call in xero.log} == {200}
    assert config["access_token"] == grant.access_token


def test_a_revoked_grant_needs_a_reconnect(xero: FakeXero, preset: XeroPreset) -> None:
    grant = xero.grant()
    xero.revoke()
    with pytest.raises(AuthError) as caught:
        list(preset.pull(source(grant), None))
    message = str(caught.value)
    assert "invalid_grant" in message
    assert "reconnect" in message
    assert grant.refresh_token not in message
    assert xero.token_requests == 1
