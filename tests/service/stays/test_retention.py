"""Retention purge and physical deletion: nothing of a template is left after checkout and purge."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.stays.reservations import create_reservation, stay_by_reference
from service.stays.retention import purge, purge_all
from service.storage.audit import verify_chain
from service.storage.tables import AuditEntry, Base, CheckinSession, Stay, StayKey, StoredTemplate
from tests.helpers.service import Actions, near, random_template

DAY = dt.timedelta(days=1)


def checked_in(actions: Actions, seed: int) -> str:
    reference = random_template(seed)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    return code.reference


def move_dates(actions: Actions, reference: str, arrival: dt.date, departure: dt.date) -> None:
    with actions.svc.db.transaction() as session:
        stay = stay_by_reference(session, reference)
        stay.arrival, stay.departure = arrival, departure


def count(session: Session, model: type[Base]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_purge_expires_overdue_stays_and_no_shows_only(actions: Actions) -> None:
    today = dt.datetime.now(dt.UTC).date()
    overdue = checked_in(actions, 31)
    move_dates(actions, overdue, today - 5 * DAY, today - 3 * DAY)
    current = checked_in(actions, 32)
    with actions.svc.db.transaction() as session:
        no_show = create_reservation(
            session, actions.svc.keyring, guest_name="N. Show", arrival=today - 3 * DAY, departure=today, actor="t"
        ).stay.reference
        future = create_reservation(
            session,
            actions.svc.keyring,
            guest_name="F. Uture",
            arrival=today + DAY,
            departure=today + 2 * DAY,
            actor="t",
        ).stay.reference
    with actions.svc.db.transaction() as session:
        report = purge(session, actor="test")
    assert (report.expired_stays, report.no_shows, report.templates, report.data_keys) == (1, 1, 1, 2)
    with actions.svc.db.transaction() as session:
        assert stay_by_reference(session, overdue).status == "expired"
        assert stay_by_reference(session, no_show).status == "no_show"
        assert stay_by_reference(session, current).status == "checked_in"
        assert stay_by_reference(session, future).status == "reserved"
        assert count(session, StoredTemplate) == 1
        assert count(session, StayKey) == 2
        actions_seen = session.scalars(select(AuditEntry.action)).all()
        assert {"stay.expire", "stay.no-show"} <= set(actions_seen)
        assert verify_chain(session).ok
    again = purge_all(actions.svc.db)
    assert again.stays == 0
    assert again.templates == 0


def test_purge_deletes_abandoned_sessions(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    with actions.svc.db.transaction() as session:
        session.get_one(CheckinSession, str(opened.session_id)).expires_at = dt.datetime.now(dt.UTC) - 2 * DAY
    report = purge_all(actions.svc.db)
    assert report.sessions == 1
    with actions.svc.db.transaction() as session:
        assert session.get(CheckinSession, str(opened.session_id)) is None


def test_purge_in_batches(actions: Actions) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with actions.svc.db.transaction() as session:
        for i in range(7):
            create_reservation(
                session,
                actions.svc.keyring,
                guest_name=f"G{i}",
                arrival=today - 9 * DAY,
                departure=today - 8 * DAY,
                actor="t",
            )
    report = purge_all(actions.svc.db, batch=3)
    assert report.no_shows == 7
    with actions.svc.db.transaction() as session:
        assert count(session, StayKey) == 0
        assert session.scalar(select(func.count()).select_from(Stay).where(Stay.status == "no_show")) == 7


def _ciphertexts(actions: Actions) -> list[bytes]:
    with actions.svc.db.transaction() as session:
        found = [bytes(c) for c in session.scalars(select(StoredTemplate.ciphertext))]
        found += [bytes(w) for w in session.scalars(select(StayKey.wrapped_seed))]
    assert found
    return found


def _needles(blobs: list[bytes]) -> list[bytes]:
    # a 24-byte slice from the middle of each blob: long enough never to match by chance
    return [b[len(b) // 2 - 12 : len(b) // 2 + 12] for b in blobs]


def _sqlite_bytes(url: str) -> bytes:
    path = Path(url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _postgres_rows(actions: Actions) -> bytes:
    dump = bytearray()
    with actions.svc.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(table.select()):
                for value in row:
                    dump += value if isinstance(value, bytes | memoryview) else str(value).encode()
        dump += repr(session.execute(text("SELECT * FROM alembic_version")).all()).encode()
    return bytes(dump)


def test_no_template_bytes_remain_after_checkout_and_purge(actions: Actions) -> None:
    today = dt.datetime.now(dt.UTC).date()
    by_checkout = checked_in(actions, 41)
    by_purge = checked_in(actions, 42)
    blobs = _ciphertexts(actions)
    needles = _needles(blobs)
    url = actions.svc.db.url
    sqlite = url.startswith("sqlite")
    haystack = _sqlite_bytes(url) if sqlite else _postgres_rows(actions)
    assert all(n in haystack for n in needles), "the scan must see the stored bytes before deletion"

    answer = actions.client.post(f"/pms/v1/reservations/{by_checkout}/checkout", headers=actions.pms)
    assert answer.status_code == 200
    move_dates(actions, by_purge, today - 4 * DAY, today - 2 * DAY)
    assert purge_all(actions.svc.db).expired_stays == 1

    haystack = _sqlite_bytes(url) if sqlite else _postgres_rows(actions)
    assert [n in haystack for n in needles] == [False] * len(needles)
    if sqlite:
        with actions.svc.db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
            free_pages = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
        assert free_pages is not None  # free pages, if any, were zeroed by secure_delete and scanned above


def test_concurrent_purges_process_each_stay_once(actions: Actions) -> None:
    import threading

    from service.storage.db import Database

    today = dt.datetime.now(dt.UTC).date()
    with actions.svc.db.transaction() as session:
        for i in range(60):
            create_reservation(
                session,
                actions.svc.keyring,
                guest_name=f"G{i}",
                arrival=today - 9 * DAY,
                departure=today - 8 * DAY,
                actor="t",
            )
    hosts = [Database(actions.svc.db.url) for _ in range(3)]  # three "hosts", each its own engine
    reports = []
    errors: list[BaseException] = []

    def run(db: Database) -> None:
        try:
            reports.append(purge_all(db, batch=7))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(db,)) for db in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for db in hosts:
        db.dispose()
    assert errors == []
    assert sum(r.no_shows for r in reports) == 60
    with actions.svc.db.transaction() as session:
        entries = session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "stay.no-show")).all()
        assert len(entries) == len(set(entries)) == 60
        assert verify_chain(session).ok
