"""Backup and restore of an instance: the database and the key folder, in one 0600 archive.

A backup is a tar archive holding ``manifest.json`` (format, schema revision,
the audit chain's head, each file's SHA-256), the database (SQLite's online
backup API: a consistent copy while the service runs; ``pg_dump`` for
PostgreSQL) and the key folder's ``*.key`` files. Without the key folder the
stored templates cannot be opened by anyone (by design), so the archive is
written 0600, never over an existing file, and must be kept as the keys are.

Restoring an older backup must not bring back the face data of stays deleted
since: :func:`restore` reads the deletions recorded in the audit log of the
database it replaces, and in any deletion log exported with
``lethe audit deletions`` (kept off the server like checkpoints), and
re-applies each one (:func:`reapply`) before the service sees the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service.errors import OperatorError
from service.stays.datasubject import erase_stay
from service.stays.forget import forget
from service.storage import audit, checkpoints, migrate
from service.storage.db import Database
from service.storage.tables import AuditEntry, Stay

BACKUP_TYPE = "lethe.backup"
BACKUP_VERSION = 1
DELETIONS_TYPE = "lethe.deletions"
SQLITE_MEMBER = "database.sqlite3"
PG_MEMBER = "database.pgdump"
#: the audit actions after which a stay holds no face data, and the status each leaves it in (None: erased)
DELETING_ACTIONS: dict[str, str | None] = {
    "stay.checkout": "checked_out",
    "stay.cancel": "cancelled",
    "stay.expire": "expired",
    "stay.no-show": "no_show",
    "stay.purge": None,
    "stay.erase": None,
}
ACTIVE = ("reserved", "checked_in")


@dataclass(frozen=True)
class Deletion:
    """A stay whose face data was deleted: its random id, the audit action and when (no personal data)."""

    stay_id: str
    action: str
    at: dt.datetime

    def to_json(self) -> dict[str, str]:
        return {"stay": self.stay_id, "action": self.action, "at": self.at.isoformat()}


def deletions(session: Session) -> list[Deletion]:
    """Every deletion of a stay's face data the audit log records, oldest first."""
    rows = session.execute(
        select(AuditEntry.subject, AuditEntry.action, AuditEntry.at)
        .where(AuditEntry.action.in_(DELETING_ACTIONS), AuditEntry.subject.is_not(None))
        .order_by(AuditEntry.id)
    )
    return [Deletion(str(subject), action, at) for subject, action, at in rows]


def deletions_document(found: Sequence[Deletion]) -> dict[str, Any]:
    """The file ``lethe audit deletions --output`` writes."""
    return {"type": DELETIONS_TYPE, "deletions": [d.to_json() for d in found]}


def read_deletions(data: object, *, source: str) -> list[Deletion]:
    """The deletions in a :func:`deletions_document`; raises OperatorError naming ``source`` if it is not one."""
    items = data.get("deletions") if isinstance(data, dict) and data.get("type") == DELETIONS_TYPE else None
    if not isinstance(items, list):
        raise OperatorError(f"{source} is not a deletion log (lethe audit deletions --output)")
    try:
        found = [Deletion(str(i["stay"]), str(i["action"]), dt.datetime.fromisoformat(i["at"])) for i in items]
    except (KeyError, TypeError, ValueError):
        raise OperatorError(f"{source} has a malformed deletion") from None
    if any(d.action not in DELETING_ACTIONS for d in found):
        raise OperatorError(f"{source} names an action that is not a deletion")
    return found


