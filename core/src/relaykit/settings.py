"""relaykit's settings: ``relaykit.toml``, ``RELAYKIT_*`` env vars, a secrets directory.

Precedence, highest first: keyword arguments, environment variables
(``RELAYKIT_`` prefix, nested with ``__``, e.g.
``RELAYKIT_TENANTS__NORTH_HIGH__INSTANCES__SMS__SETTINGS__AUTH_TOKEN``),
files in the secrets directory (``RELAYKIT_SECRETS_DIR``; one file per value,
named like the env var without the prefix, e.g.
``tenants__north-high__instances__sms__settings__auth_token``), then the TOML
file (``--config``, ``RELAYKIT_CONFIG``, default ``./relaykit.toml``).

Declared events (``[events.NAME]``, ``[tenants.T.events.NAME]``, and the
``event_files`` they name) are checked here, with their templates compiled, so a
bad declaration fails at load; :mod:`relaykit.templates` reads them.

Connector instance settings are kept as plain mappings here; they are
validated against each connector's own settings schema when the host builds
its instances (:mod:`relaykit.instances`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from relaykit.broadcast_policy import BroadcastPolicy
from relaykit.errors import ConfigError
from relaykit.policy import ChannelPolicy, QuietHours, Route, SmsPolicy, TwoWayPolicy
from relaykit.redaction import register_secret
from relaykit.results import Channel
from relaykit.templates import (
    DeclaredEvents,
    DefaultTemplates,
    EventTables,
    TemplateError,
    declare_layers,
    default_templates,
    missing_channels,
)

__all__ = [
    "BOOLEAN_TEXT",
    "CUSTOM_CHANNEL_RETRY_FOR_SECONDS",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_RETRY_FOR_SECONDS",
    "DeliverySettings",
    "InstanceSettings",
    "LogSettings",
    "RelaykitSettings",
    "ServiceSettings",
    "TenantSettings",
    "directory_problem",
    "load_settings",
    "settings_from",
]

DEFAULT_CONFIG_PATH = Path("relaykit.toml")
_toml_path: ContextVar[Path | None] = ContextVar("relaykit_toml_path", default=None)
_given_only: ContextVar[bool] = ContextVar("relaykit_given_only", default=False)

_STRICT = ConfigDict(extra="forbid", hide_input_in_errors=True)

#: How long transient failures are retried, per channel, from the first failure: email for
#: hours (as GOV.UK Notify does, 48 tries 5 minutes apart), SMS and WhatsApp - often
#: time-sensitive, with a fallback channel behind them - for a quarter of an hour.
#: The retry budget of a channel relaykit does not ship, unless ``retry_for_seconds`` names it.
CUSTOM_CHANNEL_RETRY_FOR_SECONDS: float = 15 * 60
DEFAULT_RETRY_FOR_SECONDS: dict[Channel, float] = {
    Channel.SMS: 15 * 60,
    Channel.WHATSAPP: 15 * 60,
    Channel.EMAIL: 4 * 60 * 60,
}


#: How a boolean may be written as text (env vars, secret files): these, in any case; no "yes".
BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _boolean_text(value: object) -> object:
    if isinstance(value, str):
        try:
            return BOOLEAN_TEXT[value.strip().lower()]
        except KeyError:
            raise ValueError(f"{value!r} is not a boolean: write true or false") from None
    return value


_ConfigBool = Annotated[StrictBool, BeforeValidator(_boolean_text)]

_URL_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def _url_segment(kind: str) -> Callable[[str], str]:
    def check(name: str) -> str:
        if not _URL_SEGMENT.fullmatch(name) or name in (".", ".."):
            raise ValueError(
                f"{kind} {name!r} cannot appear in webhook URLs (/webhooks/TENANT/INSTANCE/KIND): "
                f"rename the {kind} with letters, digits, '-', '_', '.' or '~' only"
            )
        return name

    return check


#: Tenant and instance names are path segments of their webhook URLs.
_TenantName = Annotated[str, AfterValidator(_url_segment("tenant"))]
_InstanceName = Annotated[str, AfterValidator(_url_segment("instance"))]


def _event_file(path: Path) -> Path:
    """An events file, relative to the config file's directory unless absolute."""
    config = _toml_path.get()
    found = path if path.is_absolute() or config is None else config.parent / path
    if not found.is_file():
        raise ValueError(
            f"events file {str(path)!r} does not exist ({str(found)!r}); give a path relative "
            "to the config file's directory, or an absolute one, of a TOML file with one "
            "[NAME] table per event"
        )
    return found


