"""What every group of settings shares: the ``CITYBRAIN_`` prefix, the ``.env`` file, and errors
that name a setting without repeating its value (keys, database passwords)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Part(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITYBRAIN_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )
