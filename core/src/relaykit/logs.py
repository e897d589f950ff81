"""structlog set-up: JSON lines off a TTY, readable console on one, secrets redacted everywhere.

Tracebacks are rendered *without* frame locals (structlog's default
``show_locals=True`` wrote an auth token into the JSON log), and stdlib
loggers - the twilio SDK's request log among them - go through the same
redacting processors. ``twilio.http_client`` is held at WARNING: at INFO it
logs every request URL and header.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.types import EventDict, Processor, WrappedLogger

from relaykit.redaction import redact

__all__ = ["configure_logging", "redact_event"]

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
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    # Redaction runs last before rendering, so it also sees formatted tracebacks.
    shared.append(redact_event)

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
