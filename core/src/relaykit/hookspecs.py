"""Hook specifications: the plugin author's manual.

There are two kinds of plugin:

* **Connector plugins** (entry-point group ``relaykit.connectors``) implement
  :func:`register_connectors` (and optionally :func:`register_sandboxes`) and
  nothing else. The connector class they register implements the
  :class:`relaykit.Connector` protocol.
* **Middleware plugins** (entry-point group ``relaykit.plugins``) wrap the
  connector hooks: logging, metrics, rate limits. Preferably as a
  :class:`relaykit.Middleware` object, whose plain async methods
  (``send(call_next, connector, message)``, ...) the host composes once; or
  with ``@hookimpl(wrapper=True)`` on :func:`authenticate`, :func:`send`,
  :func:`handle_callback` or :func:`describe_fields`. The async hooks' inner
  result is then an awaitable; use :func:`relaykit.middleware.around_async`
  to await it in an ``async def``.

The core's built-in plugin is the only non-wrapper implementation of the four
connector hooks: it calls the method of the same name on the one connector
instance the host picked, so a hook call reaches exactly one connector. Any
other plugin implementing them without ``wrapper=True`` is refused at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pluggy

from relaykit.connectors import Connector, RegisterConnector
from relaykit.results import (
    CallbackOutcome,
    CallbackRequest,
    ConnectionStatus,
    FieldSpec,
    OutboundMessage,
    SendReceipt,
)
from relaykit.sandboxes import SandboxFactory

__all__ = [
    "CONNECTOR_HOOKS",
    "authenticate",
    "describe_fields",
    "handle_callback",
    "hookimpl",
    "hookspec",
    "register_connectors",
    "register_sandboxes",
    "send",
]

PROJECT_NAME = "relaykit"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The hooks only the core implements (middleware may wrap them).
CONNECTOR_HOOKS = ("authenticate", "send", "handle_callback", "describe_fields")


@hookspec(historic=True)
def register_connectors(register: RegisterConnector) -> None:
    """Register the connector classes this plugin provides.

    Called once per plugin manager, and replayed for plugins registered later
    (the hook is historic), so a connector added by a test fixture or loaded
    on demand still lands in the registry.

    :param register: call ``register(ConnectorClass)`` for each connector
        class. The class's ``name`` must equal its spec's ``id`` and the entry
        point's name. Its spec is validated against the meta-schema right away;
        an invalid spec makes the whole plugin unavailable.

    Use in connectors: the only hook a connector plugin implements::

        @relaykit.hookimpl
        def register_connectors(register):
            register(TwilioConnector)

    Keep the module that holds this cheap to import: import the provider's SDK
    inside the connector's methods, not at module level.
    """


@hookspec(historic=True)
def register_sandboxes(register: Callable[[str, SandboxFactory], None]) -> None:
    """Register local stand-ins for providers, for tests and ``relaykit demo``.

    :param register: call ``register(name, factory)``; ``factory(options)``
        returns an async context manager that starts the sandbox on
        ``options.host``/``options.port`` and yields a
        :class:`relaykit.sandboxes.RunningSandbox`.

    Use in connectors: optional. ``relaykit sandbox NAME --port N`` runs a
    registered sandbox in the foreground.
    """


@hookspec(firstresult=True)
def authenticate(connector: Connector) -> Awaitable[ConnectionStatus]:
    """Check an instance's credentials and sender with its provider.

    Default: the core calls ``connector.authenticate()``, which returns a
    :class:`ConnectionStatus`: ``connected``, or a typed reason
    (``invalid_credentials``, ``sender_not_verified``, ``unreachable``, ...)
    with a one-sentence ``detail`` saying what to fix. A bad setup is a status,
    not an exception. A connector that sends from senders checks every one the
    instance will use - its own settings and ``connector.config.extra_senders``
    (e.g. a tenant's staff number pool) - and reports each as a
    :class:`SenderCheck` in ``ConnectionStatus.senders`` (optional: the field
    defaults to empty); one failed sender makes it ``sender_not_verified``.

    :param connector: the configured instance the host picked.
    :returns: an awaitable of the status.

    Stops at the first non-None result (``firstresult``): only the core
    implements it.

    Use in middleware: a :class:`relaykit.Middleware` with ``async def
    authenticate(self, call_next, connector)``, or ``@hookimpl(wrapper=True)``,
    to log or record checks.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def send(connector: Connector, message: OutboundMessage) -> Awaitable[SendReceipt]:
    """Hand one rendered message for one recipient to the instance's provider.

    Default: the core calls ``connector.send(message)``. The connector
    validates and normalises the address (a bad one is a
    :class:`PermanentSendError` naming it), calls the provider once - no
    retries of its own - and returns a :class:`SendReceipt`. On failure it
    raises exactly one of:

    * :class:`TransientSendError` - nothing was sent, try again later;
    * :class:`AmbiguousSendError` - it may have been sent (a timeout after the
      request left), reconcile before resending;
    * :class:`RateLimitedError` - refused for rate, with ``retry_after``;
    * :class:`PermanentSendError` - never going to work this way, fall back;
    * :class:`OptOutError` - the recipient unsubscribed, record it and fall back;
    * :class:`AuthenticationError` - credentials rejected, mark the instance
      not connected.

    :param connector: the configured instance the host picked.
    :param message: the rendered message.
    :returns: an awaitable of the receipt.

    Stops at the first non-None result: only the core implements it.

    Use in middleware: a :class:`relaykit.Middleware` with
    ``async def send(self, call_next, connector, message)``, or
    ``@hookimpl(wrapper=True)`` with :func:`relaykit.middleware.around_async`;
    a rate limiter may raise :class:`RateLimitedError` before calling the rest
    of the chain, so the connector is never called.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def handle_callback(connector: Connector, request: CallbackRequest) -> Awaitable[CallbackOutcome]:
    """Verify a webhook request from the provider and normalise what it says.

    Default: the core calls ``connector.handle_callback(request)``, which first
    verifies the request (signature over ``request.url``, the configured public
    URL) and raises :class:`CallbackVerificationError` when that fails - the
    HTTP service answers 403 and stores nothing. A verified request it cannot
    understand raises :class:`CallbackParseError` (400). Otherwise it returns a
    :class:`CallbackOutcome` with :class:`StatusUpdate`,
    :class:`InboundMessage` and :class:`ConsentChange` events, each with a
    ``dedupe_key`` where the provider gives one, and the response body the
    provider expects.

    :param connector: the instance the webhook URL names.
    :param request: the request, with the public URL it was sent to.
    :returns: an awaitable of the outcome.

    Stops at the first non-None result: only the core implements it.

    Use in middleware: a :class:`relaykit.Middleware` with ``async def
    handle_callback(self, call_next, connector, request)``, or
    ``@hookimpl(wrapper=True)``, to log or count callbacks.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def describe_fields(connector_class: type[Connector]) -> list[FieldSpec]:
    """The data-field mapping of a connector: host field ↔ vendor field.

    Default: the core returns ``connector_class.spec().fields()``, the
    ``data_fields`` of the connector's spec document: the one place the
    mapping is declared. (A connector's own ``describe_fields`` classmethod,
    which the protocol once required, is not called.) The hook stays so that
    middleware can wrap it.

    :param connector_class: the registered connector class (no instance is
        needed: the mapping does not depend on settings).
    :returns: the rows, outbound fields first.

    Stops at the first non-None result: only the core implements it.
    """
    raise NotImplementedError