def reapply(session: Session, found: Iterable[Deletion], *, actor: str) -> int:
    """Delete again, in the caller's transaction, the face data of every stay in ``found`` that holds some.

    A stay still active is closed with the status its deletion left it in; an
    erased stay is erased again. Each re-applied deletion is audited
    (``stay.deletion-reapplied`` naming the original action). Returns how many stays changed.
    """
    changed = 0
    latest: dict[str, Deletion] = {}
    for deletion in found:
        latest[deletion.stay_id] = deletion
    for stay_id, deletion in latest.items():
        stay = session.get(Stay, stay_id)
        if stay is None:
            continue
        status = DELETING_ACTIONS[deletion.action]
        if deletion.action == "stay.erase":
            erase_stay(session, stay, actor=actor, reason=f"re-applied after restore: {deletion.action}")
            changed += 1
            continue
        forgotten = forget(session, [stay_id], sessions="all")
        reopened = stay.status in ACTIVE
        if reopened and status is not None:
            session.execute(update(Stay).where(Stay.id == stay_id).values(status=status, checked_out_at=deletion.at))
        if forgotten.templates or forgotten.data_keys or reopened:
            changed += 1
            audit.append(
                session,
                audit.Entry(
                    actor=actor,
                    action="stay.deletion-reapplied",
                    subject=stay_id,
                    details={
                        "original": deletion.action,
                        "templates_deleted": forgotten.templates,
                        "data_keys_deleted": forgotten.data_keys,
                    },
                ),
            )
    return changed


@dataclass(frozen=True)
class BackupReport:
    path: Path
    schema: str | None
    audit_entries: int
    database: str


def backup(database_url: str, key_dir: Path, output: Path) -> BackupReport:
    """Write a consistent backup of the database and ``key_dir`` to ``output`` (0600; refused if it exists)."""
    if output.exists():
        raise OperatorError(f"{output} exists; choose another file")
    with tempfile.TemporaryDirectory(prefix="lethe-backup-") as work:
        folder = Path(work)
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite":
            member = SQLITE_MEMBER
            _sqlite_copy(Path(url.database or ""), folder / member)
            copy_url = f"sqlite:///{folder / member}"
        else:
            member = PG_MEMBER
            _pg_dump(database_url, folder / member)
            copy_url = database_url
        schema, head = _describe(copy_url)
        keys = sorted(key_dir.glob("*.key"))
        if not keys:
            raise OperatorError(f"the key folder {key_dir} holds no keys; nothing to back up with the database")
        files = {member: folder / member, **{f"keys/{path.name}": path for path in keys}}
        manifest = {
            "type": BACKUP_TYPE,
            "version": BACKUP_VERSION,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "database": url.get_backend_name(),
            "schema": schema,
            "audit": head.to_json(),
            "files": {name: _sha256(path) for name, path in files.items()},
        }
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
            for name, path in files.items():
                archive.add(path, arcname=name, recursive=False)
    return BackupReport(output, schema, head.entries, manifest["database"])


@dataclass(frozen=True)
class RestoreReport:
    schema_before: str | None
    audit_entries: int
    reapplied: int
    deletions_seen: int


def restore(
    archive_path: Path, database_url: str, key_dir: Path, *, deletion_logs: Sequence[Path] = (), actor: str
) -> RestoreReport:
    """Replace the database and key folder with the backup's, bring the schema up to date, re-apply deletions.

    Deletions come from the database being replaced (if it can be read) and
    from ``deletion_logs``; they are re-applied in one transaction before
    this returns, so a stay deleted after the backup never comes back.
    """
    known = [d for path in deletion_logs for d in read_deletions(_read_json(path), source=str(path))]
    known += _current_deletions(database_url)
    with tempfile.TemporaryDirectory(prefix="lethe-restore-") as work:
        folder = Path(work)
        manifest = _unpack(archive_path, folder)
        url = make_url(database_url)
        if manifest["database"] != url.get_backend_name():
            raise OperatorError(
                f"the backup holds a {manifest['database']} database; LETHE_DATABASE_URL is {url.get_backend_name()}"
            )
        _restore_keys(folder / "keys", key_dir)
        if url.get_backend_name() == "sqlite":
            _sqlite_replace(folder / SQLITE_MEMBER, Path(url.database or ""))
        else:
            _pg_restore(folder / PG_MEMBER, database_url)
    migrate.upgrade(database_url, key_dir=key_dir)
    db = Database(database_url)
    try:
        with db.transaction() as session:
            changed = reapply(session, known, actor=actor)
            audit.append(
                session,
                audit.Entry(
                    actor=actor,
                    action="instance.restore",
                    details={
                        "backup_created_at": str(manifest["created_at"]),
                        "backup_audit_entries": int(manifest["audit"]["entries"]),
                        "deletions_reapplied": changed,
                    },
                ),
            )
        db.erase_copies()
    finally:
        db.dispose()
    return RestoreReport(manifest["schema"], manifest["audit"]["entries"], changed, len(known))


