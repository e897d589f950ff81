"""A broadcast's recipients body, streamed to a spool file: never whole in memory.

``POST /v1/broadcasts`` answers once the body is on disk and the broadcast has
started; the run then reads the spool a chunk at a time, like ``relaykit
broadcast`` reads its file. The body is checked to be UTF-8 while it streams
in, so a bad byte is refused before anything is stored. The spool is unlinked
as soon as the run has opened it: nothing is left behind, even by a killed
process.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from starlette.requests import Request

from relaykit.recipient_files import ParsedRow, read_recipients
from relaykit.service._body import BodyTooLarge, check_declared_length

__all__ = ["NotUtf8", "SpooledRows", "spool_body"]

#: Bytes gathered in memory before one write to the spool (off the event loop).
_WRITE_EVERY = 1 << 20


class NotUtf8(Exception):
    """The body is not UTF-8 text: answer 400."""


async def spool_body(request: Request, limit: int, suffix: str) -> Path:
    """Stream the request body into a new temporary file named ``*{suffix}``; its path.

    :raises BodyTooLarge: the body is (or is declared) over ``limit`` bytes.
    :raises MalformedLength: ``Content-Length`` is not a number.
    :raises NotUtf8: a byte sequence that is not UTF-8.
    """
    check_declared_length(request, limit)
    handle, name = tempfile.mkstemp(prefix="relaykit-broadcast-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as spool:
            decoder = codecs.getincrementaldecoder("utf-8")()
            size = 0
            pending = bytearray()
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit)
                _check_text(decoder, chunk)
                pending += chunk
                if len(pending) >= _WRITE_EVERY:
                    await asyncio.to_thread(spool.write, bytes(pending))
                    pending.clear()
            _check_text(decoder, b"", final=True)
            await asyncio.to_thread(spool.write, bytes(pending))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _check_text(decoder: codecs.IncrementalDecoder, chunk: bytes, *, final: bool = False) -> None:
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError:
        raise NotUtf8("the body is not UTF-8 text") from None


class SpooledRows:
    """The parsed rows of a spool file, read as the run asks for them; the file is
    unlinked once open (the open handle keeps it readable until :meth:`close`).

    :raises RecipientFileError: the body cannot be parsed at all (a CSV header
        without an ``id`` column): found here, before the broadcast is opened.
    """

    def __init__(self, path: Path) -> None:
        try:
            self._rows = read_recipients(path)
        finally:
            path.unlink(missing_ok=True)
        try:
            first = next(self._rows, None)  # a CSV header is checked on the first row
        except BaseException:
            self.close()
            raise
        self._ahead: Iterator[ParsedRow] = iter(() if first is None else (first,))

    def __iter__(self) -> Iterator[ParsedRow]:
        return itertools.chain(self._ahead, self._rows)

    def close(self) -> None:
        """Close the spool (a run that stopped early leaves rows unread)."""
        with contextlib.suppress(Exception):
            self._rows.close()  # type: ignore[attr-defined]
