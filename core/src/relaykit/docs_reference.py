"""Generate ``docs/reference.md``: every name of :mod:`relaykit.contract`, from the code.

Run ``python -m relaykit.docs_reference`` to rewrite the file, ``--check`` to
exit 1 when the committed one is stale (what the drift test and CI do). Each
class gets its docstring, its fields (type, default, description from
``:ivar:``), its public methods and properties; each enum its members; each
function its signature and docstring; each constant and type alias its value.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import relaykit.contract as contract

__all__ = ["DEFAULT_PATH", "main", "render_reference"]

DEFAULT_PATH = Path("docs/reference.md")

_HEADER = """\
# Reference: `relaykit.contract`

Every public name a connector author imports from `relaykit.contract`, with
its fields, methods and defaults. Generated from the code by
`python -m relaykit.docs_reference` - do not edit by hand; a test fails when
this file is stale. Contract version: `{version}`.

"""
_IVAR = re.compile(r"^:ivar (\w+):\s*(.*)$")
_QUALIFIED = re.compile(r"\b(?:[a-z_][a-z0-9_]*\.)+(?=[A-Za-z_])")
_STARS: dict[inspect._ParameterKind, str] = {
    inspect.Parameter.VAR_POSITIONAL: "*",
    inspect.Parameter.VAR_KEYWORD: "**",
}
#: described here rather than by pluggy's docstring, which changes with pluggy's releases
_PLUGGY_MARKERS = {
    "HookimplMarker": "Marks a plugin's hook implementations: `@hookimpl` on"
    " `register_connectors`/`register_sandboxes`; middleware use `@hookimpl(wrapper=True)`,"
    " ordered with `tryfirst=True`/`trylast=True` (see hooks.md).",
}
_DEFINING_MODULES = ("connectors", "errors", "hookspecs", "results", "sandboxes", "spec")


def render_reference() -> str:
    """The text of ``docs/reference.md`` for the installed relaykit."""
    sections = [_section(name, getattr(contract, name)) for name in contract.__all__]
    index = "\n".join(f"- [`{name}`](#{name.lower()})" for name in contract.__all__)
    return _HEADER.format(version=contract.CONTRACT_VERSION) + index + "\n\n" + "\n".join(sections)


def _section(name: str, obj: Any) -> str:
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        body = _enum(obj)
    elif inspect.isclass(obj):
        body = _class(obj)
    elif inspect.isfunction(obj):
        body = f"```python\n{name}{_signature(obj)}\n```\n\n{_doc(obj)}\n"
    else:
        body = _value(name, obj)
    return f"## {name}\n\n{body}"


def _enum(cls: type[enum.Enum]) -> str:
    rows = "\n".join(f"| `{member.name}` | `{member.value!r}` |" for member in cls)
    kind = ", ".join(base.__name__ for base in cls.__bases__)
    return (
        f"`class {cls.__name__}({kind})`\n\n{_doc(cls)}\n\n| member | value |\n|---|---|\n{rows}\n"
        + _members(cls)
    )


def _class(cls: type) -> str:
    bases = ", ".join(
        b.__name__ for b in cls.__bases__ if b is not object and b.__name__ != "Generic"
    )
    head = f"`class {cls.__name__}{f'({bases})' if bases else ''}`"
    if dataclasses.is_dataclass(cls):
        frozen = " (frozen dataclass)" if cls.__dataclass_params__.frozen else " (dataclass)"  # type: ignore[attr-defined]
        head += frozen
    prose, ivars = _split_ivars(_doc(cls))
    text = f"{head}\n\n{prose}\n"
    fields = _fields(cls, ivars)
    if fields:
        text += f"\n| field | type | default | description |\n|---|---|---|---|\n{fields}\n"
    else:
        if issubclass(cls, BaseException) and "__init__" in vars(cls):
            signature = _signature(cls.__init__, drop_self=True)
            text += f"\n```python\n{cls.__name__}{signature}\n```\n"
        if ivars:
            text += "\n" + "".join(f"- `{name}`: {ivar}\n" for name, ivar in ivars.items())
    return text + _members(cls)


def _fields(cls: type, ivars: dict[str, str]) -> str:
    """Markdown table rows of a dataclass's fields, or a protocol's annotated attributes."""
    rows = []
    if dataclasses.is_dataclass(cls):
        for field in dataclasses.fields(cls):
            rows.append((field.name, str(field.type), _default(field)))
    elif getattr(cls, "_is_protocol", False):
        for name, annotation in vars(cls).get("__annotations__", {}).items():
            rows.append(
                (name, str(annotation), "" if name not in vars(cls) else repr(vars(cls)[name]))
            )
    return "\n".join(
        f"| `{name}` | `{_cell(_plain(kind))}` | {f'`{_cell(default)}`' if default else '-'}"
        f" | {_cell(ivars.get(name, ''))} |"
        for name, kind, default in rows
    )


def _cell(text: str) -> str:
    """``text`` safe in a Markdown table cell."""
    return text.replace("|", "\\|")


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return f"{getattr(field.default_factory, '__name__', 'factory')}()"
    return ""


def _members(cls: type) -> str:
    """Public methods and properties defined on ``cls`` itself, with their summaries."""
    lines = []
    for name, member in _own_members(cls):
        if isinstance(member, property):
            annotation = inspect.signature(member.fget).return_annotation if member.fget else ""
            shown = f"{name}: {_plain(str(annotation))}" if annotation else name
            lines.append(f"- `{shown}` (property)" + _dash(_summary(member)))
        else:
            function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            prefix = "classmethod " if isinstance(member, classmethod) else ""
            if inspect.iscoroutinefunction(function):
                prefix += "async "
            signature = _signature(function, drop_self=not isinstance(member, staticmethod))
            lines.append(f"- `{prefix}{name}{signature}`" + _dash(_summary(function)))
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def _dash(summary: str) -> str:
    return f" - {summary}" if summary else ""


def _own_members(cls: type) -> Iterator[tuple[str, Any]]:
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property | classmethod | staticmethod) or inspect.isfunction(member):
            yield name, member


def _signature(function: Callable[..., Any], *, drop_self: bool = False) -> str:
    parameters = list(inspect.signature(function).parameters.values())
    if drop_self and parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    shown = []
    star_done = False
    for parameter in parameters:
        if parameter.kind is parameter.KEYWORD_ONLY and not star_done:
            shown.append("*")
            star_done = True
        if parameter.kind is parameter.VAR_POSITIONAL:
            star_done = True
        stars = _STARS.get(parameter.kind, "")
        text = stars + parameter.name
        if parameter.annotation is not parameter.empty:
            text += f": {_plain(str(parameter.annotation))}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        shown.append(text)
    returns = inspect.signature(function).return_annotation
    arrow = f" -> {_plain(str(returns))}" if returns is not inspect.Signature.empty else ""
    return f"({', '.join(shown)}){arrow}"


def _value(name: str, obj: Any) -> str:
    """A constant, a type alias or a marker object: its value and ``#:`` comment."""
    if isinstance(obj, str | int | float):
        shown = f"{name} = {obj!r}"
    elif type(obj).__module__.startswith("pluggy"):
        shown = f"{name} = pluggy.{type(obj).__name__}({obj.project_name!r})"
    else:
        shown = f"{name} = {_plain(repr(obj))}"
    doc = _comment_of(name) or _PLUGGY_MARKERS.get(type(obj).__name__, "")
    return f"```python\n{shown}\n```\n\n{doc}\n" if doc else f"```python\n{shown}\n```\n"


