"""Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy import text

import app as core
from app.runtime import Runtime
from embedded_api.auth import KeyRegistry
from embedded_api.problems import install_error_handlers, problem

log = logging.getLogger(__name__)


def create_app(runtime: Runtime) -> Flask:
    """The WSGI application over ``runtime``'s store."""
    flask_app = Flask(__name__)
    flask_app.config["RUNTIME"] = runtime
    flask_app.config["KEY_REGISTRY"] = KeyRegistry()
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

    return flask_app