#: A TOML file declaring events: one ``[NAME]`` table per event, as in ``[events.NAME]``.
_EventFile = Annotated[Path, AfterValidator(_event_file)]


def _event_layers(files: tuple[Path, ...], inline: dict[str, Any], where: str) -> list[EventTables]:
    """The events files in order, then the inline tables: each layer over the previous."""
    layers = []
    for file in files:
        try:
            tables = tomllib.loads(file.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"events file {str(file)!r} cannot be read: {exc}") from None
        layers.append(EventTables(tables, where="", file=str(file)))
    if inline:
        layers.append(EventTables(inline, where=where))
    return layers


#: Backends relaykit ships drivers for; ``postgresql://`` means psycopg 3, its only driver.
_DATABASE_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


class LogSettings(BaseModel):
    """How relaykit logs."""

    model_config = _STRICT

    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class InstanceSettings(BaseModel):
    """One named use of a connector within a tenant.

    :ivar rate_per_second: messages per second per sender (a token bucket
        shared by every worker on the database). Unset: 1 for a connector
        with SMS or WhatsApp (a long code's rate; raise it for toll-free,
        short codes and Messaging Services), unlimited for email.
    :ivar burst: how many messages may go at once before the rate applies.
    """

    model_config = _STRICT

    connector: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    rate_per_second: float | None = Field(default=None, gt=0)
    burst: float = Field(default=1.0, ge=1)


class TenantSettings(BaseModel):
    """One organisation using relaykit (a school, a site, a customer), and its delivery policy."""

    model_config = _STRICT

    display_name: str = ""
    time_zone: str = "UTC"
    instances: dict[_InstanceName, InstanceSettings] = Field(default_factory=dict)
    routes: dict[str, Route] = Field(default_factory=dict)
    sms: SmsPolicy = Field(default_factory=SmsPolicy)
    #: Rules per channel kind, over each channel's defaults (see :meth:`channel_policy`).
    channels: dict[Channel, ChannelPolicy] = Field(default_factory=dict)
    two_way: TwoWayPolicy = Field(default_factory=TwoWayPolicy)
    #: No SMS or WhatsApp in these local hours: those steps are skipped (``quiet_hours``).
    quiet_hours: QuietHours | None = None
    #: What a broadcast does with recipients its senders cannot reach within its deadline.
    broadcasts: BroadcastPolicy = Field(default_factory=BroadcastPolicy)
    #: API keys of this tenant for the HTTP API, stored hashed: "sha256:<hex digest>".
    api_keys: tuple[str, ...] = ()
    #: This tenant's own events, over the config's (``[tenants.T.events.NAME]``).
    events: dict[str, Any] = Field(default_factory=dict)
    #: Files declaring more of this tenant's events, read before ``events``.
    event_files: tuple[_EventFile, ...] = ()

    @field_validator("api_keys")
    @classmethod
    def _hashed_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", key):
                raise ValueError(
                    "api_keys hold hashes, not keys: 'sha256:' + the hex SHA-256 of the key "
                    "(python -c \"import hashlib;print(hashlib.sha256(b'KEY').hexdigest())\")"
                )
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/London"
            ) from None
        return value

    @model_validator(mode="after")
    def _routes_name_configured_instances(self) -> TenantSettings:
        used = {step.instance for route in self.routes.values() for step in route.steps}
        used |= {s.instance for r in self.routes.values() for k in r.by_kind.values() for s in k}
        used |= {i for i in (self.two_way.instance, self.two_way.notify_instance) if i}
        missing = sorted(used - set(self.instances))
        if missing:
            raise ValueError(
                f"routes or two_way name instance(s) {', '.join(missing)} that this tenant "
                f"does not configure (configured: {', '.join(sorted(self.instances)) or 'none'})"
            )
        return self

    @model_validator(mode="after")
    def _channel_rules_set_once(self) -> TenantSettings:
        text = {Channel.SMS, Channel.WHATSAPP}
        for channel, policy in self.channels.items():
            if channel == Channel.EMAIL and policy.max_length is not None:
                raise ValueError(
                    "channels.email.max_length: email has no maximum length; remove it"
                )
            if channel in text and (policy.max_length or 0) > 1600:
                raise ValueError(
                    f"channels.{channel}.max_length: at most 1600 (the providers' limit "
                    f"for a {channel} body)"
                )
        sms = self.channels.get(Channel.SMS)
        for name in ("monthly_limit", "max_length"):
            if (
                sms is not None
                and name in sms.model_fields_set
                and name in self.sms.model_fields_set
            ):
                raise ValueError(
                    f"sms.{name} and channels.sms.{name} are both set: keep one of them"
                )
        return self

    def channel_policy(self, channel: Channel) -> ChannelPolicy:
        """The rules in effect for ``channel``: ``[tenants.T.channels.<kind>]`` over the
        channel's defaults (``[tenants.T.sms]``'s for sms and whatsapp, none for others)."""
        if channel == Channel.SMS:
            defaults = ChannelPolicy(
                monthly_limit=self.sms.monthly_limit,
                max_length=self.sms.max_length,
                quiet_hours=True,
            )
        elif channel == Channel.WHATSAPP:
            defaults = ChannelPolicy(max_length=self.sms.max_length, quiet_hours=True)
        else:
            defaults = ChannelPolicy(quiet_hours=False)
        own = self.channels.get(channel)
        return own.over(defaults) if own is not None else defaults

    def route_for(self, event: str) -> Route | None:
        """The route of ``event``, else the ``default`` route."""
        return self.routes.get(event) or self.routes.get("default")


