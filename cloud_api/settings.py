"""Cloud settings, validated at start-up; default secrets refused outside development."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CloudSettings"]


class CloudSettings(BaseSettings):
    """Everything the cloud API reads from its environment (prefix ``MEKTEP_CLOUD_``)."""

    model_config = SettingsConfigDict(env_prefix="MEKTEP_CLOUD_", extra="ignore")

    database_url: str = "sqlite:///var/cloud/cloud.db"
    environment: Literal["development", "production"] = "development"
    admin_token: SecretStr = SecretStr("")
    max_batch_bytes: int = 4 * 1024 * 1024
    signature_max_skew_s: int = 300
    migrate_on_start: bool = True

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> CloudSettings:
        if self.environment == "production" and len(self.admin_token.get_secret_value()) < 16:
            raise ValueError("MEKTEP_CLOUD_ADMIN_TOKEN must be set (16+ characters) in production")
        return self
