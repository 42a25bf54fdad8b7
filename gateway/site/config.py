"""The site file: one YAML file per school, validated by pydantic, errors named by file and line.

A site file says which school and gateway this is, where the cloud is, which readers hang on
which serial ports, which relay boards open which turnstiles and which canteen terminals talk over
MQTT. Secrets are never written in it: they are *referenced* (``{env: NAME}`` or ``{file: path}``)
and resolved at start-up.

A reader or relay board may name its ``model:``, a device profile (:mod:`gateway.site.profiles`) whose
settings are its defaults; what the site file says itself wins. A reader that opens a turnstile
through a separate relay board names the board (``relay: <id>``).

    load_site(path) -> SiteConfig        # raises ConfigError listing every problem
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, HttpUrl, TypeAdapter, ValidationInfo, field_validator, model_validator

from device_drivers.base import Direction
from gateway.site.files import ConfigError, ConfigProblem, StrictModel, parse_yaml, read_text
from gateway.site.profiles import (
    Profiles,
    ReaderSettings,
    RelaySettings,
    SerialFraming,
    default_profiles_dir,
    load_profiles,
)
from shared.contract import Identifier

__all__ = [
    "CloudConfig",
    "ConfigError",
    "ConfigProblem",
    "GatewayConfig",
    "MqttConfig",
    "MqttTlsConfig",
    "OsdpBusConfig",
    "OsdpReaderConfig",
    "ReaderConfig",
    "RelayBoardConfig",
    "SchoolConfig",
    "SecretRef",
    "SerialFraming",
    "SiteConfig",
    "StorageConfig",
    "TerminalConfig",
    "load_site",
    "parse_site",
]

_Strict = StrictModel


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file (first line, stripped)."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _referenced(cls, data: Any) -> Any:
        if not isinstance(data, dict | SecretRef):
            raise ValueError("a secret is never written in the file: reference it, {env: NAME} or {file: PATH}")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def resolve(self) -> str:
        """Read the secret now. Raises ``ConfigError`` naming the variable or file if absent."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError([ConfigProblem(None, None, "secret", f"environment variable {self.env} is not set")])
            return value
        assert self.file is not None
        try:
            return self.file.read_text().strip()
        except OSError as exc:
            raise ConfigError([ConfigProblem(str(self.file), None, "secret", str(exc))]) from exc


class SchoolConfig(_Strict):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    timezone: Literal["Asia/Almaty"] = "Asia/Almaty"
    language: Literal["kk", "ru", "en"] = Field(default="kk", description="Language of reader displays.")


class GatewayConfig(_Strict):
    id: Identifier
    key: SecretRef = Field(description="HMAC key shared with the cloud for signing batches.")
    credential_key: SecretRef = Field(description="Key of the card-number hash (shared with the cloud).")
    data_dir: Path = Field(
        default=Path("var/gateway"),
        description="Outbox, roster and journal (SQLite): made 0700, refused when other users may read it.",
    )
    ui_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        max_length=255,
        description="Address the local pages listen on; any but loopback (e.g. 0.0.0.0) makes staff sign in.",
    )
    ui_port: int = Field(default=8080, ge=0, le=65535)
    environment: Literal["development", "production"] = Field(
        default="development", description="In production the cloud's url must be https."
    )


class CloudConfig(_Strict):
    url: HttpUrl
    batch_size: int = Field(default=500, ge=1, le=1000)
    timeout_s: float = Field(default=10.0, gt=0)
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    sync_interval_s: float = Field(
        default=20.0, gt=0, description="How often the roster is pulled: a change reaches the gateway within this."
    )
    heartbeat_interval_s: float = Field(
        default=60.0, gt=0, description="How often the gateway sends the cloud its signed heartbeat (its health)."
    )


class StorageConfig(_Strict):
    """How the gateway keeps its disk from filling (see :mod:`gateway.disk`)."""

    retention_days: int = Field(
        default=30, ge=1, le=3650, description="Delivered events, sent batches and unused photos are kept this long."
    )
    reserve_mib: float = Field(
        default=64, ge=0, description="Disk held back for taps and released when free space falls under the floor."
    )
    floor_mib: float = Field(
        default=256, ge=0, description="Free space under which photos and old history stop and the reserve is released."
    )
    check_interval_s: float = Field(default=10.0, gt=0, description="How often free space is measured.")


