"""``/runs``: list, trigger and show forecast runs, and a run's safety stock for a series."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from flask import Response, current_app

from app.limits import MAX_HORIZON
from app.services import runs as run_service
from app.services import series as series_service
from app.services.errors import NotFound
from app.store.models import RunStatus
from embedded_api.api_v1 import params
from embedded_api.api_v1.body import IntegerField, JsonBody
from embedded_api.api_v1.links import external_url
from embedded_api.api_v1.operations import PREFIX, Operation, Reply, api, principal
from embedded_api.api_v1.pagination import ID, decode_cursor, page_response, split_page

log = logging.getLogger(__name__)

_IDEMPOTENT_CREATION = threading.Lock()

RUN_ID = params.path_id("run_id", "The forecast run's id.")
RUN_REQUEST = JsonBody(
    "RunRequest",
    "What to forecast; every member is optional.",
    (
        IntegerField(
            "horizon",
            "Periods to forecast ahead; the workspace's horizon when left out.",
            1,
            MAX_HORIZON,
        ),
        IntegerField(
            "workspace_id",
            "The workspace to forecast; the first one when left out.",
            1,
            params.MAX_ID,
        ),
    ),
)


def _runtime() -> Any:
    return current_app.config["RUNTIME"]


def _own_workspaces() -> frozenset[int]:
    return series_service.organisation_workspace_ids(
        _runtime().database, principal().organisation_id
    )


@api.operation(
    Operation(
        "GET",
        "/runs",
        "listRuns",
        "Runs",
        "List forecast runs, newest first",
        "Zapier trigger 'run completed': status=complete, newest first, each with a stable id. "
        "`since` compares the completion time for status=complete and the creation time "
        "otherwise.",
        (Reply(200, "A page of runs, newest first.", "Run", page=True),),
        params=(
            params.choice("status", "Only runs in this state.", tuple(s.value for s in RunStatus)),
            params.timestamp("since", "Only runs completed (status=complete) or created after."),
            params.LIMIT,
            params.CURSOR,
        ),
    )
)
def list_runs(status: str | None, since: Any, limit: int, cursor: str | None) -> Response:
    position = decode_cursor(cursor, "runs", (ID,))
    before_id = position[0] if position else None
    workspaces = _own_workspaces()
    # The run service does not filter by organisation: read on until the page is
    # full of this organisation's runs or the runs run out.
    mine: list[dict[str, Any]] = []
    while len(mine) <= limit:
        batch = run_service.list_runs(
            _runtime().database, status=status, since=since, limit=limit + 1, before_id=before_id
        )
        mine += [run for run in batch if run["workspace_id"] in workspaces]
        if len(batch) <= limit:
            break
        before_id = batch[-1]["id"]
    page, next_position = split_page(mine, limit, lambda run: (run["id"],))
    return page_response(page, "runs", next_position)


@api.operation(
    Operation(
        "POST",
        "/runs",
        "createRun",
        "Runs",
        "Start a forecast run",
        "Zapier action 'start a forecast run'. Answers 202 with the queued run; with an "
        "Idempotency-Key already used in this workspace it answers 200 with the run that key "
        "started (a retried Zap starts no second run).",
        (
            Reply(202, "The run, queued.", "Run", headers=("Location",)),
            Reply(
                200,
                "The run an earlier request with the same Idempotency-Key created.",
                "Run",
                headers=("Location", "Idempotent-Replayed"),
            ),
        ),
        scope="write",
        params=(params.IDEMPOTENCY_KEY,),
        body=RUN_REQUEST,
        errors=(404,),  # workspace_id names no workspace of the organisation
    )
)
def create_run(
    idempotency_key: str | None, horizon: int | None, workspace_id: int | None
) -> Response:
    workspaces = _own_workspaces()
    if workspace_id is not None and workspace_id not in workspaces:
        raise NotFound(f"No workspace with id {workspace_id}.")
    if workspace_id is None and workspaces:
        workspace_id = min(workspaces)  # the organisation's first, as everywhere else
    # Retries of one request usually reach the same process: taking them one at a
    # time lets the second find the first's run instead of racing it to the
    # store's unique constraint (which still decides between processes).
    with _IDEMPOTENT_CREATION if idempotency_key else contextlib.nullcontext():
        run, created = run_service.create_run(
            _runtime().database,
            workspace_id=workspace_id,
            horizon=horizon,
            idempotency_key=idempotency_key,
            trigger="api",
        )
    if created:
        _announce(run["id"])
    response = current_app.json.response(run)
    response.status_code = 202 if created else 200
    response.headers["Location"] = external_url(f"{PREFIX}/runs/{run['id']}")
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _announce(run_id: int) -> None:
    """Tell the process's run worker (when the host wired one) that a run is queued."""
    callback = current_app.config.get("ON_RUN_CREATED")
    if callback is None:
        return
    try:
        callback(run_id)
    except Exception:
        # The run is queued and the worker's poll picks it up anyway.
        log.warning("could not wake the run worker for run %s", run_id, exc_info=True)


def _own_run(run_id: int) -> dict[str, Any]:
    run = run_service.get_run(_runtime().database, run_id)
    if run["workspace_id"] not in _own_workspaces():
        raise NotFound(f"No forecast run with id {run_id}.")
    return run


@api.operation(
    Operation(
        "GET",
        "/runs/{run_id}",
        "getRun",
        "Runs",
        "Show a forecast run",
        "One run with its status and progress.",
        (Reply(200, "The run.", "Run"),),
        params=(RUN_ID,),
    )
)
def get_run(run_id: int) -> Response:
    return current_app.json.response(_own_run(run_id))


@api.operation(
    Operation(
        "GET",
        "/runs/{run_id}/safety-stock/{series_id}",
        "getSafetyStock",
        "Runs",
        "Safety stock and reorder point of a series",
        "Zapier action 'safety stock': the run's safety stock, reorder point, service level, "
        "lead time and method for one series, with the inputs that explain them. 409 while "
        "the run is not complete.",
        (Reply(200, "The safety stock.", "SafetyStock"),),
        params=(RUN_ID, params.path_id("series_id", "The series' id.")),
        errors=(409,),
    )
)
def get_safety_stock(run_id: int, series_id: int) -> Response:
    result = series_service.safety_stock(
        _runtime().database, run_id, series_id, organisation_id=principal().organisation_id
    )
    return current_app.json.response(result)
