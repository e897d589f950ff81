"""Hot statements run on the DBAPI cursor: compiled once per dialect, bound by hand.

``connection.execute(statement, parameters)`` costs 40-80 µs of SQLAlchemy per
call (cache-key lookup, execution context, ``construct_params``) around ~5 µs
of SQLite. The store's hot statements are few and prebuilt, so each is
compiled once per dialect and parameter names, and the compiled SQL text, the
order of its parameters, its constants (an ``IN`` over fixed statuses) and the
bind processor of each parameter's type (``UtcDateTime`` converts to UTC, JSON
serialises) are kept. A call then binds its values with those processors and
runs the text on the DBAPI cursor of the same connection, inside the
transaction SQLAlchemy began; the paramstyle (SQLite's ``qmark``, psycopg's
``pyformat``) is the dialect's.

What the fast path does not reproduce, it leaves to SQLAlchemy: a statement
with Python-side column defaults to compute, a callable or missing value, an
``IN`` over a parameter's list, or ``RETURNING`` columns whose type converts
results runs through ``connection.execute`` as before. Driver errors are
wrapped as SQLAlchemy's own (``IntegrityError`` and so on), and the
``before/after_cursor_execute`` events still see every statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect

from relaykit.store._sql import UtcDateTime

__all__ = ["execute", "executemany"]

Processor = Callable[[Any], Any]
#: How a row yields one bound value: ``(key in the row or None, constant, processor)``.
Source = tuple[str | None, Any, Processor | None]

#: Above this many compiled forms the cache starts over (statements built per call
#: would otherwise accumulate; the hot ones are compiled again at once).
MAX_CACHED = 512


class CompiledWrite:
    """One statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("names", "positional", "returns", "sources", "sql")

    def __init__(
        self,
        sql: str,
        positional: bool,
        names: tuple[str, ...],
        sources: tuple[Source, ...],
        returns: bool,
    ) -> None:
        self.sql = sql
        self.positional = positional
        self.names = names
        self.sources = sources
        self.returns = returns

    def bind(self, row: Mapping[str, Any]) -> Any:
        """The DBAPI parameters for ``row``: a tuple (qmark) or a dict (pyformat)."""
        values = [
            (row[key] if key is not None else constant)
            if processor is None
            else processor(row[key] if key is not None else constant)
            for key, constant, processor in self.sources
        ]
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))


#: ``(id(statement), dialect, names)`` -> the statement (kept, so its id() is not reused
#: while cached) and its compiled form, or None where the fast path does not apply.
_cache: dict[tuple[int, str, tuple[str, ...]], tuple[Any, CompiledWrite | None]] = {}


def compiled(statement: Any, dialect: Dialect, row: Mapping[str, Any]) -> CompiledWrite | None:
    """``statement`` compiled for ``dialect`` and ``row``'s names; None if the fast path
    cannot run it exactly as SQLAlchemy would."""
    keys = tuple(sorted(row))
    cache_key = (id(statement), dialect.name, keys)
    entry = _cache.get(cache_key)
    if entry is not None and entry[0] is statement:
        return entry[1]
    if len(_cache) >= MAX_CACHED:
        _cache.clear()
    built = _compile(statement, dialect, row, keys)
    _cache[cache_key] = (statement, built)
    return built


def _compile(
    statement: Any, dialect: Dialect, row: Mapping[str, Any], keys: tuple[str, ...]
) -> CompiledWrite | None:
    if not hasattr(statement, "compile"):
        return None
    form = statement.compile(dialect=dialect, column_keys=list(keys))
    if form.insert_prefetch or form.update_prefetch:
        return None  # Python-side defaults: SQLAlchemy computes them per row
    if any(bind.key in row for bind in form.post_compile_params):
        return None  # an IN over the row's list: the SQL text depends on its length
    is_dml = form.isinsert or form.isupdate or form.isdelete
    returned = form.effective_returning if is_dml else statement.selected_columns
    if any(_converts_results(column.type, dialect) for column in returned or ()):
        return None  # the rows come back as the driver's tuples, unconverted
    expanded = form.construct_expanded_state({key: row[key] for key in keys})
    names = tuple(expanded.positiontup or ()) if form.positional else tuple(expanded.parameters)
    sources: list[Source] = []
    for name in names:
        bind = form.binds.get(name)
        processor = expanded.processors.get(name)
        if bind is not None:
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None and isinstance(bind.type, UtcDateTime):
                processor = _last_value_kept(processor)
            if bind.key in row:
                sources.append((bind.key, None, processor))
                continue
            if bind.callable is not None:
                return None
        sources.append((None, expanded.parameters[name], processor))
    escaped = form.escaped_bind_names
    if escaped:
        names = tuple(escaped.get(name, name) for name in names)
    return CompiledWrite(
        expanded.statement,
        bool(form.positional),
        names,
        tuple(sources),
        bool(returned),
    )


def _converts_results(type_: Any, dialect: Dialect) -> bool:
    """Whether SQLAlchemy converts this type's values as read (or decides only once it
    sees the column's type code, as psycopg's numbers do)."""
    try:
        return type_.dialect_impl(dialect).result_processor(dialect, None) is not None
    except (TypeError, KeyError):
        return True


def _last_value_kept(processor: Processor) -> Processor:
    """``processor`` remembering its last (immutable) datetime: a write binds the same
    ``now`` to several columns and rows, and SQLite's formatting costs ~3 µs each."""
    last: list[Any] = [object(), None]

    def process(value: Any) -> Any:
        seen, out = last
        if value is seen:
            return out
        out = processor(value)
        last[:] = value, out
        return out

    return process


def executemany(connection: Connection, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run ``statement`` once per row (``rows`` share their names), on the DBAPI cursor."""
    if not rows:
        return
    form = compiled(statement, connection.dialect, rows[0])
    if form is None or form.returns:
        connection.execute(statement, list(rows))
        return
    _run(connection, form, [form.bind(row) for row in rows], many=len(rows) > 1)


def execute(connection: Connection, statement: Any, row: Mapping[str, Any]) -> list[Any]:
    """Run ``statement`` with ``row`` on the DBAPI cursor; the rows it returns, as tuples."""
    form = compiled(statement, connection.dialect, row)
    if form is None:
        result = connection.execute(statement, dict(row))
        return [tuple(r) for r in result] if result.returns_rows else []
    return _run(connection, form, [form.bind(row)], many=False)


def _run(
    connection: Connection, form: CompiledWrite, parameters: list[Any], many: bool
) -> list[Any]:
    dispatch = connection.dispatch
    bound: Any = parameters if many else parameters[0]
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(connection, cursor, form.sql, bound, None, many)
        if many:
            cursor.executemany(form.sql, bound)
        else:
            cursor.execute(form.sql, bound)
        if dispatch.after_cursor_execute:
            dispatch.after_cursor_execute(connection, cursor, form.sql, bound, None, many)
        return cursor.fetchall() if form.returns else []
    except Exception as exc:
        # SQLAlchemy's own handling: wrapped as IntegrityError & co., a lost
        # connection invalidated, the handle_error events run
        connection._handle_dbapi_exception(exc, form.sql, bound, cursor, None)
    finally:
        cursor.close()
