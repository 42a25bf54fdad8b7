"""`mektep config mosquitto` output as an operator checks it: hashes that verify, 0600, exact ACLs, named errors."""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import re
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gateway.broker.mosquitto_config import BrokerLayout, render_broker, resolve_passwords, write_broker
from gateway.site.config import ConfigError, parse_site
from mektep.cli import app
from tests.conftest import MOSQUITTO_MISSING, need

runner = CliRunner()
PASSWORDS = {"gw-1-mqtt": "gateway-secret-Ж1", "canteen-1": "first:terminal secret", "canteen-2": "second-secret"}


def site_data(tmp_path: Path, **mqtt: object) -> dict[str, object]:
    (tmp_path / "canteen-2.secret").write_text(PASSWORDS["canteen-2"] + "\n")
    return {
        "school": {"id": "s1", "name": "School 1"},
        "gateway": {"id": "gw-1", "key": {"env": "K"}, "credential_key": {"env": "C"}},
        "cloud": {"url": "http://127.0.0.1:8000"},
        "mqtt": {"port": 1884, "username": "gw-1-mqtt", "password": {"env": "T_MQTT_GW"}, **mqtt},
        "terminals": [
            {"id": "canteen-1", "password": {"env": "T_MQTT_C1"}},
            {"id": "canteen-2", "password": {"file": str(tmp_path / "canteen-2.secret")}},
        ],
    }


def write_site(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_MQTT_GW", PASSWORDS["gw-1-mqtt"])
    monkeypatch.setenv("T_MQTT_C1", PASSWORDS["canteen-1"])


def generate(tmp_path: Path, data: dict[str, object]) -> Path:
    out = tmp_path / "out"
    owner = ["--user", "root"] if os.geteuid() == 0 else []  # whether or not a "mosquitto" user exists here
    result = runner.invoke(app, ["config", "mosquitto", str(write_site(tmp_path, data)), "--out", str(out), *owner])
    assert result.exit_code == 0, result.output
    assert not any(secret in result.output for secret in PASSWORDS.values())
    return out


def test_the_password_file_verifies_is_0600_and_holds_no_password(tmp_path: Path, secrets_env: None) -> None:
    out = generate(tmp_path, site_data(tmp_path))
    passwd = out / "passwd"
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "acl").stat().st_mode) == 0o600
    users = {}
    for line in passwd.read_text().splitlines():
        user, encoded = line.split(":", 1)
        found = re.fullmatch(r"\$7\$(\d+)\$([^$]+)\$([^$]+)", encoded)  # $7$: mosquitto 2's PBKDF2-SHA512
        assert found is not None, line
        iterations, salt, key = found.groups()
        derived = hashlib.pbkdf2_hmac("sha512", PASSWORDS[user].encode(), base64.b64decode(salt), int(iterations), 64)
        assert derived == base64.b64decode(key), user
        assert len(base64.b64decode(salt)) == 12 and int(iterations) >= 1000
        users[user] = salt
    assert list(users) == ["gw-1-mqtt", "canteen-1", "canteen-2"]
    assert len(set(users.values())) == 3  # a fresh salt each
    for path in [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != tmp_path]:
        text = path.read_text(errors="replace")
        assert not any(secret in text for secret in PASSWORDS.values()), path


def test_the_acl_gives_each_user_exact_topics_and_no_wildcard(tmp_path: Path, secrets_env: None) -> None:
    acl = (generate(tmp_path, site_data(tmp_path)) / "acl").read_text()
    blocks: dict[str, list[str]] = {}
    current = None
    for line in acl.splitlines():
        if line.startswith("user "):
            current = line.split(" ", 1)[1]
            blocks[current] = []
        elif line.startswith("topic") or line.startswith("pattern"):
            assert current is not None, f"a rule outside any user block applies to anonymous clients: {line}"
            blocks[current].append(line)
    assert not any(ch in rule.split()[-1] for rules in blocks.values() for rule in rules for ch in "#+")
    assert blocks["canteen-1"] == [
        "topic write mektep/s1/canteen-1/tap",
        "topic write mektep/s1/canteen-1/status",
        "topic read mektep/s1/canteen-1/feedback",
    ]
    assert sorted(blocks["gw-1-mqtt"]) == sorted(
        [f"topic read mektep/s1/canteen-{i}/{leaf}" for i in (1, 2) for leaf in ("tap", "status")]
        + [f"topic write mektep/s1/canteen-{i}/feedback" for i in (1, 2)]
        + ["topic write mektep/s1/gateway/gw-1/status"]
    )


