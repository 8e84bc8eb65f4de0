"""Settings as a test process would read them."""

from __future__ import annotations

from bot import settings


def config_for(database_url: str, env: dict) -> settings.Settings:
    """The settings a process would read from ``env``, on ``database_url``."""
    return settings.load({**env, "DATABASE_URL": database_url})
