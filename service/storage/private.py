"""Files and folders that hold personal data: owner-only, whatever the umask.

The instance folder is made 0700 (one found looser is tightened, with a
warning, as long as this user owns it); the SQLite database is created 0600
before SQLite first opens it, so its ``-wal`` and ``-shm`` files, which SQLite
creates with the database's mode, are 0600 too; exports and receipts the CLI
writes are 0600.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from service.errors import OperatorError

log = logging.getLogger(__name__)
FOLDER_MODE = 0o700
FILE_MODE = 0o600


class PrivacyError(OperatorError):
    """A folder or file that holds personal data is open to others and cannot be tightened."""


def private_folder(path: Path) -> None:
    """Create ``path`` (and its parents) mode 0700, or tighten an existing one to 0700 with a warning."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    _tighten(path, FOLDER_MODE, "folder")


def private_file(path: Path, *companions: str) -> None:
    """Create ``path`` empty with mode 0600 if it is missing, or tighten an existing one to 0600 with a warning.

    ``companions`` are suffixes of files beside it (SQLite's ``-wal``, ``-shm``) tightened too if they exist.
    """
    for suffix in companions:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _tighten(companion, FILE_MODE, "file")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE, "file")
    else:
        os.fchmod(fd, FILE_MODE)  # O_CREAT's mode is filtered by the umask; this is not
        os.close(fd)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (replacing it) as a 0600 file; the content never sits in a looser file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, FILE_MODE)
        handle.write(text)


def write_new_private(path: Path, text: str) -> None:
    """Write ``text`` to a new 0600 file at ``path``; :class:`FileExistsError` if one is there (never written over)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _tighten(path: Path, mode: int, what: str) -> None:
    found = stat.S_IMODE(path.stat().st_mode)
    if not found & 0o077:
        return
    try:
        os.chmod(path, mode)
    except PermissionError:
        raise PrivacyError(
            f"{path} is readable by others (mode {found:04o}) and not ours to fix; chmod {mode:04o} it"
        ) from None
    log.warning("%s %s was mode %04o (open to other users); set it to %04o", what, path, found, mode)
