"""The Shopify preset (Admin GraphQL API) and what the webhook side shares with it."""

from app.connectors.shopify.lines import lines_from_graphql, lines_from_rest
from app.connectors.shopify.preset import ShopifyPreset
from app.connectors.shopify.webhooks import location_names, register_webhooks

__all__ = [
    "ShopifyPreset",
    "lines_from_graphql",
    "lines_from_rest",
    "location_names",
    "register_webhooks",
]
