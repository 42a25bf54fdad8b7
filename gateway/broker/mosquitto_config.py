"""A school's Mosquitto broker from its site file: mosquitto.conf, the password file and the ACL.

    layout = BrokerLayout(Path("/etc/mosquitto/mektep"))          # data in /etc/mosquitto/mektep/data
    generate_broker(Path("sites/school-17.yaml"), layout)           # load, resolve secrets, render, write
    # or in steps: render_broker(site, layout, resolve_passwords(site)) -> BrokerFiles (text only)

Who may do what. Every ACL line names one exact topic: no ``#``, no ``+``.

    terminal T   write mektep/{school}/T/tap
                 write mektep/{school}/T/status      (its "online" and its Last Will "offline")
                 read  mektep/{school}/T/feedback
    gateway      read  the tap and status topic of every terminal of the site
                 write the feedback topic of every terminal of the site
                 write mektep/{school}/gateway/{gateway_id}/status
    anyone else  nothing: anonymous clients and unknown users are refused at CONNECT

The gateway subscribes to ``mektep/{school}/+/tap``; mosquitto 2 grants the subscription and checks
every message against the read ACL before delivering it, so the wildcard reaches only the
terminals listed here.

A terminal logs in with its id as user name, the gateway with ``mqtt.username``; each password is a
SecretRef of the site file, resolved only to be hashed (:mod:`gateway.broker.mosquitto_passwd`). The broker
uses the user name as client id, so no terminal can take over the gateway's session (or another
terminal's) by connecting with its client id.

:func:`mosquitto_conf` is the project's one template of a mosquitto.conf: the tests' broker
launcher (``simulators/broker.py``) uses it too, with its own listener and users and the same persistence.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from device_drivers.mqtt_terminal.codec import gateway_status_topic, topic
from gateway.broker.mosquitto_passwd import USERNAME, password_file_text
from gateway.site.config import ConfigError, ConfigProblem, MqttTlsConfig, SecretRef, SiteConfig, load_site

__all__ = [
    "AUTOSAVE_S",
    "BrokerFiles",
    "BrokerLayout",
    "BrokerUser",
    "broker_users",
    "generate_broker",
    "mosquitto_conf",
    "render_acl",
    "render_broker",
    "resolve_passwords",
    "write_broker",
]

AUTOSAVE_S = 30


@dataclass(frozen=True)
class BrokerLayout:
    """Where the generated files go and how the broker process runs.

    ``run_as`` is the user mosquitto drops to when started as root (its default is ``mosquitto``):
    mosquitto 2 reads the password file and the ACL *after* dropping privileges, so that user must
    own them and the persistence directory. None leaves the ``user`` line out.
    """

    conf_dir: Path
    data_dir: Path | None = None  # default: conf_dir/data
    bind: str = "0.0.0.0"
    run_as: str | None = "mosquitto"

    @property
    def conf_file(self) -> Path:
        """``mosquitto.conf`` (absolute)."""
        return self.conf_dir.resolve() / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        """The password file (absolute), mode 0600."""
        return self.conf_dir.resolve() / "passwd"

    @property
    def acl_file(self) -> Path:
        """The ACL file (absolute), mode 0600."""
        return self.conf_dir.resolve() / "acl"

    @property
    def persistence_dir(self) -> Path:
        """Where mosquitto saves its sessions and queued messages (absolute)."""
        return (self.data_dir or self.conf_dir / "data").resolve()


@dataclass(frozen=True)
class BrokerFiles:
    """The text of the three files. ``passwd`` holds salted hashes only, never a password."""

    conf: str
    passwd: str
    acl: str


@dataclass(frozen=True)
class BrokerUser:
    """A user of the broker, and where the site file sets its password (``field``, for errors)."""

    name: str
    secret: SecretRef | None
    field: str


def broker_users(site: SiteConfig, source: str | None = None) -> list[BrokerUser]:
    """The gateway first, then every terminal; ``ConfigError`` if the site cannot have a broker."""
    if site.mqtt is None:
        raise ConfigError([ConfigProblem(source, None, "mqtt", "the site has no 'mqtt' section")])
    gateway_user = site.mqtt.username
    problems: list[ConfigProblem] = []
    if gateway_user is None:
        problems.append(ConfigProblem(source, None, "mqtt.username", "the gateway needs a user name on the broker"))
    elif not USERNAME.match(gateway_user):
        problems.append(
            ConfigProblem(source, None, "mqtt.username", "letters, digits, '.', '_' and '-' only, at most 64")
        )
    elif gateway_user in {t.id for t in site.terminals}:
        problems.append(ConfigProblem(source, None, "mqtt.username", f"{gateway_user!r} is a terminal's id"))
    if problems:
        raise ConfigError(problems)
    assert gateway_user is not None
    users = [BrokerUser(gateway_user, site.mqtt.password, "mqtt.password")]
    users += [BrokerUser(t.id, t.password, f"terminals[{i}].password") for i, t in enumerate(site.terminals)]
    return users


def resolve_passwords(site: SiteConfig, source: str | None = None) -> dict[str, str]:
    """Read every broker user's password (user → password); ``ConfigError`` naming each one missing."""
    passwords: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for user in broker_users(site, source):
        if user.secret is None:
            problems.append(ConfigProblem(source, None, user.field, f"not given: {user.name} needs a password"))
            continue
        try:
            value = user.secret.resolve()
        except ConfigError as exc:
            problems += [ConfigProblem(source, None, user.field, p.message) for p in exc.problems]
            continue
        if not value:
            problems.append(ConfigProblem(source, None, user.field, f"the file {user.secret.file} is empty"))
            continue
        passwords[user.name] = value
    if problems:
        raise ConfigError(problems)
    return passwords