class MqttTlsConfig(_Strict):
    """A TLS listener of the school's broker, for terminals on the school network.

    Used by ``mektep config mosquitto``; the gateway itself, on the broker's machine, keeps to the
    plain listener on ``port``.
    """

    port: int = Field(default=8883, ge=1, le=65535)
    certfile: Path = Field(description="The broker's certificate (PEM).")
    keyfile: Path = Field(description="Its private key (PEM), readable by the broker's user only.")
    cafile: Path | None = Field(default=None, description="CA of client certificates, when terminals present one.")
    require_certificate: bool = False

    @model_validator(mode="after")
    def _ca_for_client_certificates(self) -> MqttTlsConfig:
        if self.require_certificate and self.cafile is None:
            raise ValueError("require_certificate needs a 'cafile' to check client certificates against")
        return self


class MqttConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretRef | None = None
    client_id: str | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    tls: MqttTlsConfig | None = None


class _Profiled(StrictModel):
    """A device that may name its model: the model's profile gives the defaults, the site file wins."""

    profile_kind: ClassVar[str]
    model: Identifier | None = Field(
        default=None, description="A profile in the profiles directory (file name without .yaml)."
    )

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            return {**_profiles(info).defaults(data["model"], cls.profile_kind), **data}
        return data

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str | None, info: ValidationInfo) -> str | None:
        if model is not None:
            _profiles(info).check(model, cls.profile_kind)
        return model


def _profiles(info: ValidationInfo) -> Profiles:
    context = info.context or {}
    return context.get("profiles") or Profiles()


class ReaderConfig(_Profiled, ReaderSettings):
    """A card reader (or QR scanner) on a serial port, at one side of a turnstile."""

    profile_kind = "reader"
    id: Identifier
    port: str = Field(min_length=1)
    direction: Direction
    relay: Identifier | None = Field(default=None, description="The relay board that opens this reader's turnstile.")

    @model_validator(mode="after")
    def _has_framing(self) -> ReaderConfig:
        if self.framing is None:
            raise ValueError("give the reader's 'framing' or a 'model' whose profile has one")
        return self


class RelayBoardConfig(_Profiled, RelaySettings):
    """A turnstile's relay board on a serial port: readers naming it open the turnstile through it."""

    profile_kind = "relay"
    id: Identifier
    port: str = Field(min_length=1)

    @model_validator(mode="after")
    def _has_commands(self) -> RelayBoardConfig:
        if self.entry is None or self.exit is None:
            raise ValueError("give the board's 'entry' and 'exit' commands or a 'model' whose profile has them")
        return self


class OsdpReaderConfig(_Strict):
    """An OSDP reader (PD) on an RS-485 bus, at one side of a turnstile."""

    id: Identifier
    address: int = Field(ge=0, le=126, description="The reader's OSDP address on its bus (127 is broadcast).")
    direction: Direction
    scbk: SecretRef = Field(description="The reader's secure-channel base key: 32 hex characters (16 bytes).")
    install_mode: bool = Field(
        default=False, description="Let a factory-fresh reader take our SCBK; the secure channel is not enforced."
    )
    entry_output: int = Field(default=0, ge=0, le=255, description="Output that releases the turnstile inwards.")
    exit_output: int = Field(default=1, ge=0, le=255, description="Output that releases the turnstile outwards.")
    pulse_ms: int = Field(default=3000, ge=100, le=25_500, description="How long a release output stays on.")
    led_ms: int = Field(default=1500, ge=100, le=25_500, description="How long the green or red LED shows.")

    def resolve_scbk(self) -> bytes:
        """Read the SCBK now; ``ConfigError`` if it is absent or not 32 hex characters."""
        text = self.scbk.resolve()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 16:  # never echo the secret, even a wrong one
            raise ConfigError([ConfigProblem(None, None, f"{self.id}.scbk", "an SCBK is 32 hex characters (16 bytes)")])
        return key


