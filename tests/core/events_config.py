"""Configs for the tests of events declared in relaykit.toml: an outbox tenant, and what the
settings make of a config file (its event catalog, or its error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit.errors import ConfigError
from relaykit.settings import load_settings
from relaykit.templates import TemplateCatalog


def tenant(tmp_path: Path, name: str = "north-high", route: str = "") -> str:
    """An outbox tenant with instances sms and mail; ``route`` adds route tables."""
    (tmp_path / name).mkdir(exist_ok=True)
    return (
        f'[tenants.{name}.instances.sms]\nconnector = "outbox"\n'
        f'[tenants.{name}.instances.sms.settings]\ndirectory = "{tmp_path / name}"\n'
        'signing_secret = "s3cret-s3cret-s3cret"\n'
        f'[tenants.{name}.instances.mail]\nconnector = "outbox"\n'
        f'[tenants.{name}.instances.mail.settings]\ndirectory = "{tmp_path / name}"\n'
        'signing_secret = "s3cret-s3cret-s3cret"\n' + route
    )


def catalog_of(path: Path) -> TemplateCatalog:
    """The event catalog the settings of ``path`` declare."""
    return TemplateCatalog(declared=load_settings(path).declared_events())


def config_error(path: Path) -> str:
    """The message of the :class:`ConfigError` that loading ``path`` raises."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return str(caught.value)