def render_acl(school: str, gateway_id: str, gateway_user: str, terminals: Sequence[str]) -> str:
    """The ACL file: one ``user`` block for the gateway, then one for each terminal."""
    lines = [
        f"# Who may use which topic on the broker of school {school}; generated by `mektep config mosquitto`.",
        "# Exact topics only. A topic not listed for a user is closed to it: a publish there is",
        "# dropped by the broker, a subscription to it delivers nothing.",
        "",
        f"user {gateway_user}",
    ]
    for terminal in terminals:
        lines += [
            f"topic read {topic(school, terminal, 'tap')}",
            f"topic read {topic(school, terminal, 'status')}",
            f"topic write {topic(school, terminal, 'feedback')}",
        ]
    lines.append(f"topic write {gateway_status_topic(school, gateway_id)}")
    for terminal in terminals:
        lines += [
            "",
            f"user {terminal}",
            f"topic write {topic(school, terminal, 'tap')}",
            f"topic write {topic(school, terminal, 'status')}",
            f"topic read {topic(school, terminal, 'feedback')}",
        ]
    return "\n".join(lines) + "\n"


def mosquitto_conf(
    *,
    port: int,
    bind: str,
    data_dir: Path,
    password_file: Path | None,
    acl_file: Path | None,
    run_as: str | None,
    tls: MqttTlsConfig | None = None,
    autosave_interval_s: int = AUTOSAVE_S,
    log_file: Path | None = None,
    header: Sequence[str] = ("Mosquitto broker",),
) -> str:
    """The text of a mosquitto.conf, ``header`` lines first as comments.

    Without ``password_file`` anonymous clients are let in: the demo's and the tests' broker only.
    """
    # Listener options come right after their `listener` line: written before any listener, an
    # option such as use_username_as_clientid opens mosquitto's default listener on 1883 as well.
    own_client_id = password_file is not None
    lines = [
        *(f"# {line}" for line in header),
        "",
        "# -- listeners --",
        *_listener(port, bind, own_client_id),
    ]
    if tls is None:
        lines.append("# TLS for terminals: give mqtt.tls (port, certfile, keyfile, cafile) in the site file.")
    else:
        lines += ["# TLS, for terminals on the school network.", *_listener(tls.port, bind, own_client_id)]
        lines += [f"certfile {tls.certfile.resolve()}", f"keyfile {tls.keyfile.resolve()}", "tls_version tlsv1.2"]
        if tls.cafile is not None:
            lines.append(f"cafile {tls.cafile.resolve()}")
        if tls.require_certificate:
            lines.append("require_certificate true")
    lines += ["", "# -- who may connect (every listener) --"]
    if password_file is not None:
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    else:
        lines.append("allow_anonymous true")
    if acl_file is not None:
        lines.append(f"acl_file {acl_file}")
    lines += [
        "# Every connection and every refused login goes to the log: failed logins are to be reviewable.",
        "connection_messages true",
        "",
        "# -- latency --",
        "# A tap and its answer are a few hundred bytes each way. With Nagle's algorithm on, the broker",
        "# holds a small packet until the previous one is acknowledged, and the other side acknowledges",
        "# late (delayed ACK): some 40 ms added to a child's wait at the till, measured.",
        "set_tcp_nodelay true",
    ]
    lines += [
        "",
        "# -- what is kept for clients that are away --",
        "persistence true",
        f"persistence_location {data_dir}/",
        "# What a crash of this broker may lose, and why that is enough: a tap is never in the broker's",
        "# hands alone. A terminal keeps every tap until the gateway answers it and sends it again,",
        "# same tap_id, while no answer comes (README, 'Canteen terminals'); the gateway answers a repeat",
        "# with what it recorded. So a crash between a PUBACK and a save (the last interval's queued taps,",
        "# the gateway's subscription) costs those taps a resend, never the tap. The store is written",
        "# whole at each save: during a long gateway outage it holds up to 100,000 queued taps, and",
        "# writing it more often would wear the school PC's disk for no tap more.",
        f"autosave_interval {autosave_interval_s}",
        "# A gateway stopped for days, or a terminal switched off over a break, must find its QoS 1",
        "# messages waiting: the default limit of 1000 per client would silently drop the taps of one",
        "# busy canteen after a day. 100,000 is weeks of taps, a few tens of MB at most.",
        "max_queued_messages 100000",
        "# A session (and what is queued for it) is dropped after this long away: longer than any school",
        "# break but summer's. A client that comes back later starts afresh and subscribes again.",
        "persistent_client_expiration 6w",
        "",
        "# -- the process --",
    ]
    if run_as is not None:
        lines += [
            "# Started as root, mosquitto drops to this user before it reads the password file and the ACL:",
            "# `mektep config mosquitto` makes that user their owner, and the persistence directory's.",
            f"user {run_as}",
        ]
    lines.append(f"log_dest file {log_file}" if log_file is not None else "log_dest stderr")
    lines += [f"log_type {kind}" for kind in ("error", "warning", "notice", "information")]
    return "\n".join(lines) + "\n"


