"""The spec's ``settings_schema``, generated from a connector's settings model.

pydantic's JSON Schema is valid 2020-12 but written for machines: titles on
every field, ``$defs`` and ``$ref`` for nested types, ``anyOf [X, null]`` with
``"default": null`` for every optional setting, and ``format: password`` for
secrets. :func:`settings_schema` turns it into what a person reads in
``spec.json`` and ``relaykit connectors describe``: one plain object per
setting (description first), optional settings simply not required, secrets
marked ``"x-secret": true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic.json_schema import GenerateJsonSchema

from relaykit.connector_settings import ConnectorSettings, settings_model_of
from relaykit.errors import PluginLoadError

if TYPE_CHECKING:
    from pydantic._internal._core_utils import CoreSchemaOrField

    from relaykit.spec import ConnectorSpec

__all__ = ["settings_schema", "spec_with_settings_model"]

_FIRST_KEYS = ("description", "type", "enum")
_LAST_KEYS = ("default", "x-secret")
_TOP_ORDER = ("type", "additionalProperties", "required")


class _Untitled(GenerateJsonSchema):
    """pydantic's generator without the automatic per-field titles ("Account Sid")."""

    def field_title_should_be_set(self, schema: CoreSchemaOrField) -> bool:
        return False


def settings_schema(model: type[ConnectorSettings]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of ``model``'s settings, as a spec's ``settings_schema``.

    Every property has the field's description; secrets carry ``"x-secret": true``;
    a setting whose default is ``None`` is optional and has no ``default``.
    """
    raw = model.model_json_schema(schema_generator=_Untitled, mode="validation")
    definitions = raw.pop("$defs", {})
    raw.pop("title", None)
    raw.pop("description", None)  # the model's docstring, written for the connector's developers
    inlined: dict[str, Any] = _inline(raw, definitions)
    properties = {
        name: _readable(prop, secret=name in model.secret_fields)
        for name, prop in inlined.get("properties", {}).items()
    }
    top = {key: inlined[key] for key in _TOP_ORDER if key in inlined}
    top.update({k: v for k, v in inlined.items() if k not in (*_TOP_ORDER, "properties")})
    top["properties"] = properties
    return top


def spec_with_settings_model(connector_class: type, spec: ConnectorSpec) -> ConnectorSpec:
    """``spec`` with its ``settings_schema`` generated from the class's ``settings_model``.

    A connector without ``settings_model`` keeps the schema of its shipped ``spec.json``.

    :raises PluginLoadError: ``settings_model`` is not a ``ConnectorSettings`` subclass,
        or its schema breaks the meta-schema.
    """
    try:
        model = settings_model_of(connector_class)
    except TypeError as exc:
        raise PluginLoadError(str(exc)) from None
    return spec if model is None else spec.with_settings_schema(settings_schema(model))


def _inline(node: Any, definitions: Mapping[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/X"}`` replaced by the definition itself."""
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = dict(_inline(definitions[ref.removeprefix("#/$defs/")], definitions))
        target.pop("title", None)
        target.update({k: v for k, v in node.items() if k != "$ref"})
        return target
    return {key: _inline(value, definitions) for key, value in node.items()}


def _readable(prop: Mapping[str, Any], *, secret: bool) -> dict[str, Any]:
    """One property: ``anyOf [X, null]`` folded into X, secrets marked, keys in reading order."""
    merged = dict(prop)
    branches = merged.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1 and len(kept) < len(branches):
            del merged["anyOf"]
            merged = {**kept[0], **merged}
    if merged.get("default", 0) is None:
        del merged["default"]
    if secret:
        if merged.get("format") == "password":
            del merged["format"]
        merged.pop("writeOnly", None)
        merged["x-secret"] = True
    first = {k: merged[k] for k in _FIRST_KEYS if k in merged}
    middle = {k: v for k, v in merged.items() if k not in (*_FIRST_KEYS, *_LAST_KEYS)}
    last = {k: merged[k] for k in _LAST_KEYS if k in merged}
    return {**first, **middle, **last}
