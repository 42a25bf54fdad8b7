"""Device profiles and site files: defaults from the model, the site wins, every error named by file, line, field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from device_drivers.qr import QrDriver
from device_drivers.relay import RelayDriver, RelayProtocol
from device_drivers.wiegand import WiegandDriver
from gateway.site.config import ConfigError, ConfigProblem, load_site, parse_site
from gateway.site.devices import build_devices
from gateway.site.profiles import load_profiles
from gateway.site.schema import render_schemas
from mektep.cli import app

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_configs"
HEAD = """\
school: {id: s1, name: School}
gateway: {id: gw1, key: {env: K}, credential_key: {env: C}}
cloud: {url: "http://127.0.0.1:9"}
"""
WIEGAND_7E1 = """\
kind: reader
description: A converter set to 19200 7E1
framing: wiegand
baud: 19200
bytesize: 7
parity: E
repeat_suppress_s: 2.5
grant_line: "OK {direction}\\r"
"""
RELAY = """\
kind: relay
description: Relay board with terse commands
entry: "R1\\r"
exit: "R2\\r"
ack: A
"""


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def site_file(tmp_path: Path, body: str, profiles: dict[str, str] | None = None) -> Path:
    """A site file in tmp_path/sites/ with its profiles in tmp_path/profiles/ (the default place)."""
    write(tmp_path / "profiles", profiles or {"wiegand-7e1.yaml": WIEGAND_7E1, "terse-relay.yaml": RELAY})
    return write(tmp_path / "sites", {"site.yaml": HEAD + body}) / "site.yaml"


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[tuple[str | None, int | None, str]]:
    return [(Path(p.file).name if p.file else None, p.line, p.field) for p in exc.value.problems]


def test_committed_profiles_and_site_files_are_valid() -> None:
    profiles = load_profiles(FIRMWARE / "profiles")
    assert {"rdm6300", "wiegand-serial-converter", "qr-serial-scanner", "ascii-relay-board"} <= set(profiles.models)
    for site in (FIRMWARE / "sites").glob("*.yaml"):  # no inline secret could pass: SecretRef refuses it
        load_site(site)


def test_profile_defaults_apply_and_the_site_wins(tmp_path: Path) -> None:
    path = site_file(
        tmp_path,
        """\
readers:
  - {id: in-1, model: wiegand-7e1, port: /dev/ttyUSB0, direction: entry, relay: gate-1}
  - {id: in-2, model: wiegand-7e1, port: /dev/ttyUSB1, direction: entry, baud: 9600, parity: N, bytesize: 8}
  - {id: out-1, framing: qr, port: /dev/ttyUSB2, direction: exit, relay: gate-1, max_length: 64}
relays:
  - {id: gate-1, model: terse-relay, port: /dev/ttyUSB3, ack_timeout_s: 0.5}
""",
    )
    site = load_site(path)
    drivers = {d.link_id: d for d in build_devices(site).drivers}
    profiled, overridden, scanner, relay = drivers["in-1"], drivers["in-2"], drivers["out-1"], drivers["gate-1"]
    assert isinstance(profiled, WiegandDriver) and isinstance(overridden, WiegandDriver)
    c = profiled.reader_config
    assert (c.baud, c.bytesize, c.parity, c.stopbits, c.repeat_suppress_s) == (19200, 7, "E", 1, 2.5)
    assert profiled.grant_line == "OK {direction}\r" and profiled.deny_line == "DENY {reason} {ref}\r\n"
    o = overridden.reader_config
    assert (o.baud, o.bytesize, o.parity, o.repeat_suppress_s) == (9600, 8, "N", 2.5)  # the rest still from the model
    assert isinstance(scanner, QrDriver) and scanner.max_length == 64 and scanner.reader_config.baud == 9600
    assert isinstance(relay, RelayDriver) and relay.ack_timeout_s == 0.5
    assert relay.protocol == RelayProtocol(entry="R1\r", exit="R2\r", ack="A", error_prefix="ERR")
    assert build_devices(site).releases == {"in-1": "gate-1", "out-1": "gate-1"}


def test_an_unknown_model_is_named_with_file_line_and_field(tmp_path: Path) -> None:
    path = site_file(
        tmp_path,
        """\
readers:
  - id: in-1
    model: wiegand-7e1
    port: /dev/ttyUSB0
    direction: entry
  - id: in-2
    model: rdm9000
    port: /dev/ttyUSB1
    direction: entry
  - id: in-3
    model: terse-relay
    port: /dev/ttyUSB2
    direction: entry
