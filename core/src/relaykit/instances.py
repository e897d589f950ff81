"""Turning configured tenants/instances into validated :class:`InstanceConfig` objects."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from pydantic import SecretStr

from relaykit.connector_settings import ConnectorSettings, parse_settings, settings_model_of
from relaykit.connectors import ConnectorRegistry, InstanceConfig
from relaykit.errors import ConfigError, UnknownConnectorError
from relaykit.redaction import register_secret
from relaykit.settings import BOOLEAN_TEXT, RelaykitSettings
from relaykit.spec import ConnectorSpec

__all__ = ["build_instance_configs", "validate_instance_settings"]


def build_instance_configs(
    settings: RelaykitSettings, connectors: ConnectorRegistry
) -> dict[str, InstanceConfig]:
    """Every configured instance, keyed ``tenant/instance``, with settings validated.

    :raises ConfigError: listing every problem, each with its location and fix.
    """
    configs: dict[str, InstanceConfig] = {}
    problems: list[str] = []
    public_base = settings.public_base()
    for tenant_name, tenant in settings.tenants.items():
        for instance_name, instance in tenant.instances.items():
            where = f"tenants.{tenant_name}.instances.{instance_name}"
            try:
                entry = connectors.get(instance.connector)
            except UnknownConnectorError as exc:
                problems.append(f"{where}.connector: {exc}")
                continue
            spec = entry.spec
            try:
                values = validate_instance_settings(
                    spec, instance.settings, location=f"{where}.settings"
                )
                parsed = _parse_with_model(entry.connector_class, values, f"{where}.settings")
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            # The raw settings travel too (host.settings in reprs, dumps, tracebacks): give them
            # the same SecretStr objects as the validated copy.
            instance.settings.update(
                {name: values[name] for name in spec.secret_settings if name in values}
            )
            configs[f"{tenant_name}/{instance_name}"] = InstanceConfig(
                tenant=tenant_name,
                name=instance_name,
                connector=instance.connector,
                settings=values,
                callback_base_url=(
                    f"{public_base}/webhooks/{tenant_name}/{instance_name}" if public_base else None
                ),
                extra_senders=(
                    tenant.two_way.sender_pool if tenant.two_way.instance == instance_name else ()
                ),
                parsed_settings=parsed,
            )
    if problems:
        raise ConfigError("invalid connector settings:\n  " + "\n  ".join(problems))
    return configs


def validate_instance_settings(
    spec: ConnectorSpec, raw: Mapping[str, Any], *, location: str = "settings"
) -> dict[str, Any]:
    """Validate ``raw`` against the connector's settings schema; wrap secrets in ``SecretStr``.

    Values that arrive as strings from env vars or secret files are converted
    to the schema's integer, number or boolean type first; values already
    wrapped in ``SecretStr`` are validated as their plain text.

    :raises ConfigError: naming each field and what is wrong, never echoing a secret.
    """
    schema = spec.settings_schema
    values = _coerce_strings(
        {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in raw.items()},
        schema,
    )
    errors = sorted(_validator(spec).iter_errors(values), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [_explain(error, spec, location) for error in errors]
        raise ConfigError("\n  ".join(lines))
    secret_names = spec.secret_settings
    for name in secret_names:
        if isinstance(values.get(name), str):
            register_secret(values[name])
            values[name] = SecretStr(values[name])
    return values


def _parse_with_model(
    connector_class: type, values: dict[str, Any], location: str
) -> ConnectorSettings | None:
    """Parse ``values`` with the connector's ``settings_model`` and add its defaults to them.

    ``values`` (what ``InstanceConfig.settings`` becomes) gains every default the
    model filled in, so the mapping and the model never disagree. ``None`` for a
    connector without a settings model.

    :raises ConfigError: a check of the model (e.g. a cross-field rule) fails.
    """
    model = settings_model_of(connector_class)
    if model is None:
        return None
    parsed = parse_settings(model, values, location=location)
    filled = [name for name in model.model_fields if name not in values]
    dumped = parsed.model_dump(mode="json", include=set(filled), exclude_none=True)
    for name in filled:
        value = getattr(parsed, name)
        if value is not None:
            values[name] = value if name in model.secret_fields else dumped[name]
    return parsed


@cache
def _validator(spec: ConnectorSpec) -> Draft202012Validator:
    return Draft202012Validator(spec.settings_schema)


def _explain(error: SchemaError, spec: ConnectorSpec, location: str) -> str:
    field = _field_of(error)
    properties = spec.settings_schema.get("properties", {})
    described = properties.get(field, {}).get("description", "")
    where = f"{location}.{field}" if field else location
    if error.validator == "required":
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        present: dict[str, Any] = error.instance  # type: ignore[assignment]
        missing = [name for name in required if name not in present]
        return "\n  ".join(
            f"{where}.{name}: is required ({properties.get(name, {}).get('description', '')})"
            for name in missing
        )
    if error.validator == "additionalProperties":
        return f"{location}: {error.message}; known settings: {', '.join(sorted(properties))}"
    if error.validator == "dependentRequired":
        return f"{location}: {error.message} (set both, or neither)"
    if not field or field in spec.secret_settings:
        # jsonschema's message quotes the value: for the whole settings object (a root-level
        # anyOf/oneOf/not) or a secret, that would print secrets.
        message = f"is not valid (fails the schema's {error.validator!r} rule; value not shown)"
    else:
        message = error.message
    return f"{where}: {message}" + (f" - expected: {described}" if described else "")


def _field_of(error: SchemaError) -> str:
    path = list(error.absolute_path)
    return str(path[0]) if path else ""


def _coerce_strings(values: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        kind = properties.get(name, {}).get("type")
        try:
            if kind == "integer":
                values[name] = int(value)
            elif kind == "number":
                values[name] = float(value)
            elif kind == "boolean" and value.strip().lower() in BOOLEAN_TEXT:
                values[name] = BOOLEAN_TEXT[value.strip().lower()]
            elif kind == "array":
                values[name] = [item.strip() for item in value.split(",") if item.strip()]
        except ValueError:
            pass  # left as a string: the schema reports the type error with the field name
    return values
