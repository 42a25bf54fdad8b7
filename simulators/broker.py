"""An MQTT broker on a free port: the real Mosquitto, or the embedded amqtt broker if it is absent.

    with start_broker() as broker:            # mosquitto on 127.0.0.1:<free port>
        ...broker.host, broker.port...
        broker.restart()                      # same port, same persistence: sessions survive

Mosquitto runs with a config of the project's one template (``gateway.broker.mosquitto_config``) in its own
directory: bound to 127.0.0.1, persistence as a school's broker has it (saved on a timer and on a
graceful stop, never kinder), optional password file and ACL; or, with :func:`start_site_broker`,
with the very files ``mektep config mosquitto`` generates from a site file. Without the binary,
``start_broker(allow_embedded=True)`` says how to install it and runs amqtt in a background thread
with its own event loop instead (a simulated separate process; it keeps no sessions across a
restart). Tests use Mosquitto only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.broker.mosquitto_config import BrokerLayout, mosquitto_conf, render_broker, resolve_passwords, write_broker
from gateway.broker.mosquitto_passwd import password_file_text
from gateway.site.config import load_site

__all__ = [
    "INSTALL_HINT",
    "Broker",
    "BrokerError",
    "EmbeddedBroker",
    "MosquittoBroker",
    "find_mosquitto",
    "free_port",
    "start_broker",
    "start_site_broker",
]

log = logging.getLogger(__name__)
INSTALL_HINT = (
    "mosquitto not found: install it with `apt-get install mosquitto` (Debian/Ubuntu), "
    "`dnf install mosquitto` (Fedora) or `brew install mosquitto` (macOS)"
)


class BrokerError(RuntimeError):
    """The broker could not be started or configured."""


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary (on PATH, or Debian's /usr/sbin), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """What the demo and the tests need of a broker; a context manager that stops it on exit."""

    host = "127.0.0.1"
    port: int

    def start(self) -> None:
        """Start (or start again, on the same port and persistence)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop gracefully. Safe to call when stopped."""
        raise NotImplementedError

    def restart(self) -> None:
        """Stop and start on the same port; persistent sessions and queued QoS 1 messages survive."""
        self.stop()
        self.start()

    @property
    def url(self) -> str:
        """``mqtt://host:port``."""
        return f"mqtt://{self.host}:{self.port}"

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