class ServiceSettings(BaseModel):
    """``relaykit serve``: where it listens and what it accepts."""

    model_config = _STRICT

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=65536, gt=0)
    #: ``POST /v1/broadcasts``: a recipients file streams to a spool file on disk, never
    #: whole in memory, so its limit is its own (1 GiB: some 10 million recipients).
    max_broadcast_bytes: int = Field(default=1 << 30, gt=0)


class DeliverySettings(BaseModel):
    """How messages are sent and retried.

    :ivar inline: send within ``notify``; ``false`` queues for ``relaykit worker``.
    :ivar concurrency: provider calls one process has in flight at once (a worker,
        ``serve``'s due sends, a batch of the inline path).
    :ivar max_attempts: an optional cap on provider calls per message; unset, the
        channel's ``retry_for_seconds`` alone decides when retries end.
    :ivar retry_for_seconds: per channel, how long after its first transient failure a
        message is still retried (backoff with full jitter, up to ``max_delay_seconds``
        apart; each retry is kept in the database). A channel left out keeps its default.
    :ivar stale_after_seconds: an attempt in flight longer than this belonged to
        a process that died; recovery reconciles it (keep it above the
        connectors' request timeouts).
    :ivar stuck_after_minutes: accepted messages with no final status after this
        are fetched from the provider (Twilio retries a callback only once).
    """

    model_config = _STRICT

    inline: _ConfigBool = True
    concurrency: int = Field(default=32, ge=1)
    max_attempts: int | None = Field(default=None, ge=1)
    base_delay_seconds: float = Field(default=0.5, gt=0)
    max_delay_seconds: float = Field(default=300.0, gt=0)
    retry_for_seconds: dict[Channel, float] = Field(
        default_factory=lambda: dict(DEFAULT_RETRY_FOR_SECONDS)
    )
    stale_after_seconds: float = Field(default=60.0, gt=0)
    stuck_after_minutes: float = Field(default=30.0, gt=0)

    @field_validator("retry_for_seconds")
    @classmethod
    def _positive_windows(cls, value: dict[Channel, float]) -> dict[Channel, float]:
        if any(seconds < 0 for seconds in value.values()):
            raise ValueError("retry_for_seconds: each channel's window is 0 seconds or more")
        return {**DEFAULT_RETRY_FOR_SECONDS, **value}


