"""Where tenants' customised templates are kept: a Protocol, and an in-memory store."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from relaykit.templates._model import TemplatePart

__all__ = ["InMemoryTemplateOverrides", "TemplateOverrides"]


@runtime_checkable
class TemplateOverrides(Protocol):
    """Storage for per-tenant template sources that replace the shipped defaults.

    Implementations only store text; :class:`~relaykit.templates.TemplateCatalog`
    validates a source before it calls :meth:`set`, and compiles what :meth:`get`
    returns (once per distinct source).
    """

    def get(self, tenant: str, event: str, part: TemplatePart) -> str | None:
        """The tenant's source for this event and part, or ``None`` to use the default."""
        ...

    def set(self, tenant: str, event: str, part: TemplatePart, source: str) -> None:
        """Store (or replace) the tenant's source for this event and part."""
        ...

    def reset(self, tenant: str, event: str, part: TemplatePart | None = None) -> None:
        """Drop the tenant's source for one part, or for every part of the event when
        ``part`` is ``None``, so the default applies again. Resetting what was never
        set does nothing."""
        ...


class InMemoryTemplateOverrides:
    """A :class:`TemplateOverrides` kept in a dict: for tests and single-process use."""

    def __init__(self) -> None:
        self._sources: dict[tuple[str, str, TemplatePart], str] = {}

    def get(self, tenant: str, event: str, part: TemplatePart) -> str | None:
        return self._sources.get((tenant, event, part))

    def set(self, tenant: str, event: str, part: TemplatePart, source: str) -> None:
        self._sources[tenant, event, part] = source

    def reset(self, tenant: str, event: str, part: TemplatePart | None = None) -> None:
        for key in [k for k in self._sources if k[:2] == (tenant, event)]:
            if part is None or key[2] is part:
                del self._sources[key]
