"""Connector spec documents: loading, validation against the meta-schema, typed access."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from relaykit.addresses import BUILTIN_ADDRESS_KINDS, AddressKind, DeclaredChannel
from relaykit.errors import SpecValidationError
from relaykit.results import Channel, Direction, FieldSpec

__all__ = [
    "META_SCHEMA_RESOURCE",
    "ConnectorSpec",
    "load_spec_resource",
    "meta_schema",
]

META_SCHEMA_RESOURCE = "connector-spec.schema.json"


@cache
def meta_schema() -> Mapping[str, Any]:
    """The meta-schema every connector spec must satisfy (shipped inside this package)."""
    text = resources.files("relaykit.schemas").joinpath(META_SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _meta_validator() -> Draft202012Validator:
    schema = meta_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@dataclass(frozen=True, eq=False)
class ConnectorSpec:
    """A validated spec document with typed accessors; ``document`` is the JSON as published."""

    document: Mapping[str, Any]

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ConnectorSpec:
        """Validate ``document`` against the meta-schema, its settings schema against 2020-12.

        :raises SpecValidationError: naming the first offending path.
        """
        _check_bare_channels(document)
        errors = sorted(_meta_validator().iter_errors(document), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(root)"
            ident = document.get("id", "?") if isinstance(document, Mapping) else "?"
            raise SpecValidationError(
                f"connector spec {ident!r} is invalid at {where}: {first.message}"
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
            )
        try:
            Draft202012Validator.check_schema(document["settings_schema"])
        except Exception as exc:  # jsonschema.SchemaError
            raise SpecValidationError(
                f"connector spec {document['id']!r} has an invalid settings_schema: {exc}"
            ) from None
        spec = cls(document)
        kinds = [c.kind for c in spec.declared_channels]
        reserved = [k for k in kinds if k.startswith("email") and k != "email"]
        if reserved:
            raise SpecValidationError(
                f"connector spec {spec.id!r} declares channel {reserved[0].value!r}: a channel "
                "kind may not start with 'email' (kept for the email's template parts); "
                "rename it"
            )
        twice = sorted({k for k in kinds if kinds.count(k) > 1})
        if twice:
            raise SpecValidationError(
                f"connector spec {spec.id!r} declares channel {twice[0].value!r} more than once; "
                "declare each channel kind once"
            )
        return spec

    def with_settings_schema(self, schema: Mapping[str, Any]) -> ConnectorSpec:
        """This spec with ``settings_schema`` replaced, validated like a loaded document.

        The host uses it to put the schema generated from a connector's
        ``settings_model`` in place of the copy in the shipped ``spec.json``.

        :raises SpecValidationError: the schema breaks the meta-schema.
        """
        return ConnectorSpec.from_document({**self.document, "settings_schema": schema})

    @property
    def id(self) -> str:
        return str(self.document["id"])

    @property
    def title(self) -> str:
        return str(self.document["title"])

    @property
    def version(self) -> str:
        return str(self.document["version"])

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channel kinds the connector serves, in the order declared."""
        return tuple(c.kind for c in self.declared_channels)

    @property
    def declared_channels(self) -> tuple[DeclaredChannel, ...]:
        """Each channel kind with the address kind it needs (a shipped channel named
        alone gets its own: phone for sms and whatsapp, email for email)."""
        return tuple(_declared_channel(item) for item in self.document["channels"])

    def address_kind(self, channel: Channel | str) -> AddressKind | None:
        """The address kind the connector declares for ``channel``; ``None`` if it does not
        serve that channel."""
        return next((c.address_kind for c in self.declared_channels if c.kind == channel), None)

    @property
    def settings_schema(self) -> Mapping[str, Any]:
        schema: Mapping[str, Any] = self.document["settings_schema"]
        return schema

    @property
    def secret_settings(self) -> frozenset[str]:
        """Names of the settings marked ``"x-secret": true``."""
        props = self.settings_schema.get("properties", {})
        return frozenset(name for name, sub in props.items() if sub.get("x-secret"))

    @property
    def callback_kinds(self) -> tuple[str, ...]:
        return tuple(c["kind"] for c in self.document["callbacks"])

    def fields(self) -> list[FieldSpec]:
        """The data-field mapping as typed rows."""
        return [
            FieldSpec(
                host_field=f["host_field"],
                vendor_field=f["vendor_field"],
                direction=Direction(f["direction"]),
                required=f["required"],
                description=f.get("description", ""),
            )
            for f in self.document["data_fields"]
        ]


def _declared_channel(item: str | Mapping[str, Any]) -> DeclaredChannel:
    if isinstance(item, str):
        channel = Channel(item)
        return DeclaredChannel(channel, BUILTIN_ADDRESS_KINDS[channel])
    return DeclaredChannel(
        Channel(item["kind"]),
        AddressKind(item["address_kind"]),
        item.get("description", ""),
        item.get("example", ""),
    )


def _check_bare_channels(document: Mapping[str, Any]) -> None:
    """A channel relaykit does not ship, named alone, gets an error saying how to declare it
    (the meta-schema's own message would only say it matches no alternative)."""
    channels = document.get("channels") if isinstance(document, Mapping) else None
    for index, item in enumerate(channels if isinstance(channels, list) else ()):
        if isinstance(item, str) and item not in BUILTIN_ADDRESS_KINDS:
            raise SpecValidationError(
                f"connector spec {document.get('id', '?')!r} is invalid at channels/{index}: "
                f"{item!r} is not a channel relaykit ships (sms, whatsapp, email); declare it "
                f'with its address kind: {{"kind": "{item}", "address_kind": "..."}}'
            )


def load_spec_resource(package: str, name: str = "spec.json") -> ConnectorSpec:
    """Load and validate the spec document shipped as ``name`` inside ``package``.

    The file is read on each call; parsing and validation happen once per content.

    A connector calls this from its ``spec()`` classmethod::

        @classmethod
        def spec(cls) -> ConnectorSpec:
            return load_spec_resource(__package__)
    """
    return _spec_from_text(resources.files(package).joinpath(name).read_text("utf-8"))


@cache
def _spec_from_text(text: str) -> ConnectorSpec:
    return ConnectorSpec.from_document(json.loads(text))
