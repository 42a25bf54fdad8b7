"""Cloud settings, validated at start-up; default secrets refused outside development."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_ADMIN_TOKENS", "CloudSettings"]

# Tokens that appear in docs and examples: fine on a laptop, never in production.
DEFAULT_ADMIN_TOKENS = frozenset({"", "change-me", "changethis", "admin", "secret", "development"})
MIN_ADMIN_TOKEN_CHARS = 16


class CloudSettings(BaseSettings):
    """Everything the cloud API reads from its environment (prefix ``MEKTEP_CLOUD_``).

    Example: ``MEKTEP_CLOUD_DATABASE_URL=postgresql+psycopg://mektep@db/mektep``.
    """

    model_config = SettingsConfigDict(env_prefix="MEKTEP_CLOUD_", extra="ignore")

    database_url: str = Field(
        "sqlite:///var/cloud/cloud.db",
        description="SQLAlchemy URL: SQLite (embedded, its directory is created) or "
        "postgresql+psycopg://user@host/db in production.",
    )
    environment: Literal["development", "production"] = Field(
        "development", description="'production' refuses default or short secrets at start-up."
    )
    admin_token: SecretStr = Field(
        SecretStr(""),
        description=f"Bearer token of the admin read API; {MIN_ADMIN_TOKEN_CHARS}+ characters, "
        "not a default, outside development. Empty in development: the admin API answers 401.",
    )
    credential_key: SecretStr = Field(
        SecretStr(""),
        description="Key of the card-number hash, shared with the school's gateways (their site file's "
        f"credential_key); {MIN_ADMIN_TOKEN_CHARS}+ characters, not a default, outside development. "
        "Empty in development: assigning or replacing a card answers 503.",
    )
    max_batch_bytes: int = Field(4 * 1024 * 1024, gt=0, description="Largest ingest body accepted (413 above).")
    max_roster_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="Largest roster upload (CSV or XLSX) accepted (413 above)."
    )
    signature_max_skew_s: int = Field(
        300, gt=0, description="How far a signature's timestamp may be from the cloud's clock, in seconds."
    )
    packet_retention_days: int = Field(
        400, gt=0, description="How long the packet journal keeps each received batch (mektep cloud prune-journal)."
    )
    migrate_on_start: bool = Field(True, description="Run the Alembic migrations when the app starts.")

    @model_validator(mode="after")
    def _no_default_secrets_outside_development(self) -> CloudSettings:
        if self.environment == "development":
            return self
        for name, secret in (("ADMIN_TOKEN", self.admin_token), ("CREDENTIAL_KEY", self.credential_key)):
            value = secret.get_secret_value()
            if value.lower() in DEFAULT_ADMIN_TOKENS or len(value) < MIN_ADMIN_TOKEN_CHARS:
                raise ValueError(
                    f"MEKTEP_CLOUD_{name} must be set to a non-default value of {MIN_ADMIN_TOKEN_CHARS}+ "
                    f"characters when MEKTEP_CLOUD_ENVIRONMENT={self.environment}"
                )
        return self
