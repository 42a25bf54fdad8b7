"""A signed manifest of a report's files, so that the receiver can verify nothing changed.

The manifest lists every file with its size and SHA-256, and is signed with the deployment's
Ed25519 key (``cryptography``). The receiver needs only the public key: it checks the signature
over the manifest's exact bytes, then each file's digest.

    manifest = build_manifest({"meals.xlsx": data, ...}, report_id="…", version=1)
    signature = sign_manifest(private_key, manifest)          # base64, detached
    verify_files(public_key, manifest, signature, files)      # raises ManifestError
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ManifestError",
    "build_manifest",
    "load_private_key",
    "load_public_key",
    "new_private_key",
    "public_pem",
    "sign_manifest",
    "verify_files",
]


class ManifestError(ValueError):
    """A manifest's signature or a file's digest does not match."""


def build_manifest(files: Mapping[str, bytes], **about: Any) -> bytes:
    """The canonical manifest bytes: sorted keys, no white space, so both sides hash the same text."""
    entries = [
        {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, data in sorted(files.items())
    ]
    return json.dumps({**about, "files": entries}, sort_keys=True, separators=(",", ":")).encode()


def sign_manifest(key: Ed25519PrivateKey, manifest: bytes) -> str:
    """The detached Ed25519 signature of ``manifest``, base64."""
    return base64.b64encode(key.sign(manifest)).decode()


def verify_files(key: Ed25519PublicKey, manifest: bytes, signature: str, files: Mapping[str, bytes]) -> None:
    """Check the signature, then that ``files`` are exactly the manifest's files, byte for byte."""
    try:
        key.verify(base64.b64decode(signature, validate=True), manifest)
    except (InvalidSignature, ValueError) as exc:
        raise ManifestError("the manifest's signature does not verify") from exc
    listed = {entry["name"]: entry for entry in json.loads(manifest)["files"]}
    if set(listed) != set(files):
        raise ManifestError(f"files differ from the manifest: {sorted(set(listed) ^ set(files))}")
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != listed[name]["sha256"]:
            raise ManifestError(f"{name} changed since it was signed")


def new_private_key() -> Ed25519PrivateKey:
    """A fresh deployment key (``mektep cloud init`` keeps it)."""
    return Ed25519PrivateKey.generate()


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM private key; refuse any key that is not Ed25519."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ManifestError("the deployment's report key must be Ed25519")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Read a SubjectPublicKeyInfo PEM public key; refuse any key that is not Ed25519."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError("a report receiver's key must be Ed25519")
    return key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    """The public half, as the receivers are given it."""
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
