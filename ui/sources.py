"""The presets as the desktop app shows them: name, category, description and icon."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources.abc import Traversable

from app.connectors.base import Category
from app.services.connectors import describe_presets
from resources import resource

ICONS = {
    Category.ECOMMERCE.value: "ecommerce.svg",
    Category.ACCOUNTING.value: "accounting.svg",
    Category.ERP.value: "erp.svg",
    Category.CUSTOM.value: "custom.svg",
}


@dataclass(frozen=True)
class SourceInfo:
    id: str
    name: str
    category: str
    description: str
    icon: Traversable


def source_catalogue() -> dict[str, SourceInfo]:
    """Every registered preset by id."""
    return {
        item["id"]: SourceInfo(
            id=item["id"],
            name=item["name"],
            category=item["category"],
            description=item.get("description") or "",
            icon=resource("icons", "sources", ICONS.get(item["category"], "custom.svg")),
        )
        for item in describe_presets()
    }
