"""The OpenAPI documents a service serves: one for every tenant, one per tenant's key.

Built on first request from the template catalog's events, kept, and built
again after a reload (:meth:`OpenApiDocuments.forget`), so an event edited and
reloaded on SIGHUP is in the next document served.
"""

from __future__ import annotations

from relaykit.service._openapi import openapi_json
from relaykit.templates import TemplateCatalog

__all__ = ["OpenApiDocuments"]


class OpenApiDocuments:
    """The served documents as UTF-8 JSON, cached until :meth:`forget`."""

    def __init__(self, catalog: TemplateCatalog) -> None:
        self._catalog = catalog
        self._shared: bytes | None = None
        self._tenants: dict[str, bytes] = {}

    def shared(self) -> bytes:
        """``GET /openapi.json``: the events every tenant has (the configuration's)."""
        if self._shared is None:
            self._shared = openapi_json(self._catalog.events()).encode("utf-8")
        return self._shared

    def tenant(self, tenant: str) -> bytes:
        """``GET /v1/openapi.json``: the events of ``tenant``, its own included."""
        document = self._tenants.get(tenant)
        if document is None:
            events = self._catalog.events(tenant)
            document = self._tenants[tenant] = openapi_json(events, tenant=tenant).encode("utf-8")
        return document

    def forget(self) -> None:
        """Drop every document: the events may have changed (a reload)."""
        self._shared = None
        self._tenants.clear()
