"""Operations of ``/api/v1`` declared as data, from which routes and the OpenAPI document follow.

Each view is registered through :meth:`Api.operation` with its path, scope,
parameters, body and replies. The route, the authentication, the parsing of
parameters and the OpenAPI description all come from that one declaration.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, g, request

from embedded_api.api_v1.body import JsonBody
from embedded_api.api_v1.params import MAX_ID, Param, parse_params
from embedded_api.auth import Principal, authenticate

F = TypeVar("F", bound=Callable[..., Any])

PREFIX = "/api/v1"
AUTH_ERRORS = (401, 403, 429)
_PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Reply:
    """A successful answer: its status, and the component schema of its JSON body."""

    status: int
    description: str
    schema: str
    # A page of a list: an array of ``schema`` with the next page in headers.
    page: bool = False
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # below PREFIX, with {name} for path parameters (all of them ids)
    operation_id: str
    tag: str
    summary: str
    description: str
    replies: tuple[Reply, ...]
    scope: str | None = "read"
    params: tuple[Param, ...] = ()
    body: JsonBody | None = None
    errors: tuple[int, ...] = ()

    @property
    def flask_rule(self) -> str:
        return _PATH_PARAM.sub(rf"<int(min=1, max={MAX_ID}):\1>", self.path)

    @property
    def error_statuses(self) -> list[int]:
        """Every error status this operation can answer with."""
        statuses = set(self.errors)
        if self.scope is not None:
            statuses.update(AUTH_ERRORS)
            statuses.add(503)  # the store is unreachable
        if self.body is not None or any(p.location != "path" for p in self.params):
            statuses.add(400)
        if any(p.location == "path" for p in self.params):
            statuses.add(404)
        if self.body is not None:
            statuses.update((413, 415))
        return sorted(statuses)


class Api:
    """The blueprint of ``/api/v1`` and the operations registered on it."""

    def __init__(self) -> None:
        self.blueprint = Blueprint("api_v1", __name__, url_prefix=PREFIX)
        self.operations: list[Operation] = []

    def operation(self, operation: Operation) -> Callable[[F], F]:
        """Register a view: it runs after authentication, with parsed parameters as keywords."""
        declared = {p.name for p in operation.params if p.location == "path"}
        if declared != set(_PATH_PARAM.findall(operation.path)):
            raise ValueError(f"{operation.operation_id}: path parameters are not all declared")

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def endpoint(**path_values: Any) -> Any:
                if operation.scope is not None:
                    authenticate(operation.scope)
                values = parse_params(operation.params, request.args, request.headers)
                if operation.body is not None:
                    values.update(operation.body.parse())
                else:
                    # Read (and so size-check: 413 past the limit) a body nobody asked for.
                    request.get_data(cache=False)
                return view(**path_values, **values)

            self.blueprint.add_url_rule(
                operation.flask_rule,
                operation.operation_id,
                endpoint,
                methods=[operation.method],
            )
            self.operations.append(operation)
            return view

        return decorate


def principal() -> Principal:
    """The authenticated caller of the current request."""
    return g.principal  # type: ignore[no-any-return]


api = Api()
