"""A receipt is issued only once the deleted bytes are gone from SQLite's file and WAL, even with a reader open."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.storage.tables import Stay, StayKey, StoredTemplate
from tests.helpers.service import Actions, assert_problem, near, random_template


@pytest.fixture
def sqlite_actions(actions: Actions) -> Actions:
    if not actions.svc.db.is_sqlite:
        pytest.skip("SQLite's file and WAL (PostgreSQL: docs/operations.md, Deletion on disk)")
    return actions


def _checked_in(actions: Actions) -> tuple[str, list[bytes]]:
    """A guest checked in; the stored ciphertext and wrapped seed (what must vanish from the disk)."""
    reference = random_template(7)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    with actions.svc.db.transaction() as session:
        stay = session.scalars(select(Stay).where(Stay.reference == code.reference)).one()
        secrets = [
            t.ciphertext for t in session.scalars(select(StoredTemplate).where(StoredTemplate.stay_id == stay.id))
        ]
        secrets.append(session.get_one(StayKey, stay.id).wrapped_seed)
    assert len(secrets) == 2
    return code.reference, secrets


def _database_file(actions: Actions) -> Path:
    return Path(actions.svc.db.engine.url.database or "")


def _on_disk(path: Path, secrets: list[bytes]) -> list[str]:
    """Which of ``secrets`` any file of the database (main file with its free pages, WAL, shared memory) holds."""
    found = []
    for suffix in ("", "-wal", "-shm"):
        file = path.with_name(path.name + suffix)
        data = file.read_bytes() if file.exists() else b""
        found += [f"{file.name}: secret {n}" for n, secret in enumerate(secrets) if secret in data]
    return found


def _reader(path: Path) -> sqlite3.Connection:
    """Another connection holding a read snapshot taken before the checkout (as a long report or a shell would)."""
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM templates").fetchone()[0] == 1
    return reader


def _write_at_once(path: Path) -> None:
    """Take SQLite's write lock without waiting for it (busy timeout 0), as another request would, and commit."""
    writer = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM request_nonces WHERE expires_at < '1970-01-02'")
        writer.execute("COMMIT")
    finally:
        writer.close()


def _status(path: Path, reference: str) -> str:
    with sqlite3.connect(path) as probe:
        return str(probe.execute("SELECT status FROM stays WHERE reference = ?", (reference,)).fetchone()[0])


def test_checkout_waits_for_an_open_snapshot_then_leaves_no_copy(sqlite_actions: Actions) -> None:
    actions = sqlite_actions
    reference, secrets = _checked_in(actions)
    path = _database_file(actions)
    assert _on_disk(path, secrets)  # the test can see them: it would see them after, too
    reader = _reader(path)
    answers: list[Any] = []
    checkout = threading.Thread(
        target=lambda: answers.append(
            actions.client.post(f"/pms/v1/reservations/{reference}/checkout", headers=actions.pms)
        )
    )
    try:
        checkout.start()
        committed = threading.Event()
        while not committed.wait(0.005) and checkout.is_alive():  # bounded by the checkout's own time limit
            if _status(path, reference) == "checked_out":
                committed.set()
        assert committed.is_set(), answers and answers[0].json
        assert checkout.is_alive(), "a receipt was issued while the deleted bytes were still on disk"
        assert _on_disk(path, secrets)  # the reader's snapshot still needs them
        _write_at_once(path)  # the wait holds no lock: other writers go on
    finally:
        reader.rollback()
        reader.close()
    checkout.join(timeout=30)
    assert not checkout.is_alive()
    assert answers[0].status_code == 200, answers[0].json
    assert _on_disk(path, secrets) == []


def test_a_snapshot_held_past_the_limit_gets_deletion_pending_then_the_bytes_go(
    sqlite_actions: Actions, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = sqlite_actions
    reference, secrets = _checked_in(actions)
    path = _database_file(actions)
    monkeypatch.setattr(actions.svc.db, "erase_timeout_s", 0.3)
    reader = _reader(path)
    try:
        answer = actions.client.post(f"/pms/v1/reservations/{reference}/checkout", headers=actions.pms)
        assert_problem(answer, 503, "deletion-pending")
        assert "receipt" not in answer.json
        assert _status(path, reference) == "checked_out"
    finally:
        reader.rollback()
        reader.close()
    actions.svc.db.erase_copies()
    assert _on_disk(path, secrets) == []
