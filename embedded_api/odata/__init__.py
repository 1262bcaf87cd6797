"""The OData v4 feed at ``/odata`` for Power BI, Tableau and other OData clients.

Register ``blueprint`` on the Flask application; its routes carry the
``/odata`` prefix themselves.
"""

from embedded_api.odata.views import blueprint

__all__ = ["blueprint"]