class MosquittoBroker(Broker):
    """The real mosquitto, persistence on, bound to 127.0.0.1, config from the project's template.

    ``users`` (name → password) turns anonymous access off and writes a password file (hashed, as
    ``mektep config mosquitto`` does); ``acl`` is the text of an ACL file (``user …`` /
    ``topic readwrite …`` lines). ``config`` runs an existing mosquitto.conf instead, e.g. one
    generated from a site file: it must listen on ``port`` on 127.0.0.1.
    """

    def __init__(
        self,
        binary: str,
        workdir: Path | None = None,
        port: int | None = None,
        *,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        extra_config: str = "",
        config: Path | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mektep-mosquitto-")).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_file = self.workdir / "mosquitto.log"
        if config is not None:
            self.config = config.resolve()
            return
        self.config = self.workdir / "mosquitto.conf"
        password_file = acl_file = None
        if users:
            password_file = self.workdir / "passwd"
            password_file.touch(0o600)
            password_file.write_text(password_file_text(users))
        if acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.touch(0o600)
            acl_file.write_text(acl)
        text = mosquitto_conf(
            port=self.port,
            bind="127.0.0.1",
            data_dir=self.workdir,
            password_file=password_file,
            acl_file=acl_file,
            # Run as root, mosquitto drops to user "mosquitto", which cannot read our private
            # directory: no password file, and every queued message lost on restart.
            run_as="root" if os.geteuid() == 0 else None,
            log_file=self.log_file,
            header=(f"A local broker for the demo and the tests, in {self.workdir}.",),
        )
        self.config.write_text(text + extra_config)

    def start(self) -> None:
        """Start mosquitto and wait until it listens; :class:`BrokerError` with its log if it does not."""
        if self.proc is not None and self.proc.poll() is None:
            return
        with (self.workdir / "stderr.log").open("ab") as stderr:  # a file, not a pipe nobody drains
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # Ctrl-C in a terminal reaches the demo, which stops us in order
            )
        deadline = time.monotonic() + 10
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"mosquitto did not start on port {self.port}:\n{self._diagnostics()}")
            time.sleep(0.02)

    def _diagnostics(self) -> str:
        tail: list[str] = []
        for path in (self.workdir / "stderr.log", self.log_file):
            if path.exists():
                tail += path.read_text(errors="replace").splitlines()[-15:]
        return "\n".join(tail).strip()

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file on the way out."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def kill(self) -> None:
        """SIGKILL, as a power cut: whatever arrived since the last autosave is lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.stop()


class EmbeddedBroker(Broker):
    """amqtt (MQTT 3.1.1) on its own event loop in a background thread: the demo's fallback."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    def start(self) -> None:
        """Run amqtt's broker in a thread with its own loop, and wait until it listens."""
        from amqtt.broker import Broker as AmqttBroker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._broker = AmqttBroker(config, loop=loop)
                loop.run_until_complete(self._broker.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, daemon=True, name="amqtt-broker")
        self._thread.start()
        if not ready.wait(10) or failure:
            raise BrokerError(f"the embedded broker did not start on port {self.port}: {failure}")

    def stop(self) -> None:
        """Stop the broker and its thread."""
        loop, broker, self._loop, self._broker = self._loop, self._broker, None, None
        if loop is None or broker is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            loop.close()


def start_broker(
    *,
    allow_embedded: bool = False,
    workdir: Path | None = None,
    port: int | None = None,
    users: Mapping[str, str] | None = None,
    acl: str | None = None,
) -> Broker:
    """Start mosquitto on a free port (or ``port``) and return it, started; usable in ``with``.

    Without mosquitto: raise ``FileNotFoundError`` with :data:`INSTALL_HINT`, or, if
    ``allow_embedded``, log the hint and start the embedded amqtt broker (no ``users``/``acl``).
    """
    binary = find_mosquitto()
    broker: Broker
    if binary is None:
        if not allow_embedded:
            raise FileNotFoundError(INSTALL_HINT)
        log.warning("%s; using the embedded Python broker (amqtt) instead", INSTALL_HINT)
        if users or acl:
            log.warning("the embedded broker ignores users and ACLs: anyone on 127.0.0.1 may connect")
        broker = EmbeddedBroker(port)
    else:
        broker = MosquittoBroker(binary, workdir, port, users=users, acl=acl)
    broker.start()
    return broker


def start_site_broker(site_file: Path, workdir: Path, env: Mapping[str, str] | None = None) -> MosquittoBroker:
    """Start mosquitto with the files ``mektep config mosquitto`` generates from ``site_file``: its users,
    ACL, persistence and listener, bound to 127.0.0.1 and kept in ``workdir``. Started; usable in ``with``.

    The site's ``mqtt.port`` is the port; its passwords are read from the environment, with ``env``
    (what :func:`mektep.processes.write_site` returned) on top of it.
    """
    binary = find_mosquitto()
    if binary is None:
        raise FileNotFoundError(INSTALL_HINT)
    site = load_site(site_file)
    assert site.mqtt is not None, "the site has no broker"
    # Started as root, mosquitto would drop to the "mosquitto" user, who cannot enter a test's
    # private temporary folder: the generator is told to keep it root, as it lets a deployment choose.
    layout = BrokerLayout(workdir, bind="127.0.0.1", run_as="root" if os.geteuid() == 0 else None)
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        passwords = resolve_passwords(site, str(site_file))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    write_broker(render_broker(site, layout, passwords), layout)
    broker = MosquittoBroker(binary, workdir, site.mqtt.port, config=layout.conf_file)
    broker.start()
    return broker