""",
    )
    with pytest.raises(ConfigError) as exc:
        load_site(path)
    assert problems(exc) == [("site.yaml", 10, "readers[1].model"), ("site.yaml", 14, "readers[2].model")]
    unknown, wrong_kind = (p.message for p in exc.value.problems)
    assert "unknown model 'rdm9000'" in unknown and "['wiegand-7e1']" in unknown  # the reader models there are
    assert "is a relay profile, not a reader one" in wrong_kind
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 1 and f"{path}:10:readers[1].model" in "".join(result.output.split())


def test_yaml_syntax_errors_are_named_with_their_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_site(HEAD + "readers:\n  - id: in-1\n   port: /dev/ttyUSB0\n", "site.yaml")  # one space short
    assert problems(exc) == [("site.yaml", 6, "yaml")]
    broken = {"ok.yaml": RELAY, "broken.yaml": "kind: relay\nentry: OPEN IN\n  exit: OPEN OUT\n"}
    with pytest.raises(ConfigError) as exc:
        load_site(site_file(tmp_path, "", broken))
    assert problems(exc) == [("broken.yaml", 3, "yaml")]  # the profile's own file and line


def test_an_inline_secret_is_refused(tmp_path: Path) -> None:
    text = HEAD.replace("key: {env: K}", "key: s3cr3t-gateway-key")
    with pytest.raises(ConfigError) as exc:
        parse_site(text, "site.yaml")
    assert problems(exc) == [("site.yaml", 2, "gateway.key")]
    assert "never written in the file" in exc.value.problems[0].message


def test_every_problem_of_every_profile_is_named(tmp_path: Path) -> None:
    profiles = {
        "a-reader.yaml": WIEGAND_7E1.replace("baud: 19200", "baud: fast").replace("parity: E", "parity: X"),
        "b-reader.yaml": WIEGAND_7E1.replace('"OK {direction}\\r"', '"OK {who}\\r"') + "bauds: 9600\n",
        "c-relay.yaml": RELAY.replace('"R1\\r"', '"ОТКРЫТЬ"'),
        "d-nokind.yaml": "description: what am I\n",
        "e bad name.yaml": RELAY,
    }
    with pytest.raises(ConfigError) as exc:
        load_profiles(write(tmp_path / "profiles", profiles))
    assert problems(exc) == [
        ("a-reader.yaml", 4, "baud"),
        ("a-reader.yaml", 6, "parity"),
        ("b-reader.yaml", 8, "grant_line"),
        ("b-reader.yaml", 9, "bauds"),
        ("c-relay.yaml", 3, "entry"),
        ("d-nokind.yaml", 1, "kind"),
        ("e bad name.yaml", 1, "<root>"),
    ]
    assert "unknown placeholder ['who']" in exc.value.problems[2].message


def test_site_references_and_required_settings_are_checked(tmp_path: Path) -> None:
    body = """\
readers:
  - {id: in-1, framing: em4100, port: /dev/ttyUSB0, direction: entry, relay: gate-9}
  - {id: in-2, port: /dev/ttyUSB1, direction: entry}
relays:
  - {id: gate-1, port: /dev/ttyUSB3, entry: "OPEN IN"}
"""
    with pytest.raises(ConfigError) as exc:
        parse_site(HEAD + body, "site.yaml")
    assert problems(exc) == [("site.yaml", 6, "readers[1]"), ("site.yaml", 8, "relays[0]")]
    assert "'framing' or a 'model'" in exc.value.problems[0].message
    with pytest.raises(ConfigError) as exc:
        parse_site(
            HEAD
            + body.replace("  - {id: in-2, port: /dev/ttyUSB1, direction: entry}\n", "").replace(
                'entry: "OPEN IN"', 'entry: "OPEN IN", exit: "OPEN OUT"'
            ),
            "site.yaml",
        )
    assert problems(exc) == [("site.yaml", 5, "readers[0].relay")]
    expected = ConfigProblem("site.yaml", 5, "readers[0].relay", "no relay board 'gate-9' in 'relays'")
    assert exc.value.problems[0] == expected


def test_the_committed_json_schemas_are_up_to_date(tmp_path: Path) -> None:
    rendered = render_schemas()
    for name, text in rendered.items():
        assert (FIRMWARE / "schema" / name).read_text(encoding="utf-8") == text, f"run: mektep config schema ({name})"
    result = CliRunner().invoke(app, ["config", "schema", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "s").iterdir()} == rendered
    site_schema = rendered["site.schema.json"]
    assert '"relays"' in site_schema and '"model"' in site_schema and '"additionalProperties": false' in site_schema
