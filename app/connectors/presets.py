"""Imports every built-in preset module so that each registers itself."""

from app.connectors import (  # noqa: F401
    custom_file,
    custom_rest,
    custom_sftp,
    demo,
    netsuite,
    odoo,
    quickbooks,
    shopify,
    xero,
)
from app.connectors.dynamics import business_central, dataverse  # noqa: F401
from app.connectors.sap import business_one, s4hana  # noqa: F401
