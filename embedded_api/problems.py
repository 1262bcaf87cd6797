"""The one place where errors become ``application/problem+json`` responses."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.services.errors import InvalidInput, NotFound, ServiceError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str | None = None, **extra: Any) -> Response:
    """An RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


class ProblemError(Exception):
    """Raised by a view or a check to answer with a problem+json response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        response = problem(self.status, self.detail, **self.extra)
        response.headers.update(self.headers)
        return response


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProblemError)
    def _problem(exc: ProblemError) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = problem(exc.code or 500, exc.description)
        # Keep headers such as Allow (405) or WWW-Authenticate (401).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        # A use case refused: unknown record, bad input, or a state that forbids it.
        if isinstance(exc, NotFound):
            return problem(404, str(exc))
        if isinstance(exc, InvalidInput):
            return problem(400, str(exc))
        return problem(409, str(exc))

    @app.errorhandler(OperationalError)
    def _store_unreachable(exc: OperationalError) -> Response:
        log.warning("store unreachable during a request: %s", type(exc.orig).__name__)
        response = problem(503, "The store is unreachable or busy; try again shortly.")
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # The trace goes to the (masked) log; the client learns nothing internal.
        log.error("unhandled error in request", exc_info=exc)
        return problem(500, "An internal error occurred; the server log has the details.")
