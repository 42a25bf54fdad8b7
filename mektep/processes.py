"""Start the cloud and the gateway as real child processes, for the demo, the benchmarks and tests.

Each child runs in its own process group so that stopping the demo (or Ctrl-C) stops everything
it started, and a killed child (SIGKILL) can be restarted on the same files and port. Being in
their own groups, the children hear no signal sent to the demo's group: the demo stops them itself,
on Ctrl-C and, within :func:`sigterm_raises`, on SIGTERM too.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import yaml

from cloud_api.push.endpoints import DEFAULT_PUSH_SERVICE_ORIGINS
from simulators.broker import free_port

__all__ = [
    "ChildProcess",
    "CloudProcess",
    "GatewayProcess",
    "Terminated",
    "free_port",
    "mqtt_password_env",
    "sigterm_raises",
    "wait_http",
    "write_site",
]


class Terminated(BaseException):
    """SIGTERM arrived (see :func:`sigterm_raises`).

    A ``BaseException``, as ``KeyboardInterrupt`` is: no ``except Exception`` on the way up may
    swallow it, and every ``finally`` that stops a child runs.
    """


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within it, SIGTERM raises :class:`Terminated` in the main thread, as Ctrl-C raises ``KeyboardInterrupt``.

    Python's default for SIGTERM ends the process at once, no ``finally`` run: the children, each
    in its own process group, would be left running. Only the first SIGTERM raises; later ones are
    ignored until the block ends, so that a second signal cannot cut the stopping of the children
    short. Call it from the main thread (only there can a handler be set).
    """

    def _raise(signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def wait_http(url: str, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``url`` answers 200; raise at once if ``proc`` exits first, else after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {proc.returncode} before answering")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


@dataclass
class ChildProcess:
    """A ``mektep`` subcommand in its own process group, logging to a file."""

    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mektep.cli", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        log.close()

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        """Signal the process group and wait; SIGKILL if it does not go in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL, as a power cut would: no clean-up runs."""
        self.stop(signal.SIGKILL)


class CloudProcess(ChildProcess):
    """``mektep cloud serve`` on SQLite (or the URL given), with one gateway registered."""

    def __init__(self, workdir: Path, *, port: int | None = None, database_url: str | None = None) -> None:
        self.port = port or free_port()
        self.database_url = database_url or f"sqlite:///{workdir / 'cloud.db'}"
        self.admin_token = secrets.token_urlsafe(16)
        super().__init__(
            ["cloud", "serve", "--database-url", self.database_url, "--host", "127.0.0.1", "--port", str(self.port)],
            workdir / "cloud.log",
            env={"MEKTEP_CLOUD_ADMIN_TOKEN": self.admin_token, "MEKTEP_CLOUD_ENVIRONMENT": "development"},
        )

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    def allow_push_service(self, url: str) -> None:
        """List a push service (the simulator, on 127.0.0.1) next to the browsers' own: the cloud posts to
        no other address on this machine (``MEKTEP_CLOUD_PUSH_SERVICE_ORIGINS``). Call it before :meth:`start`."""
        origins = json.loads(self.env.get("MEKTEP_CLOUD_PUSH_SERVICE_ORIGINS", "null")) or DEFAULT_PUSH_SERVICE_ORIGINS
        self.env["MEKTEP_CLOUD_PUSH_SERVICE_ORIGINS"] = json.dumps([*origins, url])

    def register_gateway(self, gateway_id: str, school_id: str, key: str) -> None:
        """Register the gateway's key (runs migrations first)."""
        env = {**os.environ, **self.env, "MEKTEP_DEMO_GATEWAY_KEY": key}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mektep.cli",
                "cloud",
                "gateway-add",
                gateway_id,
                "--school",
                school_id,
                "--key-env",
                "MEKTEP_DEMO_GATEWAY_KEY",
                "--database-url",
                self.database_url,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"registering gateway {gateway_id} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start_and_wait(self) -> None:
        """Start and wait for /healthz."""
        self.start()
        wait_http(self.url + "/healthz", proc=self.proc)

    def build_reports(self, school_id: str, month: str, out: Path) -> str:
        """Issue the school's reports of ``month`` with ``mektep report build``; what it printed."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mektep.cli",
                "report",
                "build",
                "--school",
                school_id,
                "--month",
                month,
                "--out",
                str(out),
                "--database-url",
                self.database_url,
            ],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"building the reports failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout.strip()

    def events(self, school_id: str, date: str) -> list[dict[str, object]]:
        """The events of a local day, read back through the admin API."""
        response = httpx.get(
            f"{self.url}/v1/schools/{school_id}/events",
            params={"date": date},
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )
        response.raise_for_status()
        return list(response.json())


class GatewayProcess(ChildProcess):
    """``mektep gateway run`` on a site file, with its secrets in the environment."""

    def __init__(self, site_path: Path, secrets_env: dict[str, str], ui_port: int | None = None) -> None:
        self.ui_port = ui_port or free_port()
        super().__init__(
            ["gateway", "run", "--config", str(site_path), "--ui-port", str(self.ui_port), "--log-level", "WARNING"],
            site_path.parent / "gateway.log",
            env=secrets_env,
        )

    @property
    def url(self) -> str:
        """Base URL of the gateway's local page."""
        return f"http://127.0.0.1:{self.ui_port}"

    def start_and_wait(self) -> None:
        """Start and wait for its page."""
        self.start()
        wait_http(self.url + "/healthz", proc=self.proc)

    def status(self) -> dict[str, object]:
        """The gateway's counters."""
        return dict(httpx.get(self.url + "/api/status", timeout=5).json())

    def wait_for_roster(self, timeout_s: float = 20.0) -> None:
        """Wait until the gateway holds a roster from the cloud; ``TimeoutError`` saying its sync state."""
        deadline = time.monotonic() + timeout_s
        while (roster := self.status()["roster"])["version"] == 0:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise TimeoutError(f"the gateway got no roster in {timeout_s:g} s: {roster}")
            time.sleep(0.1)


def write_site(
    path: Path,
    *,
    school_id: str,
    gateway_id: str,
    cloud_url: str,
    data_dir: Path,
    readers: list[dict[str, object]],
    terminals: list[str],
    mqtt_port: int | None,
    retry_max_s: float = 2.0,
    sections: dict[str, object] | None = None,
    broker_users: bool = False,
) -> dict[str, str]:
    """Write a site file and return the environment that holds its (freshly made) secrets.

    ``broker_users`` gives the gateway a user name on the broker and every terminal a password, so
    that the broker can be generated from the site as a school's is
    (:func:`simulators.broker.start_site_broker`); the passwords are in the environment returned,
    under :func:`mqtt_password_env`.

    ``sections`` adds top-level sections as they are (``relays``, ``osdp_buses``).
    """
    site: dict[str, object] = {
        "school": {"id": school_id, "name": f"{school_id} (demo)"},
        "gateway": {
            "id": gateway_id,
            "key": {"env": "MEKTEP_GATEWAY_KEY"},
            "credential_key": {"env": "MEKTEP_CREDENTIAL_KEY"},
            "data_dir": str(data_dir),
        },
        "cloud": {"url": cloud_url, "retry_initial_s": 0.2, "retry_max_s": retry_max_s},
        "readers": readers,
        "terminals": [{"id": t} for t in terminals],
        **(sections or {}),
    }
    env = {"MEKTEP_GATEWAY_KEY": secrets.token_hex(32), "MEKTEP_CREDENTIAL_KEY": secrets.token_hex(32)}
    if mqtt_port is not None:
        site["mqtt"] = {"host": "127.0.0.1", "port": mqtt_port, "client_id": f"{gateway_id}-gateway"}
        if broker_users:
            site["mqtt"] |= {"username": gateway_id, "password": {"env": mqtt_password_env(gateway_id)}}
            site["terminals"] = [{"id": t, "password": {"env": mqtt_password_env(t)}} for t in terminals]
            env |= {mqtt_password_env(user): secrets.token_urlsafe(16) for user in [gateway_id, *terminals]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    return env


def mqtt_password_env(user: str) -> str:
    """The environment variable that holds a broker user's password in a site :func:`write_site` wrote."""
    return "MEKTEP_MQTT_PASSWORD_" + "".join(ch if ch.isalnum() else "_" for ch in user.upper())
