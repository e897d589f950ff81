"""structlog set-up: JSON lines off a TTY, readable console on one, secrets redacted everywhere.

Tracebacks are rendered *without* frame locals (structlog's default
``show_locals=True`` wrote an auth token into the JSON log), and stdlib
loggers - the twilio SDK's request log among them - go through the same
redacting processors. ``twilio.http_client`` is held at WARNING: at INFO it
logs every request URL and header.

relaykit's own modules log through :func:`get_logger`. Until
:func:`configure_logging` has run (library use: an embedding program calls
``Relay.from_config`` or ``create_app``), those loggers apply the same safe
processor chain themselves and hand the rendered line to the stdlib logger
of the same name, so the embedder's handlers and levels decide where it goes;
neither its structlog configuration nor its stdlib handlers are touched.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.types import EventDict, Processor, WrappedLogger

from relaykit.redaction import redact

__all__ = ["configure_logging", "get_logger", "redact_event"]

#: Libraries that log request details (URLs, headers) at INFO: held at WARNING (PITFALLS 4).
QUIET_LOGGERS = {
    "twilio.http_client": logging.WARNING,
    "twilio.async_http_client": logging.WARNING,
    "mail.log": logging.WARNING,  # aiosmtpd's logger
}


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact every registered secret from every value, however nested."""
    return {key: _redact_value(value) for key, value in event_dict.items()}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


def _safe_chain(*, use_json: bool, colors: bool) -> tuple[list[Processor], Processor]:
    """The processors every relaykit event goes through (redaction last), and the renderer."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if use_json:
        shared.append(
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
    # Redaction runs last before rendering, so it also sees formatted tracebacks.
    shared.append(redact_event)
    return shared, renderer


def get_logger(name: str) -> Any:
    """The structlog logger relaykit's modules use: safe whoever configured logging, or nobody.

    After :func:`configure_logging` it is ``structlog.get_logger(name)``; before (library use),
    it runs relaykit's safe chain itself and logs the rendered line to ``logging.getLogger(name)``.
    """
    return _RelaykitLogger(name, {})


class _RelaykitLogger:
    """Resolves its logger once per logging configuration, so configuring logging later
    (or restoring an earlier configuration) still takes effect, at a dictionary's cost a call."""

    __slots__ = ("_context", "_name", "_resolved")

    def __init__(self, name: str, context: dict[str, Any]) -> None:
        self._name = name
        self._context = context
        self._resolved: tuple[tuple[object, ...], Any] | None = None

    def bind(self, **values: Any) -> _RelaykitLogger:
        return _RelaykitLogger(self._name, {**self._context, **values})

    # The levels relaykit logs at, spelled out: a __getattr__ lookup costs a caught AttributeError.
    def debug(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._logger().debug(event, *args, **kw)

    def info(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._logger().info(event, *args, **kw)

    def warning(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._logger().warning(event, *args, **kw)

    def error(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._logger().error(event, *args, **kw)

    def exception(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._logger().exception(event, *args, **kw)

    def __getattr__(self, method: str) -> Any:
        return getattr(self._logger(), method)

    def _logger(self) -> Any:
        config = structlog.get_config()
        # Identities of what structlog.configure replaces; a tuple compares them by identity first.
        key = (config["processors"], config["wrapper_class"], config["logger_factory"])
        resolved = self._resolved
        if resolved is None or resolved[0] != key:
            if redact_event in config["processors"]:  # configure_logging ran
                logger = structlog.get_logger(self._name).bind(**self._context)
            else:
                logger = _library_logger(self._name).bind(**self._context)
            resolved = self._resolved = (key, logger)
        return resolved[1]


class _RenderedToStdlib(structlog.stdlib.BoundLogger):
    """Hands the stdlib logger only the rendered line: its ``exception()`` would add the raw,
    unredacted traceback again."""

    def exception(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        kw.setdefault("exc_info", True)
        return self._proxy_to_logger("error", event, *args, **kw)


@functools.cache
def _library_logger(name: str) -> Any:
    shared, renderer = _safe_chain(use_json=False, colors=False)
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.stdlib.filter_by_level, *shared, renderer],
        wrapper_class=_RenderedToStdlib,
    )


def configure_logging(
    *, format: str = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger for the whole process.

    :param format: ``json``, ``console``, or ``auto`` (console on a TTY, else JSON).
    :param level: the minimum level logged.
    :param stream: where to write; default stderr.
    """
    stream = stream or sys.stderr
    use_json = format == "json" or (format == "auto" and not stream.isatty())
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    shared, renderer = _safe_chain(use_json=use_json, colors=stream.isatty())

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_relaykit", False):
            root.removeHandler(old)
    handler._relaykit = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric_level)
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet_level, numeric_level))
