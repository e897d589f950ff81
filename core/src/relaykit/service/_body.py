"""Reading a request body without ever holding more than the configured limit (PITFALLS 11)."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["BodyTooLarge", "MalformedLength", "check_declared_length", "read_body"]


class BodyTooLarge(Exception):
    """The body is larger than the service accepts: answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class MalformedLength(Exception):
    """The ``Content-Length`` header is not a non-negative integer: answer 400."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before a byte is
    read; a body without one (chunked) is counted while it streams in.

    :raises BodyTooLarge: the body is (or is declared) over ``limit``.
    :raises MalformedLength: ``Content-Length`` is not a number.
    """
    check_declared_length(request, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


def check_declared_length(request: Request, limit: int) -> None:
    """Refuse a declared ``Content-Length`` over ``limit`` before a byte is read.

    :raises BodyTooLarge: declared over ``limit``.
    :raises MalformedLength: ``Content-Length`` is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not (declared.isascii() and declared.isdigit()):
        raise MalformedLength(f"Content-Length {declared[:20]!r} is not a number")
    if int(declared) > limit:
        raise BodyTooLarge(limit)