class OsdpBusConfig(_Strict):
    """An RS-485 bus (one serial port) with OSDP readers on it."""

    id: Identifier
    port: str = Field(min_length=1)
    baud: Literal[9600, 19200, 38400, 57600, 115200, 230400] = 115200
    readers: list[OsdpReaderConfig] = Field(min_length=1, max_length=126)

    @model_validator(mode="after")
    def _unique_addresses(self) -> OsdpBusConfig:
        seen: set[int] = set()
        for reader in self.readers:
            if reader.address in seen:
                raise ValueError(f"address {reader.address} is used twice on bus {self.id!r}")
            seen.add(reader.address)
        return self


class TerminalConfig(_Strict):
    """A canteen terminal that talks to the gateway over MQTT."""

    id: Identifier
    place: str = Field(default="canteen", max_length=64)
    password: SecretRef | None = Field(
        default=None, description="Its MQTT password (its user name is its id); `mektep config mosquitto` needs it."
    )


class SiteConfig(_Strict):
    """Everything the gateway of one school needs to run."""

    school: SchoolConfig
    gateway: GatewayConfig
    cloud: CloudConfig
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mqtt: MqttConfig | None = None
    readers: list[ReaderConfig] = Field(default_factory=list)
    terminals: list[TerminalConfig] = Field(default_factory=list)
    relays: list[RelayBoardConfig] = Field(default_factory=list)
    osdp_buses: list[OsdpBusConfig] = Field(default_factory=list)

    def _osdp_devices(self) -> list[OsdpBusConfig | OsdpReaderConfig]:
        return [*self.osdp_buses, *(r for bus in self.osdp_buses for r in bus.readers)]

    @model_validator(mode="after")
    def _unique_device_ids(self) -> SiteConfig:
        seen: set[str] = set()
        for device in [*self.readers, *self.terminals, *self.relays, *self._osdp_devices()]:
            if device.id in seen:
                raise ValueError(f"device id {device.id!r} is used twice")
            seen.add(device.id)
        if self.terminals and self.mqtt is None:
            raise ValueError("terminals need an 'mqtt' section")
        return self

    def device_ids(self) -> set[str]:
        """The ids of every reader, terminal and relay board of the site (and of each OSDP bus)."""
        return {d.id for d in [*self.readers, *self.terminals, *self.relays, *self._osdp_devices()]}

    def insecure_links(self) -> list[tuple[tuple[str | int, ...], str]]:
        """In production, a cloud reached over plain http: (location, message)."""
        if self.gateway.environment == "production" and self.cloud.url.scheme != "https":
            return [(("cloud", "url"), "in production the cloud is reached over https (gateway.environment)")]
        return []

    def dangling_relays(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Readers naming a relay board the site does not have: (location, message) each."""
        boards = {b.id for b in self.relays}
        return [
            (("readers", i, "relay"), f"no relay board {r.relay!r} in 'relays'")
            for i, r in enumerate(self.readers)
            if r.relay is not None and r.relay not in boards
        ]


def load_site(path: str | Path, profiles_dir: str | Path | None = None) -> SiteConfig:
    """Read and validate a site file with the device profiles of ``profiles_dir``.

    ``profiles_dir`` defaults to ``../profiles`` beside the site file's directory
    (:func:`gateway.site.profiles.default_profiles_dir`); a directory that does not exist has no models.
    """
    path = Path(path)
    text = read_text(path)
    profiles = load_profiles(default_profiles_dir(path) if profiles_dir is None else profiles_dir)
    return parse_site(text, str(path), profiles)


def parse_site(text: str, filename: str = "<config>", profiles: Profiles | None = None) -> SiteConfig:
    """Validate site YAML text; every error names the file, line and dotted field path."""
    doc = parse_yaml(text, filename)
    site = doc.validate(_SITE, context={"profiles": profiles or Profiles()})
    problems = [doc.problem(loc, message) for loc, message in [*site.dangling_relays(), *site.insecure_links()]]
    if problems:
        raise ConfigError(problems)
    return site


_SITE = TypeAdapter(SiteConfig)
