"""A report version's files, one row each, as bytes: written once when the version is issued.

Kept apart from the version's row so that listing versions, checking the newest digest or leasing a
delivery never reads megabytes (a big school's attendance files are some 8 MB a version), and so
that a download reads only the file asked for. The caller owns the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from sqlalchemy import Connection, insert, select

from cloud_api.db.schema import report_files

__all__ = ["VersionKey", "file_names", "read_file", "read_files", "store_files"]


class VersionKey(NamedTuple):
    """One issued version of one report."""

    subject: str
    month: str
    kind: str
    version: int


def _of(key: VersionKey) -> tuple[object, ...]:
    f = report_files.c
    return (f.subject == key.subject, f.month == key.month, f.kind == key.kind, f.version == key.version)


def store_files(conn: Connection, key: VersionKey, files: Mapping[str, bytes]) -> None:
    """Keep the files of a version being issued."""
    conn.execute(insert(report_files), [{**key._asdict(), "name": name, "data": data} for name, data in files.items()])


def read_files(conn: Connection, key: VersionKey) -> dict[str, bytes]:
    """Every file of a version, by name (empty if there is no such version)."""
    f = report_files.c
    return {name: bytes(data) for name, data in conn.execute(select(f.name, f.data).where(*_of(key)))}


def read_file(conn: Connection, key: VersionKey, name: str) -> bytes | None:
    """One file of a version, or None."""
    f = report_files.c
    data = conn.execute(select(f.data).where(*_of(key), f.name == name)).scalar()
    return None if data is None else bytes(data)


def file_names(conn: Connection, subject: str, kinds: Iterable[str]) -> dict[VersionKey, list[str]]:
    """The file names of every version of ``subject``'s reports of ``kinds``, without their bytes."""
    f = report_files.c
    names: dict[VersionKey, list[str]] = defaultdict(list)
    query = select(f.subject, f.month, f.kind, f.version, f.name).where(f.subject == subject, f.kind.in_(list(kinds)))
    for subject_, month, kind, version, name in conn.execute(query.order_by(f.name)):
        names[VersionKey(subject_, month, kind, version)].append(name)
    return names
