"""Parse a mustache template once, check it, and render the parsed form per message.

pystache does the parsing and rendering. What relaykit adds:

* the parsed tree is kept and reused (``pystache.render(source, ...)`` would
  parse the source again for every message);
* partials are refused when the template is compiled and, as a second lock,
  when rendering: pystache reads a partial's file from disk by default
  (chevron even outside its partials directory, PITFALLS 18);
* escaping depends on the part: HTML escaping in the HTML email only
  (PITFALLS 16); unescaped tags (``{{{x}}}``, ``{{&x}}``) are refused there;
* missing variables are errors, never empty text (PITFALLS 17);
* the parsed tree is also kept as plain pieces (:mod:`._pieces`), which
  render a context of scalars exactly as pystache does, at a fraction of
  its cost.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NoReturn

import pystache  # type: ignore[import-untyped]
from pystache.context import KeyNotFoundError  # type: ignore[import-untyped]
from pystache.parser import (  # type: ignore[import-untyped]
    ParsingError,
    _ChangeNode,
    _CommentNode,
    _EscapeNode,
    _InvertedNode,
    _LiteralNode,
    _PartialNode,
    _SectionNode,
)

from relaykit.templates._headers import header_problem
from relaykit.templates._model import (
    EventSpec,
    MissingVariableError,
    Scalar,
    TemplateError,
    TemplatePart,
    checked_value,
)
from relaykit.templates._pieces import NotScalar, Pieces, pieces_of, render_pieces

__all__ = ["CompiledTemplate", "Scalar", "compile_template"]

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TagKind = Literal["variable", "unescaped", "section", "inverted"]


@dataclass(frozen=True, slots=True)
class _Tag:
    kind: TagKind
    key: str
    in_section: bool


class _NoPartials:
    """The partials loader: every lookup fails, so no file is ever read."""

    def get(self, name: str) -> NoReturn:
        raise TemplateError(f"partials are disabled; {{{{> {name}}}}} cannot be used")


def _keep(text: str) -> str:
    return text


def _escape_html(text: str) -> str:
    return html.escape(text, quote=True)


def _renderer(escape: Any) -> Any:
    return pystache.Renderer(escape=escape, missing_tags="strict", partials=_NoPartials())


_PLAIN_RENDERER: Final = _renderer(_keep)
_HTML_RENDERER: Final = _renderer(_escape_html)


def _walk(tree: Any, *, in_section: bool = False) -> Iterator[_Tag | str]:
    """Every tag and literal text of a parsed template, sections included."""
    # ParsedTemplate keeps its nodes in a private list; pystache has no public walk.
    for node in tree._parse_tree:
        if isinstance(node, str):
            yield node
        elif isinstance(node, _EscapeNode):
            yield _Tag("variable", node.key, in_section)
        elif isinstance(node, _LiteralNode):
            yield _Tag("unescaped", node.key, in_section)
        elif isinstance(node, _SectionNode):
            yield _Tag("section", node.key, in_section)
            yield from _walk(node.parsed, in_section=True)
        elif isinstance(node, _InvertedNode):
            yield _Tag("inverted", node.key, in_section)
            yield from _walk(node.parsed_section, in_section=True)
        elif isinstance(node, _PartialNode):
            raise TemplateError(f"partials are disabled; {{{{> {node.key}}}}} cannot be used")
        elif not isinstance(node, _CommentNode | _ChangeNode):
            raise TemplateError(f"unsupported mustache tag {node!r}")


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """One part of one event's message, parsed once and ready to render many times.

    :ivar used_variables: the variables the template refers to.
    :ivar undeclared_variables: used but not declared by the event; always empty
        unless compiled with ``allow_undeclared=True`` (a draft being previewed).
    """

    event: EventSpec
    part: TemplatePart
    source: str
    used_variables: frozenset[str]
    undeclared_variables: frozenset[str]
    _parsed: Any = field(repr=False, compare=False)
    #: the parsed tree as plain pieces (``None``: render with pystache)
    _pieces: Pieces | None = field(default=None, repr=False, compare=False)

    def render(self, data: Mapping[str, object]) -> str:
        """Render for a real send.

        :raises MissingVariableError: a required variable of the event, or a
            variable the template uses, is missing (or ``None``) in ``data``.
        :raises TemplateError: a value is not text or a number, or a rendered
            subject would not be a single header line.
        """
        text = self.render_context(self.context_for(data))
        if self.part == TemplatePart.EMAIL_SUBJECT:
            problem = header_problem(text)
            if problem:
                raise TemplateError(
                    f"the rendered subject {problem}; an email subject must be one line",
                    event=self.event.name,
                    part=self.part,
                )
        return text

    def context_for(self, data: Mapping[str, object]) -> dict[str, Scalar]:
        """The rendering context for a real send: declared variables, checked.

        Optional variables that are missing become empty text, so sections hide.
        """
        context = self.event.checked_data(data, self.part)
        for name in self.undeclared_variables:
            value = data.get(name)
            if value is not None:
                context[name] = self.checked_value(name, value)
        return context

    def checked_value(self, name: str, value: object) -> Scalar:
        """``value`` when a template may show it; otherwise a :class:`TemplateError`."""
        return checked_value(self.event.name, name, value, self.part)

    def _missing(self, key: object) -> MissingVariableError:
        return MissingVariableError(
            f"template uses variable {key!r} of event {self.event.name!r} "
            "but the data has no value for it",
            event=self.event.name,
            part=self.part,
            variable=str(key),
        )

    def _render_pieces(self, context: dict[str, Scalar]) -> str | None:
        if self._pieces is None:
            return None
        try:
            return render_pieces(self._pieces, context, self.part.escapes_html)
        except KeyError as exc:
            raise self._missing(exc.args[0]) from None
        except NotScalar:
            return None

    def render_context(self, context: dict[str, Scalar]) -> str:
        """Render the parsed form with a prepared context; strict about missing names."""
        text = self._render_pieces(context)
        if text is None:
            renderer = _HTML_RENDERER if self.part.escapes_html else _PLAIN_RENDERER
            try:
                text = renderer.render(self._parsed, context)
            except KeyNotFoundError as exc:
                raise self._missing(exc.key) from None
        # A trailing newline left by a multi-line template would cost a character
        # and show as a blank line on the phone.
        return text.strip() if self.part.is_body else text


def compile_template(
    source: str,
    event: EventSpec,
    part: TemplatePart,
    *,
    allow_undeclared: bool = False,
) -> CompiledTemplate:
    """Parse ``source`` once and check it against the event's declared variables.

    :param allow_undeclared: report undeclared variables on the result instead
        of refusing them (for previewing a draft).
    :raises TemplateError: the source does not parse, uses a partial, uses an
        undeclared variable, uses an unescaped tag in the HTML part, or has a
        line break in a subject's literal text. The message names the event,
        the part and the offending variable or tag.
    """

    def fail(message: str, variable: str | None = None) -> NoReturn:
        raise TemplateError(message, event=event.name, part=part, variable=variable)

    try:
        parsed = pystache.parse(source, raise_on_mismatch=True)
    except ParsingError as exc:
        fail(f"template does not parse: {exc}")
    try:
        items = list(_walk(parsed))
    except TemplateError as exc:
        fail(str(exc))

    used: set[str] = set()
    for item in items:
        if isinstance(item, str):
            if part == TemplatePart.EMAIL_SUBJECT and header_problem(item):
                fail("an email subject must be one line; the template has a line break")
            continue
        if item.key == "." and item.in_section:
            continue  # the section's own value, e.g. {{#guest_name}}Hi {{.}}{{/guest_name}}
        if not _NAME.fullmatch(item.key):
            fail(f"{item.key!r} is not a variable name; use a plain declared name", item.key)
        if item.kind == "unescaped" and part.escapes_html:
            fail(
                f"{{{{{{{item.key}}}}}}} and {{{{&{item.key}}}}} are not allowed in HTML email; "
                f"use {{{{{item.key}}}}} so the value is escaped",
                item.key,
            )
        used.add(item.key)

    undeclared = frozenset(used - event.variable_names)
    if undeclared and not allow_undeclared:
        name = sorted(undeclared)[0]
        declared = ", ".join(sorted(event.variable_names))
        fail(
            f"unknown variable {name!r}: event {event.name!r} declares {declared}",
            name,
        )
    return CompiledTemplate(
        event=event,
        part=part,
        source=source,
        used_variables=frozenset(used),
        undeclared_variables=undeclared,
        _parsed=parsed,
        _pieces=pieces_of(parsed),
    )
