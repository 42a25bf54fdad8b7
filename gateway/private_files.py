"""The gateway's data directory and database are its own: made 0700 / 0600, refused when shared.

The database holds names, classes, photos and card hashes of the school's children (never an
IIN): another user of the machine must not read it. A directory is made 0700 and a database
file 0600 before SQLite opens it (SQLite gives its ``-wal`` and ``-shm`` files the database's
mode); one that group or others may use is refused, with the ``chmod`` that fixes it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from gateway.site.files import ConfigError, ConfigProblem

__all__ = ["check_private", "prepare_private"]


def prepare_private(database: Path) -> None:
    """Make the database's directory (0700) and an empty database file (0600) when they are missing."""
    # mkdir's mode applies to the last directory only: the parents are ordinary ones.
    database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def check_private(database: Path) -> None:
    """``ConfigError`` naming each of the directory, the database and its journals that others may use."""
    problems: list[ConfigProblem] = []
    candidates = [(database.parent, "700"), *((Path(f"{database}{end}"), "600") for end in ("", "-wal", "-shm"))]
    for path, wanted in candidates:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            problems.append(
                ConfigProblem(
                    str(path),
                    None,
                    "permissions",
                    f"other users may read it (mode {mode:04o}), so the gateway refuses it; run: chmod {wanted} {path}",
                )
            )
    if problems:
        raise ConfigError(problems)
