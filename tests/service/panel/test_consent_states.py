"""The consent record on Today and the Stay page, and stays deleted today (erased or purged) on Today."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import select

from service import property as prop
from service.stays.datasubject import erase_stay
from service.stays.retention import purge
from service.storage.tables import CheckinSession, Stay
from service.web.context import Service
from tests.helpers.service import Actions, Staff, csrf_token, near, random_template


def board_rows(client: FlaskClient) -> dict[str, str]:
    board = client.get("/panel/today/board").get_data(as_text=True)
    return dict(re.findall(r'<tr data-stay="([A-Z0-9]+)">(.*?)</tr>', board, re.S))


def deleted_rows(client: FlaskClient) -> dict[str, str]:
    board = client.get("/panel/today/board").get_data(as_text=True)
    return dict(re.findall(r'<tr data-deleted="([0-9a-f-]+)">(.*?)</tr>', board, re.S))


def stay_id(svc: Service, reference: str) -> str:
    with svc.db.transaction() as session:
        return session.scalars(select(Stay.id).where(Stay.reference == reference)).one()


def test_refusal_shows_as_consent_refused_and_the_stay_page_lists_each_answer(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    staff.sign_in_as("front_desk")
    code = actions.reservation("Shy Guest")
    kiosk = actions.kiosk()
    refused = actions.session(kiosk, code.reference, consent=False)
    assert actions.consent(kiosk, refused.session_id, "refused", 1).status_code == 200
    row = board_rows(client)[code.reference]
    assert "state-consent-refused" in row
    assert "consent refused" in row
    # The guest tries again and accepts: the state follows the new attempt.
    template = random_template(41)
    again = actions.session(kiosk, code.reference)
    verified = actions.verify(actions.envelope(kiosk, again, code, near(template, 0.01), template))
    assert verified.json["decision"] == "accepted"
    assert "state-accepted" in board_rows(client)[code.reference]
    with svc.db.transaction() as session:
        prop.save(session, prop.General(name="Hotel", timezone="Asia/Shanghai"), actor="test")
        answers = session.scalars(
            select(CheckinSession)
            .where(CheckinSession.id.in_([str(refused.session_id), str(again.session_id)]))
            .order_by(CheckinSession.consent_at)
        ).all()
        times = [a.consent_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M") for a in answers]
    page = client.get(f"/panel/stays/{stay_id(svc, code.reference)}").get_data(as_text=True)
    record = re.search(r'<table id="consent-record">(.*?)</table>', page, re.S).group(1)
    cells = [
        re.findall(r"<td>(.*?)</td>", r, re.S) for r in re.findall(r'<tr class="consent[^"]*">(.*?)</tr>', record, re.S)
    ]
    assert [[c.strip() for c in r] for r in cells] == [
        [times[0], "Test kiosk", "1", "refused"],
        [times[1], "Test kiosk", "1", "accepted"],
    ]


def test_stay_without_answers_says_so(client: FlaskClient, staff: Staff, actions: Actions, svc: Service) -> None:
    staff.sign_in_as("front_desk")
    code = actions.reservation("New Guest")
    page = client.get(f"/panel/stays/{stay_id(svc, code.reference)}").get_data(as_text=True)
    assert "has not answered the consent notice" in page
    assert 'id="consent-record"' not in page


def test_erased_and_purged_stays_show_as_deleted_today(
    client: FlaskClient, staff: Staff, actions: Actions, svc: Service
) -> None:
    staff.sign_in_as("front_desk")
    erased = actions.reservation("Erased Person")
    no_show = actions.reservation("Late Person")
    erased_id, no_show_id = stay_id(svc, erased.reference), stay_id(svc, no_show.reference)
    assert "No stay deleted today." in client.get("/panel/today/board").get_data(as_text=True)
    with svc.db.transaction() as session:
        erase_stay(session, session.get_one(Stay, erased_id), actor="staff:manager", reason="Guest request #7")
        late = session.get_one(Stay, no_show_id)
        late.arrival = dt.date.today() - dt.timedelta(days=3)
        late.departure = dt.date.today() - dt.timedelta(days=1)
    with svc.db.transaction() as session:
        report = purge(session, now=svc.now())
    assert report.no_shows == 1
    html = client.get("/panel/today/board").get_data(as_text=True)
    rows = deleted_rows(client)
    assert set(rows) == {erased_id, no_show_id}
    # The erased stay is gone: no name or booking reference, only the start of its random id.
    assert "Erased Person" not in html
    assert erased.reference not in html
    assert erased_id[:8] in rows[erased_id]
    assert "state-deleted" in rows[erased_id]
    assert "erased" in rows[erased_id]
    assert "staff:manager" in rows[erased_id]
    assert "Guest request" not in html  # the written reason stays in the audit log
    # A purged stay still has its reservation row: the board links to it.
    assert "Late Person" in rows[no_show_id]
    assert "purged as a no-show" in rows[no_show_id]
    assert erased.reference not in board_rows(client)
    # In Chinese too.
    token = csrf_token(client.get("/panel/today").get_data(as_text=True))
    client.post("/panel/language", data={"language": "zh-Hans", "csrf_token": token})
    chinese = client.get("/panel/today/board").get_data(as_text=True)
    assert "今日删除" in chinese
    assert "已抹除" in chinese
