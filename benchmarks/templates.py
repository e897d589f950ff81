"""How much pre-parsing saves: render cost per message, parsed once vs parsed every time.

Run from the workspace root:  uv run python benchmarks/templates.py

Columns, per message (best of several runs):
  parse+render  pystache with the same settings, given the source each time (parses it anew)
  pre-parsed    CompiledTemplate.render: the parsed tree kept from load time
  via catalog   TemplateCatalog.render for a tenant with an override: store lookup,
                cached compiled template, data checks, render
"""

from __future__ import annotations

import html
import timeit
from collections.abc import Callable

import pystache  # type: ignore[import-untyped]

from relaykit.templates import InMemoryTemplateOverrides, TemplateCatalog, TemplatePart

NUMBER = 2000
REPEAT = 9
CASES = [
    ("key_is_ready", TemplatePart.SMS),
    ("key_is_ready", TemplatePart.EMAIL_HTML),
    ("staff_reply", TemplatePart.EMAIL_TEXT),
    ("otp", TemplatePart.SMS),
]


def _per_message_us(call: Callable[[], object]) -> float:
    call()  # warm up
    return min(timeit.repeat(call, number=NUMBER, repeat=REPEAT)) / NUMBER * 1e6


def _measure(catalog: TemplateCatalog, event: str, part: TemplatePart) -> tuple[float, ...]:
    data = catalog.event(event).example_data()
    compiled = catalog.template(event, part)
    context = compiled.context_for(data)
    escape = html.escape if part.escapes_html else str
    naive = pystache.Renderer(escape=escape, missing_tags="strict", partials={})
    source = compiled.source
    catalog.set_override("north", event, part, source)
    return (
        _per_message_us(lambda: naive.render(source, context)),
        _per_message_us(lambda: compiled.render(data)),
        _per_message_us(lambda: catalog.render("north", event, part, data)),
    )


def main() -> None:
    catalog = TemplateCatalog(InMemoryTemplateOverrides())
    header = ("template", "parse+render", "pre-parsed", "via catalog", "saved")
    print(f"{header[0]:<28} {header[1]:>13} {header[2]:>11} {header[3]:>12} {header[4]:>6}")
    for event, part in CASES:
        naive, pre_parsed, via_catalog = _measure(catalog, event, part)
        print(
            f"{event + '/' + part.value:<28} {naive:>10.1f} us {pre_parsed:>8.1f} us"
            f" {via_catalog:>9.1f} us {naive / pre_parsed:>5.1f}x"
        )


if __name__ == "__main__":
    main()
