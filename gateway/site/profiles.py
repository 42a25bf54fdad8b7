"""Device profiles: one YAML file per reader or relay board *model*, its settings as data.

A site file's reader or relay board names its ``model:``; the profile's settings become that
device's defaults and a value written in the site file wins. A new reader model is one more file
in ``firmware_configs/profiles/``, not new code. The file name without ``.yaml`` is the model's
name. Two kinds of profile::

    kind: reader                            kind: relay
    description: …                          description: …
    framing: em4100 | wiegand | qr          entry: "OPEN IN\\r\\n"     (sent as Latin-1)
    baud, bytesize, parity, stopbits        exit: "OPEN OUT\\r\\n"
    repeat_suppress_s                       ack: "OK"  (null: the board answers nothing)
    grant_line, deny_line ("" = none)       error_prefix: "ERR"
    max_length (qr scanners)                ack_timeout_s; baud, bytesize, parity, stopbits

The settings classes here (:class:`ReaderSettings`, :class:`RelaySettings`) are shared with the
site file's devices, so a profile can only say what a site file could say itself.

    load_profiles(directory) -> Profiles     # ConfigError naming file, line and field
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, TypeAdapter

from gateway.site.files import ConfigError, ConfigProblem, StrictModel, parse_yaml, read_text
from shared.contract import Identifier  # a device's id travels in every event: the contract's identifiers

__all__ = [
    "PROFILE_KINDS",
    "Profile",
    "Profiles",
    "ReaderProfile",
    "ReaderSettings",
    "RelayProfile",
    "RelaySettings",
    "SerialFraming",
    "SerialSettings",
    "default_profiles_dir",
    "load_profiles",
    "profile_schema",
]

_TEMPLATE_FIELDS = ("direction", "reason", "ref")


def _line_template(value: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a line template: {exc}") from exc
    unknown = names - set(_TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(f"unknown placeholder {sorted(unknown)}; the placeholders: {{direction}}, {{reason}}, {{ref}}")
    try:  # a bad format spec or conversion (``{ref:d}``, ``{ref!x}``) must fail here, not at a turnstile
        value.format(**dict.fromkeys(_TEMPLATE_FIELDS, "x"))
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"not a line template: {exc}") from exc
    return value


def _latin1(value: str) -> str:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"a relay command is bytes: characters \\x00-\\xff only ({exc.reason})") from exc
    return value


LineTemplate = Annotated[
    str,
    AfterValidator(_line_template),
    Field(description="A line written to the reader's controller, with {direction}, {reason}, {ref}; '' for none."),
]
RelayCommand = Annotated[
    str,
    Field(min_length=1, max_length=64, description="Sent as is, as Latin-1 (escapes like \\xA0 for binary boards)."),
    AfterValidator(_latin1),
]


class SerialFraming(StrEnum):
    """The protocol on a reader's serial line (each has a driver in ``device_drivers``)."""

    EM4100 = "em4100"
    WIEGAND = "wiegand"
    QR = "qr"


class SerialSettings(StrictModel):
    """How the serial line is set up."""

    baud: int = Field(default=9600, gt=0, le=4_000_000, description="Bits per second.")
    bytesize: Literal[5, 6, 7, 8] = Field(default=8, description="Data bits.")
    parity: Literal["N", "E", "O", "M", "S"] = Field(default="N", description="None, even, odd, mark, space.")
    stopbits: Literal[1, 1.5, 2] = Field(default=1, description="Stop bits.")


class ReaderSettings(SerialSettings):
    """What a reader model says about itself (and a site file may override)."""

    framing: SerialFraming | None = Field(default=None, description="The protocol (given here or by the model).")
    repeat_suppress_s: float = Field(
        default=1.5, ge=0, description="A card held on the reader repeats its frame; ignore repeats this long."
    )
    grant_line: LineTemplate | None = Field(default=None, description="Line for a grant (default GRANT …).")
    deny_line: LineTemplate | None = Field(default=None, description="Line for a denial (default DENY …).")
    max_length: int = Field(default=512, ge=1, le=4096, description="Longest code a QR scanner may send, in bytes.")


