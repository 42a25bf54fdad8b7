"""nginx in front of several API processes, as a deployment runs it: for the tests and the benchmark.

    with load_balancer([8001, 8002], workdir) as lb:
        ...lb.url...        # gateways and browsers are given this one address

The config is the one a deployment would start from (see the README): round robin over the API
processes, keep-alive connections to them, and a request that could not reach a process (refused,
reset, or answered 502/503/504 before anything was stored) tried once on the next one. A POST is
tried again too (``non_idempotent``): every write the cloud takes is idempotent (an ingest batch by
its events' ids, a roster pull by its signature), so a retry stores nothing twice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from simulators.broker import free_port

__all__ = ["LoadBalancer", "load_balancer", "nginx_conf", "nginx_missing"]

NGINX_HINT = "nginx is not installed (apt-get install nginx-light)"


def _nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def nginx_missing() -> str | None:
    """Why nginx cannot start here, or ``None``."""
    return None if _nginx() else NGINX_HINT


def nginx_conf(upstream_ports: Sequence[int], port: int, workdir: Path) -> str:
    """An nginx.conf balancing 127.0.0.1:``port`` over the API processes on ``upstream_ports``."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstream_ports)
    # Started as root, nginx's workers would drop to "nobody", who cannot write the temporary
    # files (a large request body) into a folder of ours: a test's or a benchmark's nginx stays root.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return f"""\
{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$request_method $uri $status $upstream_addr';
    access_log {workdir}/access.log upstreams;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    client_max_body_size 8m;        # an ingest batch is at most 4 MiB; a photo less
    upstream cloud {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://cloud;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


@dataclass
class LoadBalancer:
    """A running nginx: ``url`` is the one address the clients are given."""

    port: int
    proc: subprocess.Popen[bytes]

    workdir: Path

    @property
    def url(self) -> str:
        """Base URL of the balanced API."""
        return f"http://127.0.0.1:{self.port}"

    def served(self, path: str) -> Counter[str]:
        """How many requests for ``path`` each API process answered (by ``host:port``), from the log."""
        log = self.workdir / "access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return Counter(
            address.strip()
            for line in lines
            if len(parts := line.split(" ", 3)) == 4 and parts[1] == path
            for address in parts[3].split(",")
        )


@contextlib.contextmanager
def load_balancer(upstream_ports: Sequence[int], workdir: Path, port: int | None = None) -> Iterator[LoadBalancer]:
    """Start nginx over ``upstream_ports`` with its files in ``workdir``; stop it afterwards."""
    binary = _nginx()
    if binary is None:
        raise RuntimeError(NGINX_HINT)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_conf(upstream_ports, port, workdir))
    check = subprocess.run([binary, "-t", "-c", str(conf), "-p", str(workdir)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx refused its config: {check.stderr.strip()}")
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(workdir)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: see {workdir / 'error.log'}") from None
                time.sleep(0.05)
        yield LoadBalancer(port, proc, workdir)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
