"""Cloud settings, validated at start-up; default secrets refused outside development."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud_api.core.data_keys import DEVELOPMENT_DATA_KEY_TEXT, DataKeyError, DataKeys, parse_key
from cloud_api.core.security_events import syslog_address
from cloud_api.nedb.contract import load_public_key as load_nedb_public_key
from cloud_api.push.endpoints import DEFAULT_PUSH_SERVICE_ORIGINS, Origin
from cloud_api.social_wallet.contract import load_public_key
from shared import wallet_qr

__all__ = ["DEFAULT_ADMIN_TOKENS", "CloudSettings", "SignInProvider"]

# Tokens that appear in docs and examples: fine on a laptop, never in production.
DEFAULT_ADMIN_TOKENS = frozenset({"", "change-me", "changethis", "admin", "secret", "development"})
MIN_ADMIN_TOKEN_CHARS = 16


class SignInProvider(BaseModel):
    """An outside OpenID Connect provider people may sign in with (eGov, a ministry's or an akimat's)."""

    issuer: str = Field(pattern=r"^https?://", description="The provider's issuer URL, as its discovery names it.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    label: str = Field(min_length=1, max_length=60, description='What the button says: "Sign in with {label}".')
    claim: str = Field(
        "email",
        description="The claim that names the account's login (email is taken only when email_verified is true).",
    )


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
    admin_token_enabled: bool = Field(
        True,
        description="Accept the admin token at all. Turn it off (false) once a deployment administrator with a "
        "second factor exists (mektep cloud admin-add --deployment): the cloud refuses to start otherwise, and "
        "production then needs no admin token.",
    )
    credential_key: SecretStr = Field(
        SecretStr(""),
        description="Key of the card-number hash, shared with the school's gateways (their site file's "
        f"credential_key); {MIN_ADMIN_TOKEN_CHARS}+ characters, not a default, outside development. "
        "Empty in development: assigning or replacing a card answers 503.",
    )
    data_key: SecretStr = Field(
        SecretStr(""),
        description="Key-encryption key of the personal data at rest (IINs, guardians' phones and e-mails, the "
        "deployment's private keys, gateway keys): 32+ random bytes in base64 (mektep cloud make-data-key prints "
        "one). Required outside development; empty in development: the published development key, which protects "
        "nothing. To rotate, put the new key here and the old one in data_key_previous, then mektep cloud rotate-key.",
    )
    data_key_previous: SecretStr = Field(
        SecretStr(""),
        description="Earlier data keys, comma-separated, still read (never written) while mektep cloud rotate-key "
        "re-encrypts what they wrote; empty once it has finished.",
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
    heartbeat_retention_hours: int = Field(
        24, gt=0, le=24 * 31, description="How long each gateway heartbeat is kept in the history (the last is always)."
    )
    password_hash_slots: int = Field(
        max(1, (os.cpu_count() or 2) - 1),
        ge=1,
        le=64,
        description="Password hashes (argon2id, 64 MiB each) this process runs at once; the rest wait their turn.",
    )
    sign_in_max_waiting: int = Field(
        64, ge=1, description="Sign-ins that may wait for a hash; beyond, 503 busy with Retry-After."
    )
    smtp_host: str | None = Field(
        None, description="SMTP server for reset codes and activation letters by e-mail; unset: no mail is sent."
    )
    smtp_port: int = Field(25, gt=0, lt=65536, description="The SMTP server's port.")
    smtp_sender: str | None = Field(None, description='The From address, e.g. "Mektep Gate <noreply@school.kz>".')
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS before sending.")
    smtp_user: str | None = Field(None, description="SMTP user name, if the server asks for one.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password, with smtp_user.")
    sign_in_providers: dict[str, SignInProvider] = Field(
        default_factory=dict,
        description="Outside OpenID Connect providers, name -> settings, as JSON: "
        '{"egov": {"issuer": "https://…", "client_id": "…", "client_secret": "…", "label": "eGov", '
        '"claim": "email"}}. Their buttons appear on the sign-in pages.',
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^/]+$",
        description="The address people reach the cloud at (https://mektep.example.kz), for links in letters and "
        "mail; unset: the address the request came to.",
    )
    alert_interval_s: float = Field(
        20.0,
        gt=0,
        le=60,
        description="How often the alert rules are evaluated (by one API process at a time): an alert opens "
        "at most this long after its rule's window.",
    )
    alert_emails: list[str] = Field(
        default_factory=list,
        description="Addresses told by e-mail, as JSON, when the database does not answer (besides the "
        "deployment's administrators last read from it): the one alert no row can record while it lasts.",
    )
    migrate_on_start: bool = Field(True, description="Run the Alembic migrations when the app starts.")
    push_workers: int = Field(
        4, ge=0, le=64, description="How hard this process pushes: 4 × this many notices in flight at once (0: none)."
    )
    vapid_subject: str = Field(
        "mailto:admin@mektep-gate.kz",
        pattern=r"^(mailto:|https:)",
        description="The contact push services see in the VAPID JWT (RFC 8292 'sub').",
    )
    push_poll_s: float = Field(
        0.5, gt=0, description="How often the push worker looks for notices queued by other API processes."
    )
    push_ttl_s: int = Field(3600, ge=0, description="How long a push service keeps a notice for an offline phone.")
    push_late_after_s: int = Field(
        120, ge=0, description="An event that reaches the cloud this much after it happened is announced as late."
    )
    push_service_origins: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PUSH_SERVICE_ORIGINS),
        description="Push services a device's subscription may point at, as JSON: origins scheme://host[:port], "
        "'https://*.example.com' for every subdomain. An endpoint of a listed origin is always accepted; in "
        "production no other is; in development another must be https and resolve to public addresses only. "
        "The default lists the browsers' services (FCM, Mozilla, Apple, Windows); a value replaces the whole "
        'list, so keep them when adding one: ["https://fcm.googleapis.com", …, "http://127.0.0.1:8443"].',
    )
    webhooks_enabled: bool = Field(
        True, description="Deliver the integration clients' webhooks from this process (its background worker)."
    )
    webhook_poll_s: float = Field(
        1.0, gt=0, description="How often the webhook worker looks for deliveries queued by other API processes."
    )
    webhook_concurrency: int = Field(
        16, ge=1, le=256, description="How many webhook subscriptions this process delivers to side by side."
    )
    report_receivers: dict[str, str] = Field(
        default_factory=dict,
        description='Where each school\'s monthly reports go, name -> base URL, as JSON: {"education_authority": '
        '"https://…", "school": "https://…"}. Empty: reports are issued but sent nowhere.',
    )
    report_region_receivers: dict[str, str] = Field(
        default_factory=dict,
        description="Where the regions' and the country's monthly sums go, name -> base URL, as JSON: "
        '{"ministry": "https://…"}. Empty: they are issued but sent nowhere.',
    )
    report_deadline_policy: Literal["fixed", "next_working_day"] = Field(
        "next_working_day", description="A deadline (the 5th) on a day off: stays, or moves to the next working day."
    )
    report_cutoff_day: int = Field(
        3, ge=1, le=5, description="Until this day a month's report waits for gateways not heard from since it ended."
    )
    report_language: Literal["kk", "ru"] = Field("kk", description="Language of the reports' XLSX and CSV headings.")
    report_scheduler: bool = Field(
        False,
        description="Run the report jobs in this process. Several processes may: an advisory lock lets one "
        "at a time do each run.",
    )
    social_wallet_url: str | None = Field(
        None,
        description="Base URL of the Social Wallet API (meal registrations, §33-2). Set: the app sends in the "
        "background; unset: records wait in the outbox.",
    )
    social_wallet_public_key: str | None = Field(
        None,
        description="The Wallet's Ed25519 public key (base64 of the raw 32 bytes, or PEM) that its receipts "
        "must verify under; required with social_wallet_url.",
    )
    social_wallet_qr_public_key: str | None = Field(
        None,
        description="The Wallet's Ed25519 public key (base64 of the raw 32 bytes) that its dynamic QR codes (a child's "
        "free-meal voucher in the parent's app) verify under; sent to the gateways with the roster. Unset: gateways "
        "refuse every Wallet code (qr_no_key), and cards work as ever.",
    )
    social_wallet_interval_s: float = Field(
        30.0, gt=0, description="Seconds between Social Wallet rounds when the outbox has been emptied."
    )
    nedb_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Base URL of the National Education Database's exchange (§15: the roster pulled, the figures "
        "sent back). Set: the schools that opted in (mektep cloud nedb-enable) are pulled and send figures in the "
        "background; unset: every school keeps the file import.",
    )
    nedb_client_id: str = Field(
        "mektep-gate", min_length=1, max_length=64, description="Our client id at the NEDB (X-NEDB-Client)."
    )
    nedb_key: SecretStr = Field(
        SecretStr(""),
        description=f"The key our requests to the NEDB are signed with (HMAC-SHA256), as agreed with its operator; "
        f"{MIN_ADMIN_TOKEN_CHARS}+ characters, not a default, outside development. Required with nedb_url.",
    )
    nedb_public_key: str | None = Field(
        None,
        description="The NEDB's Ed25519 public key (base64 of the raw 32 bytes, or PEM) its answers must verify "
        "under; an answer that does not is not processed. Required with nedb_url.",
    )
    nedb_pull_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60, description="How often each opted-in school's roster delta is pulled, in minutes."
    )
    nedb_daily_figures: bool = Field(
        True, description="Send each day's figures the next morning too, besides the month's after it closes."
    )
    nedb_timeout_s: float = Field(30.0, gt=0, le=300, description="Timeout of each request to the NEDB, in seconds.")

    security_log: Path | None = Field(
        None,
        description="File the security events (Order No. 456 §5.20) are appended to, one JSON object a line, for a "
        "SIEM to collect (failed sign-ins and bursts, refused packets, admin-token uses, role grants, "
        "second-factor resets, exports of personal data); its directory must exist. Unset: no file.",
    )
    security_syslog: str | None = Field(
        None,
        description='Also send each security event to syslog: "udp://host:514", "tcp://host:514" or a unix socket '
        'path such as "/dev/log" (RFC 5424, the JSON as the message). Unset: no syslog.',
    )
    security_syslog_facility: Literal[
        "auth", "authpriv", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"
    ] = Field("authpriv", description="The syslog facility of the security events.")

    @field_validator("push_service_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            Origin.parse(origin)  # a typo fails at start-up, not at a parent's first subscription
        return value

    @field_validator("security_syslog")
    @classmethod
    def _syslog(cls, value: str | None) -> str | None:
        if value:
            syslog_address(value)  # a typo fails at start-up, not at the first event
        return value or None

    @model_validator(mode="after")
    def _no_default_secrets_outside_development(self) -> CloudSettings:
        if self.smtp_host and not self.public_url:
            # A mailed link built from a request's Host header could point at anybody's site.
            raise ValueError("MEKTEP_CLOUD_PUBLIC_URL is required with MEKTEP_CLOUD_SMTP_HOST: mailed links use it")
        if self.social_wallet_url and not self.social_wallet_public_key:
            raise ValueError("MEKTEP_CLOUD_SOCIAL_WALLET_PUBLIC_KEY is required with MEKTEP_CLOUD_SOCIAL_WALLET_URL")
        if self.social_wallet_public_key:
            load_public_key(self.social_wallet_public_key)  # a bad key fails at start-up, not at the first receipt
        if self.social_wallet_qr_public_key:
            wallet_qr.load_public_key(self.social_wallet_qr_public_key)  # at start-up, not at a gateway's pull
        if self.nedb_url and (not self.nedb_public_key or not self.nedb_key.get_secret_value()):
            raise ValueError(
                "MEKTEP_CLOUD_NEDB_KEY and MEKTEP_CLOUD_NEDB_PUBLIC_KEY are required with MEKTEP_CLOUD_NEDB_URL"
            )
        if self.nedb_public_key:
            load_nedb_public_key(self.nedb_public_key)  # a bad key fails at start-up, not at the first answer
        if self.environment == "development":
            self._check_data_keys()
            return self
        secrets = [("ADMIN_TOKEN", self.admin_token)] if self.admin_token_enabled else []
        secrets.append(("CREDENTIAL_KEY", self.credential_key))
        if self.nedb_url:
            secrets.append(("NEDB_KEY", self.nedb_key))
        for name, secret in secrets:
            value = secret.get_secret_value()
            if value.lower() in DEFAULT_ADMIN_TOKENS or len(value) < MIN_ADMIN_TOKEN_CHARS:
                raise ValueError(
                    f"MEKTEP_CLOUD_{name} must be set to a non-default value of {MIN_ADMIN_TOKEN_CHARS}+ "
                    f"characters when MEKTEP_CLOUD_ENVIRONMENT={self.environment}"
                )
        self._check_data_keys()
        return self

    def _check_data_keys(self) -> None:
        current = self.data_key.get_secret_value().strip()
        if not current and self.environment != "development":
            raise ValueError(
                f"MEKTEP_CLOUD_DATA_KEY is required when MEKTEP_CLOUD_ENVIRONMENT={self.environment}: "
                "32+ random bytes in base64 (mektep cloud make-data-key prints one)"
            )
        if current == DEVELOPMENT_DATA_KEY_TEXT and self.environment != "development":
            raise ValueError("MEKTEP_CLOUD_DATA_KEY is the published development key: make one of your own")
        for name, text in [("DATA_KEY", current), *(("DATA_KEY_PREVIOUS", k) for k in self._previous_texts())]:
            if text:
                try:
                    parse_key(text)
                except DataKeyError as exc:
                    raise ValueError(f"MEKTEP_CLOUD_{name}: {exc}") from None

    def _previous_texts(self) -> list[str]:
        return [k.strip() for k in self.data_key_previous.get_secret_value().split(",") if k.strip()]

    def data_keys(self) -> DataKeys:
        """The keys the database's personal data is read with: data_key writes, all of them read."""
        current = self.data_key.get_secret_value().strip()
        previous = [parse_key(k) for k in self._previous_texts()]
        if not current:
            return DataKeys(parse_key(DEVELOPMENT_DATA_KEY_TEXT), previous, development=True)
        return DataKeys(parse_key(current), previous, development=self.environment == "development")
