"""`mektep cloud serve --certfile --keyfile` serves the API over TLS (a real process, a real handshake)."""

from __future__ import annotations

import ipaddress
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from mektep.cli import app
from mektep.processes import ChildProcess, free_port


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mektep test cloud")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    keyfile.chmod(0o600)
    return certfile, keyfile


def test_the_cloud_serves_https_with_the_certificate_given(tmp_path: Path) -> None:
    certfile, keyfile = self_signed(tmp_path)
    port = free_port()
    args = ["cloud", "serve", "--database-url", f"sqlite:///{tmp_path / 'cloud.db'}", "--port", str(port)]
    cloud = ChildProcess(
        [*args, "--certfile", str(certfile), "--keyfile", str(keyfile)],
        tmp_path / "cloud.log",
        env={"MEKTEP_CLOUD_ENVIRONMENT": "development", "MEKTEP_CLOUD_ADMIN_TOKEN": "t" * 32},
    )
    cloud.start()
    try:
        url = f"https://127.0.0.1:{port}"
        trust = ssl.create_default_context(cafile=str(certfile))
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while True:  # wait_http cannot trust our certificate: wait here with it
            try:
                answer = httpx.get(f"{url}/healthz", verify=trust, timeout=2.0)
                break
            except httpx.TransportError:
                assert cloud.running, (tmp_path / "cloud.log").read_text()
                assert datetime.now(UTC) < deadline, "the cloud did not answer over TLS"
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.http_version == "HTTP/1.1"
        # A client that does not trust the certificate is refused in the handshake; plain http is no answer.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=2.0)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0)
    finally:
        cloud.stop()


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    certfile, _ = self_signed(tmp_path)
    result = CliRunner().invoke(app, ["cloud", "serve", "--certfile", str(certfile)])
    assert result.exit_code == 2 and "--keyfile" in result.output
