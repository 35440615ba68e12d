"""A checkout while another connection holds a read snapshot does not wait on it (issue 14 item 6)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.helpers.service import Actions

BOUND_S = 5.0  # SQLite's busy timeout is 10 s; the checkout itself takes tens of ms


@pytest.mark.parametrize("migrated_url", ["sqlite"], indirect=True)
def test_a_checkout_beside_an_open_reader_answers_at_once(actions: Actions, migrated_url: str) -> None:
    """Regression: the WAL checkpoint after a checkout waited SQLite's whole busy timeout (10 s) for a reader
    in another process to finish, holding up every writer meanwhile."""
    code = actions.reservation()
    reader = sqlite3.connect(migrated_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM stays").fetchone()  # a read snapshot, held open
        started = time.monotonic()
        answer = actions.client.post(f"/pms/v1/reservations/{code.reference}/checkout", headers=actions.pms)
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.json
        assert elapsed < BOUND_S, elapsed
        started = time.monotonic()
        actions.reservation("Bo Guest")  # a writer right after is not held up either
        assert time.monotonic() - started < BOUND_S
    finally:
        reader.execute("COMMIT")
        reader.close()