class RelaykitSettings(BaseSettings):
    """Everything configurable, as loaded from all sources."""

    model_config = SettingsConfigDict(
        env_prefix="RELAYKIT_",
        env_nested_delimiter="__",
        secrets_nested_delimiter="__",
        secrets_prefix="",
        extra="forbid",
        hide_input_in_errors=True,
        validate_default=True,
    )

    data_dir: Path = Path(".relaykit")
    #: Left out of repr and str; its password is masked in JSON dumps and redacted from logs.
    database_url: str | None = Field(default=None, repr=False)
    public_base_url: AnyHttpUrl | None = None
    log: LogSettings = Field(default_factory=LogSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    tenants: dict[_TenantName, TenantSettings] = Field(default_factory=dict)
    #: Events every tenant has, over the shipped ones (``[events.NAME]``).
    events: dict[str, Any] = Field(default_factory=dict)
    #: Files declaring more events for every tenant, read before ``events``.
    event_files: tuple[_EventFile, ...] = ()

    def declared_events(self) -> DeclaredEvents:
        """The events this configuration declares, in layers, for the template catalog."""
        return DeclaredEvents(
            shared=tuple(_event_layers(self.event_files, self.events, "events")),
            tenants={
                name: tuple(_event_layers(t.event_files, t.events, f"tenants.{name}.events"))
                for name, t in self.tenants.items()
            },
            channels=frozenset(
                step.channel
                for tenant in self.tenants.values()
                for route in tenant.routes.values()
                for steps in (route.steps, *route.by_kind.values())
                for step in steps
                if not step.channel.is_well_known
            ),
        )

    @model_validator(mode="after")
    def _events_usable(self) -> RelaykitSettings:
        """Declared events compile, and each tenant's routes send every event only where it
        has templates (a shipped event has every shipped channel's)."""
        declared = self.declared_events()
        try:
            shared = declare_layers(default_templates(), declared.shared, declared.channels)
            for name, tenant in self.tenants.items():
                layer = declare_layers(shared, declared.tenants[name], declared.channels)
                # a shipped event has every shipped channel's templates, but none for a
                # channel a connector declares: check every event, not only declared ones
                for event in sorted(layer.events):
                    _check_route(name, tenant, event, layer)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return self

    def tenant(self, name: str) -> TenantSettings:
        """A tenant's settings; :class:`ConfigError` naming the configured ones if unknown."""
        try:
            return self.tenants[name]
        except KeyError:
            known = ", ".join(sorted(self.tenants)) or "none"
            raise ConfigError(f"unknown tenant {name!r} (configured: {known})") from None

    @field_validator("data_dir")
    @classmethod
    def _directory(cls, value: Path) -> Path:
        problem = directory_problem(value)
        if problem:
            raise ValueError(f"{problem}: point data_dir at a directory (it is created if missing)")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, found, rest = value.partition("://")
        if not found or scheme.lower() not in _DATABASE_SCHEMES:
            named = f"scheme {scheme!r}" if found else "a URL without a scheme"
            raise ValueError(
                f"{named} is not supported: use sqlite:///PATH/relaykit.db or "
                "postgresql://USER@HOST/DATABASE (pip install 'relaykit[postgres]'), "
                "or leave database_url unset for the SQLite file in data_dir"
            )
        password = urlsplit(value).password
        if password:
            register_secret(unquote(password))
        return f"{_DATABASE_SCHEMES[scheme.lower()]}://{rest}"

    @field_serializer("database_url", when_used="json")
    def _without_password(self, value: str | None) -> str | None:
        password = urlsplit(value).password if value else None
        return value.replace(f":{password}@", ":***@", 1) if value and password else value

    @field_validator("public_base_url")
    @classmethod
    def _bare_base_url(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        parts = [
            name for name in ("query", "fragment") if value is not None and getattr(value, name)
        ]
        if value is not None and parts:
            bare = str(value).split("?")[0].split("#")[0]
            raise ValueError(
                f"has a {' and a '.join(parts)}: callback URLs are this base plus "
                f"/webhooks/..., so give the bare base, e.g. {bare}"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _given_only.get():
            return (init_settings,)
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            NestedSecretsSettingsSource(file_secret_settings),
        ]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def public_base(self) -> str | None:
        """The public base URL without a trailing slash."""
        return str(self.public_base_url).rstrip("/") if self.public_base_url else None


def _check_route(
    tenant: str, settings: TenantSettings, event: str, layer: DefaultTemplates
) -> None:
    """A declared event's route may use only channels the event has templates for."""
    key = event if event in settings.routes else "default"
    route = settings.routes.get(key)
    if route is None:
        return
    channels = {step.channel for step in route.steps}
    channels |= {step.channel for steps in route.by_kind.values() for step in steps}
    missing = missing_channels(layer, event, channels)
    if missing:
        names = ", ".join(c.value for c in missing)
        raise ValueError(
            f"tenants.{tenant}.routes.{key} sends {event!r} by {names}, but the event has no "
            f"{names} template: add it under [events.{event}.templates], or give {event!r} a "
            f"route of its own ([tenants.{tenant}.routes.{event}]) without {names}"
        )


def directory_problem(path: Path) -> str | None:
    """Why ``path`` cannot be (or be created as) a directory, else ``None``."""
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{str(existing)!r} is a file, not a directory"
    return None


def load_settings(
    config_path: Path | str | None = None,
    *,
    secrets_dir: Path | str | None = None,
    **overrides: Any,
) -> RelaykitSettings:
    """Load settings from the TOML file, the environment and the secrets directory.

    :param config_path: the TOML file; defaults to ``RELAYKIT_CONFIG`` or
        ``./relaykit.toml``. A missing default file means "no file"; a missing
        named file is an error.
    :raises ConfigError: naming every offending setting and what is wrong.
    """
    named = config_path or os.environ.get("RELAYKIT_CONFIG")
    path = Path(named) if named else DEFAULT_CONFIG_PATH
    if named and not path.is_file():
        raise ConfigError(
            f"config file {str(path)!r} does not exist; create it (see relaykit.example.toml) "
            "or point --config / RELAYKIT_CONFIG at an existing file"
        )
    secrets_dir = secrets_dir or os.environ.get("RELAYKIT_SECRETS_DIR") or None
    with _reading(path if path.is_file() else None):
        try:
            settings = RelaykitSettings(_secrets_dir=secrets_dir, **overrides)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise ConfigError(_describe(exc, f"{path} or RELAYKIT_* env")) from None
        except ValueError as exc:  # e.g. a TOML syntax error
            raise ConfigError(f"{path}: {exc}") from None
    if path.is_file() and not settings.tenants and not tomllib.loads(path.read_text("utf-8")):
        raise ConfigError(
            f"{path} configures nothing: it holds no settings and no [tenants.NAME] table; "
            "start from relaykit.example.toml"
        )
    return settings


def settings_from(document: Mapping[str, Any]) -> RelaykitSettings:
    """Settings from ``document`` alone: no config file, ``RELAYKIT_*`` env var or secrets
    directory is read (a self-contained set-up such as ``relaykit demo``).

    :raises ConfigError: naming every offending setting and what is wrong.
    """
    token = _given_only.set(True)
    try:
        return RelaykitSettings(**document)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "the given settings")) from None
    finally:
        _given_only.reset(token)


@contextmanager
def _reading(path: Path | None) -> Iterator[None]:
    token = _toml_path.set(path)
    try:
        yield
    finally:
        _toml_path.reset(token)


def _describe(exc: ValidationError, where: str) -> str:
    lines = [f"invalid configuration ({exc.error_count()} problem(s)) in {where}:"]
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        hint = _HINTS.get(error["type"], "")
        message = error["msg"].removeprefix("Value error, ")
        # A check across settings (declared events) names its fields in the message.
        lines.append(f"  {location}: {message}{hint}" if location else f"  {message}{hint}")
    return "\n".join(lines)


_HINTS = {
    "extra_forbidden": " (unknown setting: check its spelling against relaykit.example.toml)",
    "missing": " (add it to the config file or set the RELAYKIT_ env var)",
    "url_parsing": " (use an absolute URL such as https://relay.example.org)",
    "literal_error": "",
}
