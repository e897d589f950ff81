"""Suite-wide fixtures: strict plugin loading, and a PostgreSQL server for the store tests."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator

import pytest
import structlog
from sqlalchemy import create_engine, text

from tests.postgres_server import postgres_server

os.environ.setdefault("RELAYKIT_STRICT_PLUGINS", "1")

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the whole session (started here, stopped at the end)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the session's server, dropped afterwards."""
    name = f"relaykit_test_{os.getpid()}_{next(_databases)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The store's URL, once per supported database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/relaykit.db"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A test that configures logging in-process (every CLI command run through
    ``CliRunner`` does, at ``warning`` by default) leaves the next test's logging as
    it found it, so a later test's ``caplog`` still sees relaykit's info records."""
    configured = structlog.is_configured()
    saved = structlog.get_config() if configured else None
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    if saved is not None:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
