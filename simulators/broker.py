"""An MQTT broker on a free port: the real Mosquitto, or the embedded amqtt broker if it is absent.

    with start_broker() as broker:            # mosquitto on 127.0.0.1:<free port>
        ...broker.host, broker.port...
        broker.restart()                      # same port, same persistence: sessions survive

Mosquitto runs with a generated config in its own directory: bound to 127.0.0.1, persistence on
(saved every second and on a graceful stop), optional password file and ACL. Without the binary,
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

__all__ = [
    "INSTALL_HINT",
    "Broker",
    "BrokerError",
    "EmbeddedBroker",
    "MosquittoBroker",
    "find_mosquitto",
    "free_port",
    "start_broker",
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
    """The real mosquitto with a generated config, persistence on, bound to 127.0.0.1.

    ``users`` (name → password) turns anonymous access off and writes a password file with
    ``mosquitto_passwd``; ``acl`` is the text of an ACL file (``user …`` / ``topic readwrite …``
    lines, as generated from firmware_configs).
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
    ) -> None:
        self.binary = binary
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mektep-mosquitto-")).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = self.workdir / "mosquitto.conf"
        self.log_file = self.workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",  # and on a graceful stop: what a restart test needs
            "max_queued_messages 100000",  # the default 1000 would drop taps queued for a gateway away for long
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if users:
            lines += ["allow_anonymous false", f"password_file {self._write_passwords(users)}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(acl)
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        if os.geteuid() == 0:
            # Run as root, mosquitto drops to user "mosquitto", which cannot write its persistence
            # into our private directory: every queued message would be lost on restart.
            lines.append("user root")
        self.config.write_text("\n".join(lines) + "\n" + extra_config)

    def _write_passwords(self, users: Mapping[str, str]) -> Path:
        tool = shutil.which("mosquitto_passwd") or str(Path(self.binary).with_name("mosquitto_passwd"))
        if not os.access(tool, os.X_OK):
            raise BrokerError("mosquitto_passwd not found: it comes with the mosquitto package")
        path = self.workdir / "passwd"
        path.unlink(missing_ok=True)
        path.touch(0o600)
        for name, password in users.items():
            # -b takes the password on the command line: fine for a simulator, not for production
            done = subprocess.run([tool, "-b", str(path), name, password], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BrokerError(f"mosquitto_passwd failed for {name!r}: {done.stderr.strip() or done.stdout.strip()}")
        return path

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
        """SIGKILL, as a power cut: what was not autosaved (the last second) is lost."""
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
