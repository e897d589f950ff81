"""Message templates: per event and channel, mustache, parsed once.

Each event (``key_is_ready``, ``otp``, ...) has five parts: the SMS body, the
WhatsApp body, and the email's subject, text and HTML. relaykit ships a default
for each (``defaults.toml`` in this package); a tenant may override any part.
Integrators declare their own events (or replace shipped ones) in the
configuration: ``[events.NAME]`` for every tenant, ``[tenants.T.events.NAME]``
for one (see docs/events.md).

>>> catalog = TemplateCatalog()
>>> data = {"code": "804251", "expires_minutes": 10, "service_name": "Tom & Jerry's"}
>>> catalog.render(None, "otp", "email_subject", data)
"Your Tom & Jerry's verification code"
>>> catalog.render(None, "otp", "email_html", data).splitlines()[0]
'<p>Your Tom &amp; Jerry&#x27;s verification code is:</p>'

Rules, each a regression test: values are HTML-escaped only in the HTML email;
a missing variable is an error, never empty text; partials are refused; a
subject renders to one line; overrides may use only the event's declared
variables.
"""

from relaykit.templates._catalog import RenderedMessage, TemplateCatalog
from relaykit.templates._compile import CompiledTemplate, Scalar, compile_template
from relaykit.templates._declared import (
    CHANNEL_PARTS,
    DeclaredEvents,
    EventTables,
    declare_events,
    declare_layers,
    missing_channels,
)
from relaykit.templates._defaults import DefaultTemplates, default_templates, parse_defaults
from relaykit.templates._model import (
    EventSpec,
    MissingVariableError,
    TemplateError,
    TemplatePart,
    UnknownEventError,
    Variable,
)
from relaykit.templates._overrides import InMemoryTemplateOverrides, TemplateOverrides
from relaykit.templates._preview import (
    DEFAULT_MAX_LENGTH,
    Preview,
    PreviewWarning,
    WarningKind,
)
from relaykit.templates._provider import PROVIDER_TEMPLATE_CHANNELS, ProviderTemplateSpec

__all__ = [
    "CHANNEL_PARTS",
    "DEFAULT_MAX_LENGTH",
    "PROVIDER_TEMPLATE_CHANNELS",
    "CompiledTemplate",
    "DeclaredEvents",
    "DefaultTemplates",
    "EventSpec",
    "EventTables",
    "InMemoryTemplateOverrides",
    "MissingVariableError",
    "Preview",
    "PreviewWarning",
    "ProviderTemplateSpec",
    "RenderedMessage",
    "Scalar",
    "TemplateCatalog",
    "TemplateError",
    "TemplateOverrides",
    "TemplatePart",
    "UnknownEventError",
    "Variable",
    "WarningKind",
    "compile_template",
    "declare_events",
    "declare_layers",
    "default_templates",
    "missing_channels",
    "parse_defaults",
]
