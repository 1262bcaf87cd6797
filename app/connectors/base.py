"""The contract every connector preset fulfils, and the values it exchanges."""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from app.connectors.errors import Cancelled
from app.connectors.fields import Field, secret_names, validate_config
from resources import resource


class Category(enum.StrEnum):
    ECOMMERCE = "eCommerce"
    ACCOUNTING = "Accounting"
    ERP = "ERP"
    CUSTOM = "Custom"


Record = dict[str, Any]
Cursor = dict[str, Any]


@dataclass
class SourceConfig(Mapping[str, Any]):
    """Validated settings and decrypted secrets of one connector, saved or not.

    It reads like a dict. ``save_secrets`` persists values the connector learns
    during an operation (a rotated refresh token); ``save_settings`` persists
    plain values (a pinned host key). Both are no-ops for an unsaved
    configuration, which is tested without being stored.
    """

    values: dict[str, Any]
    connector_id: int | None = None
    save_secrets: Callable[[dict[str, str]], None] | None = None
    save_settings: Callable[[dict[str, Any]], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def remember_secrets(self, updates: dict[str, str]) -> None:
        self.values.update(updates)
        if self.save_secrets is not None:
            self.save_secrets(updates)

    def remember_settings(self, updates: dict[str, Any]) -> None:
        self.values.update(updates)
        if self.save_settings is not None:
            self.save_settings(updates)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("Cancelled by the operator.")


@dataclass(frozen=True)
class Page:
    """One page of source records and the cursor to resume after it.

    ``cursor`` is what the connector needs to continue after this page (it is
    stored in the same transaction as the page's rows). ``total`` is the number
    of records the source says it has, when it says.
    """

    records: list[Record]
    cursor: Cursor | None
    total: int | None = None


@dataclass(frozen=True)
class ProbeResult:
    """What a successful probe learned about the source."""

    account: str | None = None
    message: str = "Connected."
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceField:
    """A field the source itself declares, for the mapping wizard.

    ``path`` addresses it in the preset's records as a mapping would
    (``lines[].custbody_channel``); ``type`` is the source's type name, mapped
    onto string, integer, decimal, date, datetime, boolean or other; ``custom``
    marks fields the instance added (NetSuite ``custbody_*``, Odoo ``x_*``).
    """

    path: str
    type: str
    label: str | None = None
    custom: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "type": self.type, "label": self.label, "custom": self.custom}


class ConnectorPreset:
    """Base class of presets; subclasses set the class attributes and operations.

    Operations receive a :class:`SourceConfig` and must not touch the store:
    the sync engine and the services persist what they return.
    """

    id: ClassVar[str]
    display_name: ClassVar[str]
    category: ClassVar[Category]
    fields: ClassVar[tuple[Field, ...]] = ()
    description: ClassVar[str] = ""
    # Whether the engine may fetch the next page before the current one is
    # committed: true only where reading has no side effect (an SFTP source
    # that archives a file after its last page must wait for the commit).
    read_ahead: ClassVar[bool] = False
    # The OAuth provider id (``app.oauth.providers``) whose Connect button signs
    # this preset in, when its client credentials are configured; None: no Connect.
    oauth_provider: ClassVar[str | None] = None

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        return secret_names(cls.fields)

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings with defaults; raises ConfigurationError per bad field."""
        return validate_config(cls.fields, values)

    @classmethod
    def default_mapping(cls) -> dict[str, Any]:
        """The preset's default field mapping, from ``resources/mappings/<id>.json``."""
        node = resource("mappings", f"{cls.id}.json")
        if not node.is_file():
            return {"columns": {}}
        return json.loads(node.read_text(encoding="utf-8"))

    def probe(self, config: SourceConfig) -> ProbeResult:
        """Check the credentials with the lightest real call; writes nothing."""
        raise NotImplementedError

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        """Yield pages from ``cursor`` (None: from the start) to the end."""
        raise NotImplementedError

    def describe_fields(self, config: SourceConfig) -> list[SourceField]:
        """The fields the source declares, with their types; empty where it cannot tell.

        ERP presets ask the source (OData ``$metadata``, Odoo ``fields_get``,
        SuiteQL metadata) so the wizard can offer an instance's custom fields;
        the wizard also lists what it sees in sample records.
        """
        return []

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """A few source records for preview and field discovery.

        The default reads the first pages of a full pull; presets that can ask
        the source for a small page override it.
        """
        records: list[Record] = []
        pages = self.pull(config, None)
        try:
            for page in pages:
                records.extend(page.records)
                if len(records) >= limit:
                    break
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
        return records[:limit]
