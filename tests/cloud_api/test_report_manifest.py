"""A receiver can verify a report: the signature over the manifest, then every file's digest."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from cloud_api.reports.manifest import (
    ManifestError,
    build_manifest,
    load_private_key,
    load_public_key,
    new_private_key,
    public_pem,
    sign_manifest,
    verify_files,
)

FILES = {"meals.csv": b"day,free\n2026-10-01,412\n", "meals.json": b'{"free": 412}'}


def test_a_signed_report_verifies_with_the_public_key_alone() -> None:
    key = new_private_key()
    manifest = build_manifest(FILES, report="demo-school/2026-10/meals", version=1)
    signature = sign_manifest(key, manifest)
    verify_files(load_public_key(public_pem(key)), manifest, signature, FILES)


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({**FILES, "meals.csv": b"day,free\n2026-10-01,413\n"}, "meals.csv changed"),
        ({"meals.csv": FILES["meals.csv"]}, "files differ"),
        ({**FILES, "extra.txt": b"x"}, "files differ"),
    ],
)
def test_a_changed_missing_or_extra_file_is_named(files: dict[str, bytes], why: str) -> None:
    key = new_private_key()
    manifest = build_manifest(FILES)
    with pytest.raises(ManifestError, match=why):
        verify_files(key.public_key(), manifest, sign_manifest(key, manifest), files)


def test_an_edited_manifest_or_another_key_does_not_verify() -> None:
    key, other = new_private_key(), new_private_key()
    manifest = build_manifest(FILES, version=1)
    signature = sign_manifest(key, manifest)
    with pytest.raises(ManifestError, match="signature"):
        verify_files(key.public_key(), manifest.replace(b'"version":1', b'"version":2'), signature, FILES)
    with pytest.raises(ManifestError, match="signature"):
        verify_files(other.public_key(), manifest, signature, FILES)
    with pytest.raises(ManifestError, match="signature"):
        verify_files(key.public_key(), manifest, "not base64!", FILES)


def test_the_key_round_trips_through_pem() -> None:
    key = new_private_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    again = load_private_key(pem)
    manifest = build_manifest(FILES)
    verify_files(key.public_key(), manifest, sign_manifest(again, manifest), FILES)
