"""The GraphQL documents the Shopify preset sends, in the 2025-10 Admin API schema.

Each operation is named: the client remembers the cost Shopify computed for an
operation and waits for that much room before sending it again.

A bulk query may not hold a connection inside a list field (Shopify refuses
it), so refund line items (``Order.refunds`` is a list) and fulfilment line
items (``Order.fulfillments`` too) are fetched by their parents' ids after the
orders, and only for the orders that need them.
"""

from __future__ import annotations

ORDER_FIELDS = """
      id
      legacyResourceId
      createdAt
      updatedAt
      cancelledAt
      sourceName
      customer { legacyResourceId }
      refunds { id createdAt }
      fulfillments { id status createdAt location { legacyResourceId name } }"""

LINE_FIELDS = """
          id
          quantity
          unfulfilledQuantity
          sku
          name
          variant { legacyResourceId }
          originalUnitPriceSet { shopMoney { amount currencyCode } }"""

_ORDERS_ARGUMENTS = "sortKey: UPDATED_AT"


def bulk_orders_query(search: str | None) -> str:
    """The bulk query over every order (or those matching ``search``) with its line items.

    Orders come sorted by ``updated_at``, so a pull that stops part-way has read
    every order up to the last one it stored.
    """
    arguments = _ORDERS_ARGUMENTS
    if search:
        arguments += f", query: {_quote(search)}"
    return f"""{{
  orders({arguments}) {{
    edges {{
      node {{{ORDER_FIELDS}
      lineItems {{
        edges {{
          node {{{LINE_FIELDS}
          }}
        }}
      }}
      }}
    }}
  }}
}}"""


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


RUN_BULK = """
mutation ShopifyRunBulk($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status createdAt }
    userErrors { field message code }
  }
}"""

BULK_FIELDS = "id status errorCode createdAt completedAt objectCount rootObjectCount url query"

BULK_STATUS = f"""
query ShopifyBulkStatus($id: ID!) {{
  node(id: $id) {{ ... on BulkOperation {{ {BULK_FIELDS} }} }}
}}"""

CURRENT_BULK = f"""
query ShopifyCurrentBulk {{
  currentBulkOperation(type: QUERY) {{ {BULK_FIELDS} }}
}}"""

ORDERS_PAGE = f"""
query ShopifyOrders(
  $first: Int!, $after: String, $query: String, $reverse: Boolean, $lines: Int!
) {{
  orders(first: $first, after: $after, query: $query, reverse: $reverse, {_ORDERS_ARGUMENTS}) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{{ORDER_FIELDS}
      lineItems(first: $lines) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{{LINE_FIELDS}
        }}
      }}
    }}
  }}
}}"""

MORE_LINE_ITEMS = f"""
query ShopifyMoreLineItems($id: ID!, $after: String, $first: Int!) {{
  node(id: $id) {{
    ... on Order {{
      lineItems(first: $first, after: $after) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{{LINE_FIELDS}
        }}
      }}
    }}
  }}
}}"""

REFUND_LINE_FIELDS = "id quantity lineItem { id sku name variant { legacyResourceId } }"
FULFILMENT_LINE_FIELDS = "quantity lineItem { id }"


def children_query(name: str, parent_type: str, connection: str, fields: str) -> str:
    """A query for the first page of ``connection`` under each of several parents."""
    return f"""
query {name}($ids: [ID!]!, $first: Int!) {{
  nodes(ids: $ids) {{
    ... on {parent_type} {{
      id
      {connection}(first: $first) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {fields} }}
      }}
    }}
  }}
}}"""


def more_children_query(name: str, parent_type: str, connection: str, fields: str) -> str:
    """A query for the next page of ``connection`` under one parent."""
    return f"""
query {name}($id: ID!, $after: String, $first: Int!) {{
  node(id: $id) {{
    ... on {parent_type} {{
      id
      {connection}(first: $first, after: $after) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {fields} }}
      }}
    }}
  }}
}}"""


PROBE = """
query ShopifyProbe {
  shop { name myshopifyDomain currencyCode }
  currentAppInstallation { accessScopes { handle } }
}"""

SHOP_NAME = """
query ShopifyShopName {
  shop { name myshopifyDomain }
}"""

LOCATIONS = """
query ShopifyLocations($after: String) {
  locations(first: 250, after: $after, includeInactive: true) {
    pageInfo { hasNextPage endCursor }
    nodes { legacyResourceId name }
  }
}"""

WEBHOOKS = """
query ShopifyWebhooks($topics: [WebhookSubscriptionTopic!], $after: String) {
  webhookSubscriptions(first: 100, after: $after, topics: $topics) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri }
  }
}"""

CREATE_WEBHOOK = """
mutation ShopifyCreateWebhook($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""