def _comment_of(name: str) -> str:
    """The ``#:`` comment lines just above ``name``'s assignment in its defining module."""
    for module_name in _DEFINING_MODULES:
        module = sys.modules.get(f"relaykit.{module_name}")
        if module is None or name not in vars(module):
            continue
        lines = inspect.getsource(module).splitlines()
        for number, line in enumerate(lines):
            if re.match(rf"^{name}\s*[:=]", line):
                comments: list[str] = []
                for above in reversed(lines[:number]):
                    if not above.startswith("#:"):
                        break
                    comments.insert(0, above[2:].strip())
                return _rst_to_md(" ".join(comments))
    return ""


def _split_ivars(doc: str) -> tuple[str, dict[str, str]]:
    """A docstring's prose, and its ``:ivar name: text`` entries (continuations joined)."""
    prose: list[str] = []
    ivars: dict[str, str] = {}
    current: str | None = None
    for line in doc.splitlines():
        match = _IVAR.match(line)
        if match:
            current = match.group(1)
            ivars[current] = match.group(2)
        elif current is not None and line.startswith(" ") and line.strip():
            ivars[current] += " " + line.strip()
        else:
            current = None
            prose.append(line)
    return "\n".join(prose).strip(), ivars


def _doc(obj: Any) -> str:
    return _rst_to_md(inspect.getdoc(obj) or "")


def _summary(obj: Any) -> str:
    return _doc(obj).split("\n\n")[0].replace("\n", " ")


def _rst_to_md(text: str) -> str:
    text = re.sub(r":(?:class|func|data|mod|meth|attr):`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    return re.sub(r"::$", ":", text, flags=re.MULTILINE)


def _plain(annotation: str) -> str:
    """An annotation without module prefixes (``relaykit.results.Channel`` -> ``Channel``)."""
    return _QUALIFIED.sub("", annotation).replace("NoneType", "None")


def main(argv: list[str] | None = None) -> int:
    """``python -m relaykit.docs_reference [PATH] [--check]``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m relaykit.docs_reference")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="exit 1 if PATH is stale")
    args = parser.parse_args(argv)
    text = render_reference()
    current = args.path.read_text("utf-8") if args.path.is_file() else None
    if args.check:
        if current != text:
            print(f"out of date: {args.path}; run: python -m relaykit.docs_reference")
            return 1
        print(f"{args.path} is up to date")
        return 0
    args.path.write_text(text, "utf-8")
    print(f"wrote {args.path}" + (" (unchanged)" if current == text else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
