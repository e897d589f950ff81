"""A connector's settings, declared once as a pydantic model: the base class and its parser.

A connector declares its settings as a subclass of :class:`ConnectorSettings`
and names it on the connector class::

    class PagerSettings(ConnectorSettings):
        token: SecretStr = Field(min_length=16, description="the API token (secret)")
        timeout_seconds: float = Field(10.0, gt=0, description="seconds one API call may take")

    class PagerConnector:
        name = "pager"
        settings_model = PagerSettings

        def __init__(self, config: InstanceConfig) -> None:
            self.settings = PagerSettings.from_config(config)

The model is the one source of the settings: ``relaykit specs export``
writes the spec's ``settings_schema`` from it (see
:func:`relaykit.settings_schema.settings_schema`), the host validates an
instance's settings with it, and the connector receives the parsed model with
every default filled in. This module imports pydantic and relaykit's errors
only, never the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from relaykit.errors import ConfigError

if TYPE_CHECKING:
    from relaykit.connectors import InstanceConfig

__all__ = ["ConnectorSettings", "SettingValueError", "parse_settings", "settings_model_of"]

M = TypeVar("M", bound="ConnectorSettings")


class SettingValueError(ValueError):
    """Raised by a settings validator to blame one setting, with the fix, by name.

    A ``model_validator`` that checks several settings together raises it to
    say which one is wrong (pydantic alone would blame the whole object)::

        raise SettingValueError("password", "is required when username is set")
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class ConnectorSettings(BaseModel):
    """Base of a connector's settings model: unknown settings refused, frozen, inputs hidden.

    Every field needs ``Field(description=...)``: it is what ``relaykit
    connectors describe`` shows and what a validation error quotes as the
    expected value. Declare secrets as :class:`pydantic.SecretStr`; they are
    marked ``"x-secret": true`` in the published schema and stay wrapped until
    the connector calls ``.get_secret_value()``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    #: names of the settings declared as ``SecretStr`` (filled in for each subclass)
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        undescribed = [n for n, f in cls.model_fields.items() if not f.description]
        if undescribed:
            raise TypeError(
                f"{cls.__name__}: every setting needs Field(description=...), "
                f"missing for: {', '.join(undescribed)}"
            )
        cls.secret_fields = frozenset(
            n for n, f in cls.model_fields.items() if _mentions_secret(f.annotation)
        )

    @classmethod
    def from_config(cls, config: InstanceConfig) -> Self:
        """This instance's settings: the model the host parsed, or parsed here from the mapping.

        The host parses every configured instance once (``config.parsed_settings``);
        an ``InstanceConfig`` built by hand (a test, a script) is parsed here.

        :raises ConfigError: naming the setting and the fix (never a secret value).
        """
        if isinstance(config.parsed_settings, cls):
            return config.parsed_settings
        location = f"tenants.{config.tenant}.instances.{config.name}.settings"
        return parse_settings(cls, config.settings, location=location)


def settings_model_of(connector_class: type) -> type[ConnectorSettings] | None:
    """The connector class's ``settings_model``, or ``None`` if it declares none.

    :raises TypeError: the attribute is set but is not a ``ConnectorSettings`` subclass.
    """
    model = getattr(connector_class, "settings_model", None)
    if model is None:
        return None
    if not (isinstance(model, type) and issubclass(model, ConnectorSettings)):
        raise TypeError(
            f"settings_model of {connector_class.__name__} must be a subclass of "
            f"relaykit.contract.ConnectorSettings, not {model!r}"
        )
    return model


def parse_settings(model: type[M], raw: Mapping[str, Any], *, location: str = "settings") -> M:
    """Validate ``raw`` with ``model``; defaults filled in, secrets as ``SecretStr``.

    :raises ConfigError: one line per problem, each naming ``location.field``
        and the fix; its ``location`` is the first problem's. Input values are
        never quoted.
    """
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        lines = [_explain(model, error, location) for error in exc.errors()]
    first_location, first_message = lines[0]
    rest = [f"{where}: {message}" for where, message in lines[1:]]
    raise ConfigError("\n  ".join([first_message, *rest]), location=first_location) from None


def _explain(model: type[ConnectorSettings], error: Any, location: str) -> tuple[str, str]:
    """(dotted location, message) for one pydantic error."""
    loc = [str(part) for part in error["loc"]]
    cause = error.get("ctx", {}).get("error")
    field = getattr(cause, "field", None) or (loc[0] if loc else "")
    where = f"{location}.{field}" if field else location
    fields = model.model_fields
    described = fields[field].description if field in fields else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        return location, (
            f"{field!r} is not a setting of this connector; known settings: "
            f"{', '.join(sorted(fields))}"
        )
    if kind == "missing":
        return where, f"is required ({described})"
    if cause is not None:
        return where, str(getattr(cause, "reason", cause))
    return where, f"{error['msg']}" + (f" - expected: {described}" if described else "")


def _mentions_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in getattr(annotation, "__args__", ()))
