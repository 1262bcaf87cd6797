"""``GET /oauth/<provider>/callback``: where a provider sends the browser back after sign-in.

No API key: the ``state`` in the query is the credential, and it is accepted
once. The answer is a small HTML page for the person at the browser, which says
in plain words what happened; the application follows along on its own.
"""

from __future__ import annotations

import html
import logging

from flask import Blueprint, Response, current_app, request

from app.oauth import flow
from app.oauth.flow import CallbackOutcome, OAuthFlowError
from app.runtime import Runtime
from app.services.webhooks import register_webhooks

log = logging.getLogger(__name__)

blueprint = Blueprint("oauth", __name__)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - AccuPredix</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 4rem auto; max-width: 36rem;
       padding: 0 1rem; color: #1f2933; }}
h1 {{ font-size: 1.4rem; color: {colour}; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{message}</p>
</body>
</html>
"""


@blueprint.get("/oauth/<provider>/callback")
def callback(provider: str) -> Response:
    runtime: Runtime = current_app.config["RUNTIME"]
    try:
        outcome = flow.complete(
            runtime.database,
            runtime.vault,
            provider,
            request.args.to_dict(flat=True),
            config=runtime.config,
        )
    except OAuthFlowError as exc:
        log.warning("%s sign-in refused: %s", provider, exc.message)
        return _page("Not connected", exc.message, exc.status, ok=False)
    except Exception:
        log.exception("%s sign-in callback failed", provider)
        return _page(
            "Not connected",
            "Something went wrong while finishing the sign-in; the AccuPredix log file "
            "has the details. Start Connect again.",
            500,
            ok=False,
        )
    if outcome.connector_id is not None:
        # New credentials may belong to a new app installation: subscribe again.
        # A failure shows on the connector; the sign-in itself succeeded.
        register_webhooks(runtime.database, runtime.vault, outcome.connector_id, runtime.config)
    return _page(f"Connected to {outcome.provider}", _success(outcome), 200, ok=True)


def _success(outcome: CallbackOutcome) -> str:
    who = f"{outcome.provider} ({outcome.account})" if outcome.account else outcome.provider
    if outcome.reconnected:
        return f"The connector is signed in to {who} again. You can close this window."
    if outcome.needs_choice:
        return (
            f"Signed in to {outcome.provider}. Go back to AccuPredix to choose which "
            "organisation to read, then close this window."
        )
    return f"Connected to {who}. You can close this window and go back to AccuPredix."


def _page(title: str, message: str, status: int, *, ok: bool) -> Response:
    body = _PAGE.format(
        title=html.escape(title),
        message=html.escape(message),
        colour="#1b7f3b" if ok else "#b42318",
    )
    response = Response(body, status=status, mimetype="text/html")
    # The URL carried an authorisation code: keep it out of caches and referrers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