class RelaySettings(SerialSettings):
    """What a relay board model says about itself (and a site file may override)."""

    entry: RelayCommand | None = Field(default=None, description="Command: open for one person going in.")
    exit: RelayCommand | None = Field(default=None, description="Command: open for one person going out.")
    ack: str | None = Field(default="OK", min_length=1, description="The board's reply when done; null: none.")
    error_prefix: str = Field(default="ERR", min_length=1, description="How the board's error replies begin.")
    ack_timeout_s: float = Field(default=1.0, gt=0, description="An ack later than this counts as missing.")


class ReaderProfile(ReaderSettings):
    """A reader model: its protocol, serial defaults and controller lines."""

    kind: Literal["reader"]
    description: str = Field(min_length=1, max_length=300)
    framing: SerialFraming = Field(description="The protocol on the reader's serial line.")


class RelayProfile(RelaySettings):
    """A turnstile relay board model: its serial defaults and its command and reply strings."""

    kind: Literal["relay"]
    description: str = Field(min_length=1, max_length=300)
    entry: RelayCommand = Field(description="Command: open for one person going in.")
    exit: RelayCommand = Field(description="Command: open for one person going out.")


Profile = Annotated[ReaderProfile | RelayProfile, Field(discriminator="kind")]
PROFILE_KINDS: dict[str, type[ReaderProfile] | type[RelayProfile]] = {"reader": ReaderProfile, "relay": RelayProfile}
_IDENTIFIER = TypeAdapter(Identifier)


def profile_schema() -> dict[str, Any]:
    """The JSON Schema of a profile file (either kind)."""
    return TypeAdapter(Profile).json_schema()


@dataclass(frozen=True)
class Profiles:
    """The profiles of a directory, by model name."""

    models: Mapping[str, ReaderProfile | RelayProfile] = field(default_factory=dict)
    directory: Path | None = None

    def get(self, model: str) -> ReaderProfile | RelayProfile | None:
        """The profile of ``model``, if there is one."""
        return self.models.get(model)

    def defaults(self, model: str, kind: str) -> dict[str, Any]:
        """The settings ``model`` gives a device of ``kind`` (none if it is unknown or of another kind)."""
        profile = self.models.get(model)
        if profile is None or profile.kind != kind:
            return {}
        return profile.model_dump(exclude_unset=True, exclude={"kind", "description"})

    def check(self, model: str, kind: str) -> None:
        """Raise ``ValueError`` (for pydantic to place) unless ``model`` is a profile of ``kind``."""
        profile = self.models.get(model)
        if profile is None:
            known = sorted(m for m, p in self.models.items() if p.kind == kind)
            where = f"in {self.directory}" if self.directory else "(no profile directory was given)"
            raise ValueError(f"unknown model {model!r}: no {model}.yaml {where}; {kind} models: {known or 'none'}")
        if profile.kind != kind:
            raise ValueError(f"model {model!r} is a {profile.kind} profile, not a {kind} one")


def default_profiles_dir(site_file: str | Path) -> Path:
    """Where the profiles of a site file are: ``../profiles`` beside its directory.

    ``firmware_configs/sites/demo-school.yaml`` → ``firmware_configs/profiles``; a deployed gateway
    keeps the same shape (``/etc/mektep/sites/…`` and ``/etc/mektep/profiles``).
    """
    return Path(site_file).resolve().parent.parent / "profiles"


def load_profiles(directory: str | Path) -> Profiles:
    """Read and validate every ``*.yaml`` profile of ``directory`` (none if it does not exist).

    Raises ``ConfigError`` listing every problem of every file, each with its file, line and field.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return Profiles({}, directory)
    models: dict[str, ReaderProfile | RelayProfile] = {}
    problems: list[ConfigProblem] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            models[path.stem] = _load_one(path)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return Profiles(models, directory)


def _load_one(path: Path) -> ReaderProfile | RelayProfile:
    doc = parse_yaml(read_text(path), str(path))
    if not _IDENTIFIER.validator.isinstance_python(path.stem):
        raise ConfigError([doc.problem((), "the file name is the model's name: letters, digits, '.', '_', '-'")])
    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    model = PROFILE_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ConfigError([doc.problem(("kind",), f"give the kind of device: one of {sorted(PROFILE_KINDS)}")])
    return doc.validate(TypeAdapter(model))