def _listener(port: int, bind: str, own_client_id: bool) -> list[str]:
    lines = [f"listener {port} {bind}"]
    if own_client_id:
        lines += [
            "# The client id is the user name: nobody takes over another user's session by its client id.",
            "use_username_as_clientid true",
        ]
    return lines


def render_broker(site: SiteConfig, layout: BrokerLayout, passwords: Mapping[str, str]) -> BrokerFiles:
    """The three files of ``site``'s broker; ``passwords`` as from :func:`resolve_passwords`."""
    users = broker_users(site)
    missing = [u.name for u in users if not passwords.get(u.name)]
    if missing:
        raise ValueError(f"no password for {', '.join(missing)}")
    assert site.mqtt is not None  # broker_users checked it
    school = site.school
    conf = mosquitto_conf(
        port=site.mqtt.port,
        bind=layout.bind,
        data_dir=layout.persistence_dir,
        password_file=layout.password_file,
        acl_file=layout.acl_file,
        run_as=layout.run_as,
        tls=site.mqtt.tls,
        header=(
            f"Mosquitto broker of school {school.id} ({school.name}), gateway {site.gateway.id}.",
            "Generated by `mektep config mosquitto` from the site file: change that and generate again.",
            "SIGHUP (systemctl reload mosquitto) rereads the password file and the ACL; a new port needs a restart.",
        ),
    )
    acl = render_acl(school.id, site.gateway.id, users[0].name, [t.id for t in site.terminals])
    passwd = password_file_text({u.name: passwords[u.name] for u in users})
    return BrokerFiles(conf=conf, passwd=passwd, acl=acl)


def write_broker(files: BrokerFiles, layout: BrokerLayout) -> list[Path]:
    """Write the files (password file and ACL mode 0600) and create the persistence directory.

    Run as root, the password file, the ACL and the persistence directory are given to
    ``layout.run_as`` (``LookupError`` if no such user exists). Returns the paths written.
    """
    owner = _owner(layout.run_as)
    layout.conf_dir.mkdir(parents=True, exist_ok=True)
    data = layout.persistence_dir
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(layout.password_file, files.passwd, 0o600, owner)
    _write(layout.acl_file, files.acl, 0o600, owner)
    _write(layout.conf_file, files.conf, 0o644, None)
    if owner is not None:
        os.chown(data, *owner)
    return [layout.conf_file, layout.password_file, layout.acl_file]


def generate_broker(site_file: Path, layout: BrokerLayout) -> list[Path]:
    """Load ``site_file``, read its MQTT passwords, write the broker's files; the paths written.

    ``ConfigError`` names every problem of the site file and every secret that cannot be read.
    """
    site = load_site(site_file)
    files = render_broker(site, layout, resolve_passwords(site, str(site_file)))
    return write_broker(files, layout)


def _owner(user: str | None) -> tuple[int, int] | None:
    # Only root can give files away, and only a root-started broker drops to another user.
    if user is None or os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LookupError(f"no system user {user!r} for the broker to run as (install mosquitto, or --user)") from None
    return entry.pw_uid, entry.pw_gid


def _write(path: Path, text: str, mode: int, owner: tuple[int, int] | None) -> None:
    # Created with its final mode and renamed into place: the hashes are never readable by others,
    # not even for a moment, and a broker reloading meanwhile sees the old file or the new one.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)  # the umask may have taken bits away from a 0644 file
    if owner is not None:
        os.chown(tmp, *owner)
    os.replace(tmp, path)
