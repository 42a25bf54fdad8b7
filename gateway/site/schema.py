"""JSON Schema of site files and device profiles, for editors (YAML language servers) and CI.

The schemas are generated from the pydantic models (:mod:`gateway.site.config`, :mod:`gateway.site.profiles`)
and committed under ``firmware_configs/schema/``; a test keeps them up to date. A YAML file points
an editor at its schema with a first line such as::

    # yaml-language-server: $schema=../schema/site.schema.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.site.config import SiteConfig
from gateway.site.profiles import profile_schema

__all__ = ["SCHEMA_DIR", "render_schemas", "write_schemas"]

SCHEMA_DIR = Path("firmware_configs/schema")
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _document(schema: dict[str, Any], title: str, description: str) -> dict[str, Any]:
    return {"$schema": _DIALECT, **schema, "title": title, "description": description}


def render_schemas() -> dict[str, str]:
    """File name → the text of that schema (stable: the same models give the same bytes)."""
    documents = {
        "site.schema.json": _document(
            SiteConfig.model_json_schema(), "Mektep Gate site file", "One school: gateway, readers, relays, terminals."
        ),
        "profile.schema.json": _document(
            profile_schema(), "Mektep Gate device profile", "One reader or relay board model: its settings as data."
        ),
    }
    return {name: json.dumps(doc, indent=2, ensure_ascii=False) + "\n" for name, doc in documents.items()}


def write_schemas(directory: str | Path) -> list[Path]:
    """Write every schema into ``directory`` (created if need be); returns the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
