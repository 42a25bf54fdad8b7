"""Settings validate themselves at start-up and refuse default secrets outside development."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from cloud_api.core.data_keys import DEVELOPMENT_DATA_KEY_TEXT, make_data_key
from cloud_api.push.endpoints import DEFAULT_PUSH_SERVICE_ORIGINS
from cloud_api.settings import CloudSettings


def test_defaults_work_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "ENVIRONMENT", "ADMIN_TOKEN", "CREDENTIAL_KEY"):
        monkeypatch.delenv(f"MEKTEP_CLOUD_{name}", raising=False)
    settings = CloudSettings()
    assert settings.database_url == "sqlite:///var/cloud/cloud.db"
    assert (settings.max_batch_bytes, settings.signature_max_skew_s, settings.packet_retention_days) == (
        4 * 1024 * 1024,
        300,
        400,
    )


REAL_KEY = "9b1e77c04d2f4a6e8c3d"
REAL_DATA_KEY = make_data_key()


@pytest.mark.parametrize("token", ["", "change-me", "CHANGETHIS", "short-token"])
def test_production_refuses_a_default_or_short_admin_token(token: str) -> None:
    with pytest.raises(ValidationError, match="MEKTEP_CLOUD_ADMIN_TOKEN"):
        CloudSettings(environment="production", admin_token=token, credential_key=REAL_KEY)


@pytest.mark.parametrize("key", ["", "secret", "DEVELOPMENT", "short-key"])
def test_production_refuses_a_default_or_short_credential_key(key: str) -> None:
    with pytest.raises(ValidationError, match="MEKTEP_CLOUD_CREDENTIAL_KEY"):
        CloudSettings(environment="production", admin_token="f3a9c1e07b5d4e2a9c8b", credential_key=key)


def test_production_takes_a_real_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEKTEP_CLOUD_ENVIRONMENT", "production")
    monkeypatch.setenv("MEKTEP_CLOUD_ADMIN_TOKEN", "f3a9c1e07b5d4e2a9c8b")
    monkeypatch.setenv("MEKTEP_CLOUD_CREDENTIAL_KEY", REAL_KEY)
    monkeypatch.setenv("MEKTEP_CLOUD_DATA_KEY", REAL_DATA_KEY)
    monkeypatch.setenv("MEKTEP_CLOUD_MAX_BATCH_BYTES", "1024")
    settings = CloudSettings()
    assert settings.environment == "production" and settings.max_batch_bytes == 1024
    assert settings.credential_key.get_secret_value() == REAL_KEY
    assert "f3a9" not in repr(settings) and REAL_KEY not in repr(settings)  # a SecretStr never prints


def test_push_services_default_to_the_browsers_and_a_mistyped_origin_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MEKTEP_CLOUD_PUSH_SERVICE_ORIGINS", raising=False)
    assert CloudSettings().push_service_origins == list(DEFAULT_PUSH_SERVICE_ORIGINS)
    assert "https://*.notify.windows.com" in DEFAULT_PUSH_SERVICE_ORIGINS
    monkeypatch.setenv("MEKTEP_CLOUD_PUSH_SERVICE_ORIGINS", '["https://fcm.googleapis.com", "http://127.0.0.1:8443"]')
    assert CloudSettings().push_service_origins == ["https://fcm.googleapis.com", "http://127.0.0.1:8443"]
    for mistyped in ("fcm.googleapis.com", "https://fcm.googleapis.com/fcm/send", "https://*.com", "ftp://push.kz"):
        with pytest.raises(ValidationError, match="push_service_origins"):
            CloudSettings(push_service_origins=[mistyped])


def test_every_setting_is_documented() -> None:
    for name, field in CloudSettings.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize(
    ("data_key", "says"),
    [
        ("", "DATA_KEY is required"),
        (DEVELOPMENT_DATA_KEY_TEXT, "published development key"),
        (base64.b64encode(b"0123456789abcdef").decode(), "has 16"),  # 16 bytes: too short
        (base64.b64encode(b"k" * 40).decode(), "random bytes"),
        ("not base64 at all!", "base64"),
    ],
)
def test_production_refuses_a_missing_short_or_development_data_key(data_key: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        CloudSettings(
            environment="production", admin_token="f3a9c1e07b5d4e2a9c8b", credential_key=REAL_KEY, data_key=data_key
        )


def test_development_gets_the_labelled_development_key_and_a_rotation_reads_both() -> None:
    assert CloudSettings().data_keys().development
    old, new = make_data_key(), make_data_key()
    keys = CloudSettings(
        environment="production",
        admin_token="f3a9c1e07b5d4e2a9c8b",
        credential_key=REAL_KEY,
        data_key=new,
        data_key_previous=old,
    ).data_keys()
    assert not keys.development and len(keys.ids) == 2 and keys.ids[0] == keys.current.id
    assert len(set(keys.indexes("iin", "070101500123"))) == 2  # a lookup asks for the index under each key