def test_the_conf_refuses_anonymous_and_keeps_queued_taps(tmp_path: Path, secrets_env: None) -> None:
    out = generate(tmp_path, site_data(tmp_path))
    conf = {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in (out / "mosquitto.conf").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert conf["allow_anonymous"] == "false"
    assert conf["password_file"] == str((out / "passwd").resolve())
    assert conf["acl_file"] == str((out / "acl").resolve())
    assert conf["listener"] == "1884 0.0.0.0"
    assert conf["persistence"] == "true" and conf["persistence_location"] == f"{(out / 'data').resolve()}/"
    assert int(conf["max_queued_messages"]) >= 100_000
    assert conf["persistent_client_expiration"] == "6w"
    assert (out / "data").is_dir()


def test_tls_gets_its_own_listener_with_the_same_users(tmp_path: Path, secrets_env: None) -> None:
    tls = {"port": 8883, "certfile": "/etc/mektep/tls/broker.crt", "keyfile": "/etc/mektep/tls/broker.key"}
    text = (generate(tmp_path, site_data(tmp_path, tls=tls)) / "mosquitto.conf").read_text()
    after_tls = text.split("listener 8883 0.0.0.0\n", 1)[1]
    assert "use_username_as_clientid true" in after_tls.split("\n\n")[0]  # a listener's options follow it
    assert "certfile /etc/mektep/tls/broker.crt\nkeyfile /etc/mektep/tls/broker.key\n" in after_tls
    assert "allow_anonymous false" in text


def test_every_missing_secret_is_named_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_MQTT_GW", raising=False)
    monkeypatch.setenv("T_MQTT_C1", PASSWORDS["canteen-1"])
    data = site_data(tmp_path)
    (tmp_path / "canteen-2.secret").unlink()
    data["terminals"].append({"id": "canteen-3"})  # type: ignore[attr-defined]
    site = write_site(tmp_path, data)
    result = runner.invoke(app, ["config", "mosquitto", str(site), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    said = "".join(result.output.split())  # Rich wraps long lines, a long path in its middle too
    assert f"{site}: mqtt.password: environment variable T_MQTT_GW is not set".replace(" ", "") in said
    assert f"{site}:terminals[1].password:" in said and "canteen-2.secret" in said
    assert f"{site}: terminals[2].password: not given: canteen-3 needs a password".replace(" ", "") in said
    assert not (tmp_path / "out").exists()


def test_a_gateway_user_that_cannot_be_a_broker_user_is_refused(tmp_path: Path) -> None:
    for username, why in [("gw 1", "letters, digits"), ("canteen-1", "is a terminal's id"), (None, "needs a user")]:
        data = site_data(tmp_path)
        data["mqtt"]["username"] = username  # type: ignore[index]
        with pytest.raises(ConfigError, match=why) as caught:
            resolve_passwords(parse_site(yaml.safe_dump(data)))
        assert caught.value.problems[0].field == "mqtt.username"


def test_run_as_root_the_files_belong_to_the_brokers_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give files to another user")
    need(any(e.pw_name == "mosquitto" for e in pwd.getpwall()), MOSQUITTO_MISSING)
    site = parse_site(yaml.safe_dump(site_data(tmp_path)))
    layout = BrokerLayout(tmp_path / "out", run_as="mosquitto")
    write_broker(render_broker(site, layout, PASSWORDS), layout)
    uid = pwd.getpwnam("mosquitto").pw_uid
    # mosquitto 2 reads them after dropping to its user: owned by root, they would not open
    assert [p.stat().st_uid for p in (layout.password_file, layout.acl_file, layout.persistence_dir)] == [uid] * 3
    assert layout.conf_file.stat().st_uid == 0
