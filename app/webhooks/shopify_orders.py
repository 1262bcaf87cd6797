"""Shopify order deliveries as the flat line records the Shopify preset maps.

Order webhooks carry the REST shape of the order; the preset turns it into the
same records as a GraphQL pull (:func:`app.connectors.shopify.lines.lines_from_rest`),
so one default mapping serves both and a line arrives under one key either way.

REST fulfilments name their location by id only, where a pull reads its name:
the names come from the shop (:func:`app.connectors.shopify.location_names`),
asked once and kept for a while per connector. Applying a fulfilled order
without them would move its lines to the ``default`` location, so a delivery
waits (and is retried) until they can be read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from app.connectors.base import Record, SourceConfig
from app.connectors.errors import ConnectorError
from app.connectors.shopify import location_names
from app.connectors.shopify.lines import lines_from_rest, numeric_id
from app.store.db import Database
from app.store.models import Connector
from app.sync.engine import source_config
from app.vault import Vault

log = logging.getLogger(__name__)

# Location names are asked again after this long, or sooner (but not more
# often than every NAMES_RETRY seconds) when a delivery names an unknown one.
NAMES_MAX_AGE = 3600.0
NAMES_RETRY = 300.0


class UnreadableDelivery(Exception):
    """The body is not an order the preset can read; the message says what is wrong."""


class LocationsUnavailable(Exception):
    """The shop's location names cannot be read now; the message says why."""


def parse_order(body: bytes) -> dict[str, Any]:
    """The order in a delivery's body.

    Raises:
        UnreadableDelivery: the body is not JSON or not an order.
    """
    try:
        order = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise UnreadableDelivery(f"The delivery's body is not JSON ({exc}).") from None
    if not isinstance(order, dict) or order.get("id") in (None, ""):
        raise UnreadableDelivery("The delivery's body is not a Shopify order (no order id).")
    return order


def _fulfilment_locations(order: Mapping[str, Any]) -> set[str]:
    fulfilments = order.get("fulfillments")
    if not isinstance(fulfilments, list):
        return set()
    return {
        numeric_id(item.get("location_id"))
        for item in fulfilments
        if isinstance(item, Mapping) and item.get("location_id") not in (None, "")
    }


class ShopifyOrders:
    """Reads order deliveries for any Shopify connector, with each shop's location names."""

    def __init__(
        self,
        database: Database,
        vault: Vault,
        *,
        names: Callable[[SourceConfig], Mapping[str, str]] = location_names,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.vault = vault
        self._ask = names
        self._clock = clock
        self._names: dict[int, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def records(self, connector_id: int, body: bytes) -> list[Record]:
        """The line records of the order in ``body``.

        Raises:
            UnreadableDelivery: the body is not an order the preset can read.
            LocationsUnavailable: the order was fulfilled and the shop's
                location names cannot be read now.
        """
        order = parse_order(body)
        wanted = _fulfilment_locations(order)
        names = self._location_names(connector_id, wanted) if wanted else {}
        try:
            return lines_from_rest(order, names)
        except Exception as exc:  # any reading failure settles this event alone
            log.warning("order %s could not be read", str(order.get("id"))[:40], exc_info=True)
            raise UnreadableDelivery(
                f"Order {str(order.get('id'))[:40]} could not be turned into lines "
                f"({type(exc).__name__}: {exc})."
            ) from None

    def _location_names(self, connector_id: int, wanted: set[str]) -> dict[str, str]:
        now = self._clock()
        with self._lock:
            cached = self._names.get(connector_id)
        if cached is not None:
            age = now - cached[0]
            if age < NAMES_MAX_AGE and (wanted <= cached[1].keys() or age < NAMES_RETRY):
                return cached[1]
        names = self._read_names(connector_id)
        with self._lock:
            self._names[connector_id] = (now, names)
        return names

    def _read_names(self, connector_id: int) -> dict[str, str]:
        with self.database.session() as session:
            connector = session.get(Connector, connector_id)
            if connector is None:
                raise UnreadableDelivery("The connector of this delivery no longer exists.")
            config = source_config(self.database, self.vault, connector)
        try:
            return {str(key): str(value) for key, value in self._ask(config).items()}
        except ConnectorError as exc:
            raise LocationsUnavailable(
                f"Shopify's location names could not be read: {exc}"
            ) from None
