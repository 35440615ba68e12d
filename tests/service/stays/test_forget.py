"""Forgetting a stay: the one function every deletion path calls, and what it reports."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from service.stays.forget import CHUNK, Forgotten, forget
from service.stays.reservations import create_reservation, stay_by_reference
from service.storage.tables import CheckinAttempt, CheckinSession, StayKey, StoredTemplate
from tests.helpers.service import Actions, near, random_template


def _counts(actions: Actions, stay_id: str) -> tuple[int, ...]:
    with actions.svc.db.transaction() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(model).where(model.stay_id == stay_id)) or 0)
            for model in (StoredTemplate, StayKey, CheckinSession, CheckinAttempt)
        )


def _checked_in_with_an_open_session(actions: Actions, seed: int) -> str:
    reference = random_template(seed)
    code, answer = actions.checkin(near(reference, 0.01), reference)
    assert answer.json["decision"] == "accepted"
    actions.session(actions.kiosk(), code.reference)  # a second session, left open
    with actions.svc.db.transaction() as session:
        return stay_by_reference(session, code.reference).id


def test_forget_deletes_what_it_is_asked_to_and_only_for_those_stays(actions: Actions) -> None:
    kept = _checked_in_with_an_open_session(actions, 61)
    first = _checked_in_with_an_open_session(actions, 62)
    second = _checked_in_with_an_open_session(actions, 63)
    assert _counts(actions, first) == (1, 1, 2, 1)
    with actions.svc.db.transaction() as session:
        assert forget(session, [first]) == Forgotten(templates=1, data_keys=1)
    assert _counts(actions, first) == (0, 0, 2, 1)  # checkout: sessions and attempts stay
    with actions.svc.db.transaction() as session:
        forgotten = forget(session, [second], sessions="open")
    assert forgotten == Forgotten(templates=1, data_keys=1, sessions=1)
    assert _counts(actions, second) == (0, 0, 1, 1)  # the used session stays
    with actions.svc.db.transaction() as session:
        assert forget(session, [first, second], sessions="all", attempts=True) == Forgotten(sessions=3, attempts=2)
    assert _counts(actions, kept) == (1, 1, 2, 1)


def test_forget_takes_more_stays_than_one_statement_holds(actions: Actions) -> None:
    today = dt.date.today()
    with actions.svc.db.transaction() as session:
        ids = [
            create_reservation(
                session, actions.svc.keyring, guest_name="G", arrival=today, departure=today, actor="test"
            ).stay.id
            for _ in range(CHUNK + 3)
        ]
    with actions.svc.db.transaction() as session:
        assert forget(session, ids) == Forgotten(data_keys=CHUNK + 3)
