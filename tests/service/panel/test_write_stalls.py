"""A refused panel action is refused at once, without holding or waiting for the write lock (issue 14 item 6)."""

from __future__ import annotations

import time

from flask.testing import FlaskClient

from service.storage.tables import StaffAccount
from service.web.context import Service
from tests.helpers.service import Staff, csrf_token

BOUND_S = 5.0  # far above the answer's own time (tens of ms), far below SQLite's 10 s busy timeout


def test_an_admin_disabling_their_own_account_is_refused_at_once(
    client: FlaskClient, staff: Staff, svc: Service
) -> None:
    """Regression: the refusal page was rendered inside the write transaction and opened a second one, which
    waited out SQLite's busy timeout twice: 20 s, then 503 instead of the documented 409."""
    me = staff.sign_in_as("admin")
    token = csrf_token(client.get("/panel/staff").get_data(as_text=True))
    with svc.db.transaction() as session:
        my_id = session.query(StaffAccount).filter_by(username=me.username).one().id
    started = time.monotonic()
    answer = client.post(f"/panel/staff/{my_id}/disable", data={"csrf_token": token})
    elapsed = time.monotonic() - started
    assert answer.status_code == 409, answer.status_code
    assert "You cannot disable your own account." in answer.get_data(as_text=True)
    assert elapsed < BOUND_S, elapsed
    with svc.db.transaction() as session:
        assert session.get(StaffAccount, my_id).disabled_at is None
