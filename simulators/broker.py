"""An MQTT broker on a free port: the real Mosquitto, or the embedded amqtt broker if absent."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["Broker", "EmbeddedBroker", "MosquittoBroker", "find_mosquitto", "free_port", "start_broker"]

log = logging.getLogger(__name__)
INSTALL_HINT = "mosquitto not found: install it with `sudo apt-get install mosquitto` (Debian/Ubuntu)"


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary, or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"broker did not listen on {port}")


class Broker:
    """What the demo and the tests need of a broker."""

    host = "127.0.0.1"
    port: int

    def start(self) -> None:
        """Start (or start again, on the same port and persistence)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop it."""
        raise NotImplementedError

    def restart(self) -> None:
        """Stop and start on the same port; queued QoS 1 messages survive."""
        self.stop()
        self.start()


class MosquittoBroker(Broker):
    """The real mosquitto with a generated config, persistence on, bound to 127.0.0.1."""

    def __init__(self, binary: str, workdir: Path | None = None, port: int | None = None) -> None:
        self.binary = binary
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mektep-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = self.workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            f"log_dest file {self.workdir}/mosquitto.log\n"
            # Run as root, mosquitto drops to user "mosquitto", which cannot write its persistence
            # into our private directory: every queued message would be lost on restart.
            + ("user root\n" if os.geteuid() == 0 else "")
        )

    def start(self) -> None:
        """Start mosquitto and wait until it listens."""
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        _wait_port(self.port)

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file on the way out."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class EmbeddedBroker(Broker):
    """amqtt in a background thread: for machines without mosquitto (the demo only)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: object | None = None

    def start(self) -> None:
        """Run amqtt's broker on its own loop in a thread."""
        from amqtt.broker import Broker as AmqttBroker

        anonymous = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}}, "plugins": anonymous}
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._broker = AmqttBroker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())  # type: ignore[attr-defined]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name="amqtt")
        self._thread.start()
        ready.wait(10)
        _wait_port(self.port)

    def stop(self) -> None:
        """Stop the broker and its thread."""
        if self._loop is None or self._broker is None:
            return
        asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)  # type: ignore[attr-defined]
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = self._broker = None


def start_broker(*, allow_embedded: bool = False, workdir: Path | None = None) -> Broker:
    """Start mosquitto on a free port; without it, the embedded broker if allowed (else raise)."""
    binary = find_mosquitto()
    if binary is None:
        if not allow_embedded:
            raise FileNotFoundError(INSTALL_HINT)
        log.warning("%s; using the embedded Python broker (amqtt) instead", INSTALL_HINT)
        broker: Broker = EmbeddedBroker()
    else:
        broker = MosquittoBroker(binary, workdir)
    broker.start()
    return broker
