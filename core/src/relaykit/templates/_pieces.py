"""A parsed mustache template as plain pieces, rendered without pystache's machinery.

relaykit renders with a context of scalars only (text, numbers, booleans:
``checked_value`` refuses anything else), where mustache reduces to a few
rules, here applied exactly as pystache applies them:

* a variable renders ``str(value)``, HTML-escaped when the tag escapes and the
  part is HTML; a missing variable raises :class:`KeyError`;
* a section renders its content once when its value is truthy (with ``{{.}}``
  as that value) and not at all when it is falsy (``""``, ``0``, ``False``);
  an inverted section the other way round. Builtin values never shadow a name
  inside a section, so names still come from the context.

A value that is not a scalar raises :class:`NotScalar`: the caller renders
with pystache instead.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pystache.parser import (  # type: ignore[import-untyped]
    _ChangeNode,
    _CommentNode,
    _EscapeNode,
    _InvertedNode,
    _LiteralNode,
    _SectionNode,
)

__all__ = ["NotScalar", "Pieces", "pieces_of", "render_pieces"]

_SCALARS = (str, int, float, bool)


class NotScalar(Exception):
    """A section's value is not text, a number or a boolean."""


@dataclass(frozen=True, slots=True)
class _Variable:
    key: str
    escaped: bool


@dataclass(frozen=True, slots=True)
class _Section:
    key: str
    inverted: bool
    content: Pieces


Pieces = tuple[str | _Variable | _Section, ...]


def pieces_of(parsed: Any) -> Pieces | None:
    """The pieces of a pystache-parsed template; ``None`` for a tag it cannot express."""
    pieces: list[str | _Variable | _Section] = []
    for node in parsed._parse_tree:  # pystache has no public walk of its tree
        if isinstance(node, str):
            pieces.append(node)
        elif isinstance(node, _EscapeNode | _LiteralNode):
            pieces.append(_Variable(node.key, isinstance(node, _EscapeNode)))
        elif isinstance(node, _SectionNode | _InvertedNode):
            inverted = isinstance(node, _InvertedNode)
            content = pieces_of(node.parsed_section if inverted else node.parsed)
            if content is None:
                return None
            pieces.append(_Section(node.key, inverted, content))
        elif not isinstance(node, _CommentNode | _ChangeNode):
            return None  # a partial: pystache refuses it when rendering
    return tuple(pieces)


def render_pieces(
    pieces: Pieces, context: Mapping[str, object], escapes_html: bool, dot: object = None
) -> str:
    """Render ``pieces``; ``dot`` is the innermost section's value (``{{.}}``).

    :raises KeyError: a variable is missing from ``context``.
    :raises NotScalar: a section's value is not a scalar.
    """
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif isinstance(piece, _Variable):
            value = dot if piece.key == "." else context[piece.key]
            text = value if isinstance(value, str) else str(value)
            out.append(html.escape(text, quote=True) if piece.escaped and escapes_html else text)
        else:
            value = context[piece.key]
            if not isinstance(value, _SCALARS):
                raise NotScalar(piece.key)
            if bool(value) is not piece.inverted:
                inner_dot = dot if piece.inverted else value
                out.append(render_pieces(piece.content, context, escapes_html, inner_dot))
    return "".join(out)
