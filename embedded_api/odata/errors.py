"""OData JSON error bodies, and the handlers that give the feed its own error shape.

The REST API answers ``application/problem+json``; OData clients (Power BI,
Tableau, client libraries) read ``{"error": {"code", "message", "target"}}``
instead, so every error raised inside the feed's blueprint is turned into that.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Blueprint, Response, json
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from embedded_api.problems import ProblemError

log = logging.getLogger(__name__)

ODATA_VERSION = "4.0"
ERROR_CONTENT_TYPE = "application/json;odata.metadata=minimal;charset=utf-8"


class ODataError(Exception):
    """Raised anywhere in the feed to answer with an OData error of ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        target: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _default_code(status)
        self.target = target
        self.headers = headers or {}


class BadRequest(ODataError):
    """The request is not valid OData (400)."""

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(400, message, code="BadRequest", target=target)


class NotImplementedFeature(ODataError):
    """Valid OData that this feed does not implement (501)."""

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(501, message, code="NotImplemented", target=target)


class NotFound(ODataError):
    """No such resource, or not in the caller's organisation (404)."""

    def __init__(self, message: str) -> None:
        super().__init__(404, message, code="NotFound")


def _default_code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "Error"


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    target: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An OData JSON error response."""
    error: dict[str, str] = {"code": code or _default_code(status), "message": message}
    if target:
        error["target"] = target
    response = Response(json.dumps({"error": error}), status=status)
    response.headers["Content-Type"] = ERROR_CONTENT_TYPE
    response.headers["OData-Version"] = ODATA_VERSION
    response.headers.update(headers or {})
    return response


def install_error_handlers(blueprint: Blueprint) -> None:
    """Answer every error raised in ``blueprint``'s views in the OData JSON error format."""

    @blueprint.errorhandler(ODataError)
    def _odata(exc: ODataError) -> Response:
        return error_response(
            exc.status, exc.message, code=exc.code, target=exc.target, headers=exc.headers
        )

    @blueprint.errorhandler(ProblemError)
    def _problem(exc: ProblemError) -> Response:
        # Authentication, scope, plan and rate-limit refusals; their headers
        # (WWW-Authenticate, Retry-After) are what BI tools act on.
        return error_response(exc.status, exc.detail, headers=exc.headers)

    @blueprint.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error_response(exc.code or 500, exc.description or "", headers=headers)

    @blueprint.errorhandler(OperationalError)
    def _store_unreachable(exc: OperationalError) -> Response:
        # The blueprint's catch-all below would take it first: say 503, as the API does.
        log.warning("store unreachable during an OData request: %s", type(exc.orig).__name__)
        return error_response(
            503,
            "The store is unreachable or busy; try again shortly.",
            headers={"Retry-After": "5"},
        )

    @blueprint.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # The trace goes to the (masked) log; the client learns nothing internal.
        log.error("unhandled error in OData request", exc_info=exc)
        return error_response(500, "An internal error occurred; the server log has the details.")
