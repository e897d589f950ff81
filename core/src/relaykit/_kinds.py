"""Open value types named by lower-case identifiers: the base of channel and address kinds.

A kind is a ``str`` (it compares, hashes, formats and serialises as its text)
that is validated on construction. Each kind type keeps its well-known values
as class constants (``Channel.SMS``); constructing one of them returns that
constant, so ``Channel("sms") == Channel.SMS`` as it was while ``Channel``
was an enum. Iterating over the type yields the well-known values only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, Final, Self

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["KIND_PATTERN", "Kind"]

#: What every kind's text must match: a lower-case identifier of 1 to 32 characters.
KIND_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")


class _KindType(type):
    """Lets ``for channel in Channel`` list the well-known values, as the enum did."""

    def __iter__(cls) -> Iterator[Any]:
        return iter(tuple(getattr(cls, "_well_known", {}).values()))

    def __len__(cls) -> int:
        return len(getattr(cls, "_well_known", ()))


class Kind(str, metaclass=_KindType):
    """A lower-case identifier naming one kind of a thing; subclass per thing.

    :cvar what: how messages name the thing (``channel kind``).
    """

    __slots__ = ()
    what: ClassVar[str] = "kind"
    _well_known: ClassVar[dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._well_known = {}

    def __new__(cls, value: str) -> Self:
        if type(value) is cls:
            return value
        if isinstance(value, str):
            known: Self | None = cls._well_known.get(value)
            if known is not None:
                return known
        problem = cls._problem(value)
        if problem:
            raise ValueError(problem)
        return super().__new__(cls, value)

    @classmethod
    def _problem(cls, value: object) -> str | None:
        """Why ``value`` cannot be one of these kinds, or ``None``; subclasses may add rules."""
        if isinstance(value, str) and KIND_PATTERN.fullmatch(value):
            return None
        return (
            f"{value!r} is not a valid {cls.what}: use a lower-case identifier of at most "
            "32 letters, digits and _, starting with a letter (e.g. pager)"
        )

    @classmethod
    def _define(cls, value: str) -> Self:
        """Register ``value`` as well known; construction returns this object from then on."""
        known = str.__new__(cls, value)
        cls._well_known[value] = known
        return known

    @property
    def value(self) -> str:
        """The kind's text (``"sms"``), as ``.value`` gave it while kinds were enums."""
        return str.__str__(self)

    @property
    def is_well_known(self) -> bool:
        """True for the values relaykit itself defines (``Channel.SMS``...)."""
        return self.value in type(self)._well_known

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"

    def __getnewargs__(self) -> tuple[str]:
        return (self.value,)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
            ref=f"{cls.__module__}.{cls.__qualname__}",
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """A lower-case identifier; subclasses may publish only their well-known values."""
        return {
            "title": cls.__name__,
            "description": (cls.__doc__ or "").strip().split("\n")[0],
            "type": "string",
            "pattern": f"^{KIND_PATTERN.pattern}$",
        }
