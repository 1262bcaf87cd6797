"""Flask application factory."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import Flask, Response, g, jsonify, request
from sqlalchemy import text

import app as core
from app.runtime import Runtime
from app.services.series import results_generation
from embedded_api.access_log import KEY_PREFIX_ENVIRON, AccessLog
from embedded_api.api_v1.result_cache import ResultCache, after_commits
from embedded_api.auth import KeyRegistry
from embedded_api.problems import install_error_handlers, problem
from embedded_api.proxy import TrustedProxyFix, trusted_proxies_from_env
from embedded_api.store_version import StoreVersion

log = logging.getLogger(__name__)

# Request bodies the API takes are small JSON objects; webhooks set their own limit.
MAX_BODY_BYTES = 64 * 1024


def create_app(runtime: Runtime, *, on_run_created: Callable[[int], None] | None = None) -> Flask:
    """The WSGI application over ``runtime``'s store.

    Args:
        on_run_created: called with the id of a run queued through the API, so
            that the host process (``accupredix serve``, the desktop app) can
            wake its run worker; also settable later as ``config["ON_RUN_CREATED"]``.

    Raises:
        ConfigError: ``ACCUPREDIX_TRUSTED_PROXIES`` is not a list of addresses.
    """
    from embedded_api.api_v1 import api

    flask_app = Flask(__name__)
    flask_app.config["RUNTIME"] = runtime
    flask_app.config["KEY_REGISTRY"] = KeyRegistry()
    flask_app.config["ON_RUN_CREATED"] = on_run_created
    flask_app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # One connection reads the store's commit marker for both caches of rendered answers.
    version = StoreVersion(runtime.database.engine)
    # Forecasts of complete runs, rendered once per results generation (None: off).
    flask_app.config["RESULT_CACHE"] = ResultCache(
        after_commits(version.current, functools.partial(results_generation, runtime.database)),
        check_every=0,
    )
    flask_app.json.sort_keys = False  # type: ignore[attr-defined]
    install_error_handlers(flask_app)

    @flask_app.get("/healthz")
    def healthz():
        try:
            with runtime.database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            log.warning("health check: store unreachable", exc_info=True)
            return problem(503, "The store is unreachable.")
        return jsonify(status="ok", version=core.__version__)

    @flask_app.after_request
    def _note_key(response: Response) -> Response:
        principal = g.get("principal")
        if principal is not None:
            request.environ[KEY_PREFIX_ENVIRON] = principal.prefix
        return response

    flask_app.register_blueprint(api.blueprint)
    # Shopify deliveries: signed by HMAC, no API key; their own body limit.
    from embedded_api.webhooks import blueprint as webhooks

    flask_app.register_blueprint(webhooks)
    # OAuth callbacks: the state they carry is the credential, no API key.
    from embedded_api.oauth_routes import blueprint as oauth_callbacks

    flask_app.register_blueprint(oauth_callbacks)
    _register_odata(flask_app, version)
    flask_app.wsgi_app = AccessLog(  # type: ignore[method-assign]
        TrustedProxyFix(flask_app.wsgi_app, trusted_proxies_from_env())
    )
    return flask_app


def _register_odata(flask_app: Flask, version: StoreVersion) -> None:
    try:
        from embedded_api.odata import blueprint
        from embedded_api.odata.page_cache import PageCache
        from embedded_api.odata.views import PAGE_CACHE
    except ImportError:
        log.debug("the OData feed is not part of this build")
        return
    flask_app.register_blueprint(blueprint)
    # Rendered pages, reused until the next commit to the store (None: off).
    flask_app.config[PAGE_CACHE] = PageCache(version.current) if version.available else None
