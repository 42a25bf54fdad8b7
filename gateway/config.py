"""The site file: one YAML file per school, validated by pydantic, errors named by file and line.

A site file says which school and gateway this is, where the cloud is, which readers hang on
which serial ports and which canteen terminals talk over MQTT. Secrets are never written in it:
they are *referenced* (``{env: NAME}`` or ``{file: path}``) and resolved at start-up.

    load_site(path) -> SiteConfig        # raises ConfigError listing every problem
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from device_drivers.base import Direction

__all__ = [
    "CloudConfig",
    "ConfigError",
    "ConfigProblem",
    "GatewayConfig",
    "MqttConfig",
    "ReaderConfig",
    "SchoolConfig",
    "SecretRef",
    "SerialFraming",
    "SiteConfig",
    "TerminalConfig",
    "load_site",
    "parse_site",
]

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file (first line, stripped)."""

    env: str | None = None
    file: Path | None = None

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
    data_dir: Path = Path("var/gateway")
    ui_port: int = Field(default=8080, ge=0, le=65535)


class CloudConfig(_Strict):
    url: HttpUrl
    batch_size: int = Field(default=500, ge=1, le=1000)
    timeout_s: float = Field(default=10.0, gt=0)
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)


class MqttConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretRef | None = None
    client_id: str | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)


class SerialFraming(StrEnum):
    EM4100 = "em4100"


class ReaderConfig(_Strict):
    """A card reader on a serial port, at one side of a turnstile."""

    id: Identifier
    framing: SerialFraming
    port: str = Field(min_length=1)
    baud: int = Field(default=9600, gt=0)
    direction: Direction
    repeat_suppress_s: float = Field(
        default=1.5, ge=0, description="A card held on the reader repeats its frame; ignore repeats this long."
    )


class TerminalConfig(_Strict):
    """A canteen terminal that talks to the gateway over MQTT."""

    id: Identifier
    place: str = Field(default="canteen", max_length=64)


class SiteConfig(_Strict):
    """Everything the gateway of one school needs to run."""

    school: SchoolConfig
    gateway: GatewayConfig
    cloud: CloudConfig
    mqtt: MqttConfig | None = None
    readers: list[ReaderConfig] = Field(default_factory=list)
    terminals: list[TerminalConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_device_ids(self) -> SiteConfig:
        seen: set[str] = set()
        for device in [*self.readers, *self.terminals]:
            if device.id in seen:
                raise ValueError(f"device id {device.id!r} is used twice")
            seen.add(device.id)
        if self.terminals and self.mqtt is None:
            raise ValueError("terminals need an 'mqtt' section")
        return self

    def device_ids(self) -> set[str]:
        """The ids of every reader and terminal of the site."""
        return {d.id for d in [*self.readers, *self.terminals]}


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a site file."""

    file: str | None
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.field}: {self.message}"


class ConfigError(Exception):
    """A site file (or a secret it references) is not usable; lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "file", exc.strerror or str(exc))]) from exc
    return parse_site(text, str(path))


def parse_site(text: str, filename: str = "<config>") -> SiteConfig:
    """Validate site YAML text; every error names the file, line and dotted field path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigProblem(filename, line, "yaml", str(exc.problem or exc))]) from exc
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(filename, 1, "<root>", "a site file is a mapping")])
    lines = _line_index(node) if node is not None else {}
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(ConfigProblem(filename, _line_of(lines, loc), _dotted(loc), err["msg"]))
        raise ConfigError(problems) from exc


def _line_index(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every key path in the YAML document to its 1-based line number."""
    index = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            index[(*path, key.value)] = key.start_mark.line + 1
            index.update({k: v for k, v in _line_index(value, (*path, key.value)).items() if k != (*path, key.value)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.update(_line_index(item, (*path, i)))
    return index


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    # pydantic reports the deepest location; a missing field is reported under its parent.
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "<root>"
