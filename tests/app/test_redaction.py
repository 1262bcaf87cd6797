"""Secrets never reach output: structured views, free text and log files."""

from __future__ import annotations

import logging

import pytest

from app.config import load_config
from app.logs import LOG_FILE, configure_logging
from app.redaction import MASK, mask_text, redact, register_secret
from app.services.secrets import public_connector, set_secrets
from app.store.db import Database
from app.store.models import Connector, Organisation, Workspace
from app.vault import Vault, connector_context

SECRET = "shpss_known-secret-2f9c81"


def test_redact_masks_declared_and_credential_named_fields() -> None:
    values = {
        "shop": "acme.myshopify.com",
        "client_secret": "abc123456",
        "access_token": "",
        "custom": "hunter22",
        "headers": [{"name": "X-Trace", "Authorization": "Bearer xyz"}],
        "nested": {"password": "p", "page_size": 50},
    }
    out = redact(values, secret_fields={"custom"})
    assert out == {
        "shop": "acme.myshopify.com",
        "client_secret": MASK,
        "access_token": "",  # an unset secret stays visibly unset
        "custom": MASK,
        "headers": [{"name": "X-Trace", "Authorization": MASK}],
        "nested": {"password": MASK, "page_size": 50},
    }
    assert values["client_secret"] == "abc123456", "redact returns a copy"


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("key apx_ab12cd34_Zm9vYmFyYmF6cXV4cXV1eA used", "Zm9vYmFyYmF6cXV4cXV1eA"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("GET https://user:pa55word@host/x", "pa55word"),
        ("GET /odata/Forecasts?api_key=abcd1234&$top=5", "abcd1234"),
        ("token refresh: refresh_token=r-123456 failed", "r-123456"),
    ],
)
def test_mask_text_hides_credential_shapes(text: str, leak: str) -> None:
    masked = mask_text(text)
    assert leak not in masked
    assert MASK in masked


def test_mask_text_keeps_the_api_key_prefix_visible() -> None:
    assert mask_text("apx_ab12cd34_Zm9vYmFyYmF6cXV4") == f"apx_ab12cd34_{MASK}"


def test_known_values_are_masked_longest_first() -> None:
    register_secret("abcdef")
    register_secret("abcdef-longer")
    assert mask_text("x abcdef-longer y abcdef") == f"x {MASK} y {MASK}"
    register_secret("abc")  # too short to mask by value without garbling logs
    assert mask_text("abc") == "abc"


def test_public_connector_shows_secrets_as_mask(sqlite_database: Database) -> None:
    vault = Vault(bytes(32))
    with sqlite_database.session() as session:
        workspace = Workspace(name="Main", organisation=Organisation(name="Acme"))
        session.add(workspace)
        session.flush()
        connector = Connector(
            workspace_id=workspace.id,
            preset="shopify",
            name="Shop",
            config={"shop": "acme.myshopify.com", "api_version": "2026-01"},
        )
        session.add(connector)
        session.flush()
        set_secrets(vault, connector, {"access_token": SECRET, "unused": ""})
        view = public_connector(connector)
    assert view["config"] == {
        "shop": "acme.myshopify.com",
        "api_version": "2026-01",
        "access_token": MASK,
    }
    assert SECRET not in repr(view)
    assert SECRET not in repr(connector.secrets)


def test_log_file_and_console_never_show_a_known_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = load_config()
    configure_logging(config)
    vault = Vault(bytes(32))
    token = vault.encrypt(SECRET, connector_context(1, "client_secret"))
    assert vault.decrypt(token, connector_context(1, "client_secret")) == SECRET

    log = logging.getLogger("tests.leaky")
    log.warning("calling the shop with %s", SECRET)
    log.warning("pre-formatted: " + SECRET)  # noqa: G003 - exactly the mistake to survive
    logging.getLogger("urllib3.connectionpool").warning("Authorization: Bearer %s", SECRET)
    try:
        raise RuntimeError(f"token {SECRET} refused")
    except RuntimeError:
        log.exception("request failed")

    for handler in logging.getLogger().handlers:
        handler.flush()
    written = (config.log_dir / LOG_FILE).read_text()
    console = capsys.readouterr().err
    for output in (written, console):
        assert SECRET not in output
        assert output.count(MASK) >= 4
        assert "RuntimeError" in output, "the traceback itself must survive masking"


def test_json_token_members_are_masked() -> None:
    body = '{"access_token": "at-9988776655", "expires_in": 1800, "refresh_token":"rt-1"}'
    masked = mask_text(body)
    assert "at-9988776655" not in masked
    assert "rt-1" not in masked
    assert '"expires_in": 1800' in masked


def test_ordinary_words_survive_masking() -> None:
    text = "basic settings saved; bearer of bad news; token bucket refilled"
    assert mask_text(text) == text


def test_headers_dict_in_a_log_line_is_masked() -> None:
    line = "headers={'Authorization': 'Bearer abc.def.ghi', 'Accept': 'json'}"
    masked = mask_text(line)
    assert "abc.def.ghi" not in masked
    assert "'Accept': 'json'" in masked
