"""Twilio's REST error body, raised from request handlers and rendered by the app."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["TwilioApiError", "error_body"]

_MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


def error_body(code: int, message: str, status: int) -> dict[str, object]:
    """Twilio's error JSON: ``code``, ``message``, ``more_info`` and ``status``."""
    return {
        "code": code,
        "message": message,
        "more_info": _MORE_INFO.format(code=code),
        "status": status,
    }


class TwilioApiError(Exception):
    """An error answer in Twilio's shape; the app turns it into the HTTP response."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        return error_body(self.code, self.message, self.status)


def not_found(path: str) -> TwilioApiError:
    """Twilio's 404 (code 20404) for a resource that does not exist or is not this account's."""
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")