def _current_deletions(database_url: str) -> list[Deletion]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return []
    if migrate.current(database_url) is None:
        return []
    db = Database(database_url)
    try:
        with db.transaction() as session:
            return deletions(session)
    finally:
        db.dispose()


def _describe(url: str) -> tuple[str | None, Any]:
    db = Database(url)
    try:
        with db.transaction() as session:
            head, _last = checkpoints.chain_head(session)
            schema = session.connection().exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return schema, head
    finally:
        db.dispose()


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: one consistent snapshot, however many writers the service has."""
    if not source.exists():
        raise OperatorError(f"there is no database at {source}")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _sqlite_replace(copy: Path, target: Path) -> None:
    """Write the backup's database over ``target`` through SQLite (its WAL and locks honoured), not by file copy."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not target.exists():
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(copy)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _pg_args(database_url: str) -> tuple[str, dict[str, str], list[str]]:
    """A libpq URL without the password (given in the environment), and ``--schema`` when the URL sets one."""
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    options = str(url.query.get("options", ""))
    extra = []
    if options.startswith("-csearch_path="):
        extra = [f"--schema={options.removeprefix('-csearch_path=')}"]
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return libpq, env, extra


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise OperatorError(f"{name} is not installed (Debian: apt install postgresql-client); it is needed here")
    return found


def _pg_dump(database_url: str, target: Path) -> None:
    libpq, env, extra = _pg_args(database_url)
    command = [_pg_tool("pg_dump"), "--format=custom", f"--file={target}", *extra, libpq]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OperatorError(f"pg_dump failed: {done.stderr.strip()[:300]}")


def _pg_restore(dump: Path, database_url: str) -> None:
    libpq, env, extra = _pg_args(database_url)
    command = [_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", *extra, f"--dbname={libpq}", str(dump)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OperatorError(f"pg_restore failed: {done.stderr.strip()[:300]}")


def _restore_keys(source: Path, key_dir: Path) -> None:
    """Put the backup's key files in ``key_dir`` (0700, files 0600); keys made since are kept, not deleted."""
    key_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a fresh server: the instance folder too
    key_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(key_dir, 0o700)
    for path in sorted(source.glob("*.key")):
        target = key_dir / path.name
        data = path.read_bytes()
        if target.exists():
            if target.read_bytes() != data:
                raise OperatorError(f"{target} differs from the backup's copy; move it away first")
            continue
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def _unpack(archive_path: Path, folder: Path) -> dict[str, Any]:
    """Extract the archive (regular files only, named in its manifest, hashes checked); return the manifest."""
    try:
        with tarfile.open(archive_path, mode="r:gz") as archive:
            manifest_member = archive.extractfile("manifest.json")
            if manifest_member is None:
                raise KeyError("manifest.json")
            manifest = json.loads(manifest_member.read())
            if manifest.get("type") != BACKUP_TYPE or manifest.get("version") != BACKUP_VERSION:
                raise OperatorError(f"{archive_path} is not a Lethe backup of version {BACKUP_VERSION}")
            (folder / "keys").mkdir(mode=0o700)
            for name, digest in manifest["files"].items():
                if name not in (SQLITE_MEMBER, PG_MEMBER) and not (
                    name.startswith("keys/") and "/" not in name[5:] and name.endswith(".key")
                ):
                    raise OperatorError(f"{archive_path} names an unexpected file {name!r}")
                member = archive.extractfile(name)
                if member is None:
                    raise KeyError(name)
                data = member.read()
                if hashlib.sha256(data).hexdigest() != digest:
                    raise OperatorError(f"{archive_path}: {name} does not match its SHA-256 in the manifest")
                fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
    except (tarfile.TarError, KeyError, ValueError, OSError) as exc:
        raise OperatorError(f"{archive_path} is not a readable Lethe backup: {exc}") from None
    return dict(manifest)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OperatorError(f"{path} is not JSON: {exc}") from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))
