"""Running the Alembic migrations shipped inside the package."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

__all__ = ["upgrade"]


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("relaykit.store") / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database at ``engine`` up to ``revision`` (default: the latest)."""
    command.upgrade(_config(engine), revision)
