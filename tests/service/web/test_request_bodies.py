"""Request bodies the service refuses whole: over the size limit however framed, and JSON nested too deeply."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from protocol import sign_request
from service.storage.tables import Stay
from tests.helpers.service import Actions, assert_problem

LIMIT = 65536  # the default LETHE_MAX_BODY_BYTES


def csv_rows(count: int) -> bytes:
    day = dt.date.today().isoformat()
    lines = ["guest_name,arrival,departure"] + [f"Guest number {i:05d},{day},{day}" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


def stays(actions: Actions) -> int:
    with actions.svc.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Stay)) or 0


def post_unframed(actions: Actions, path: str, body: bytes, content_type: str, **headers: str) -> object:
    """POST ``body`` with no Content-Length, as gunicorn hands on a chunked one (``wsgi.input_terminated``)."""
    return actions.client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type=content_type,
        headers={"Transfer-Encoding": "chunked", **headers},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_the_limit_is_refused_whole(actions: Actions) -> None:
    """Regression: werkzeug stopped reading a body without Content-Length at the limit and handed on the first
    64 KiB: a 3,000-row import was answered 201 with 1,559 reservations and the rest dropped."""
    body = csv_rows(3000)
    assert len(body) > LIMIT
    answer = post_unframed(actions, "/pms/v1/reservations/import", body, "text/csv", **actions.pms)
    assert_problem(answer, 413, "payload-too-large")
    assert stays(actions) == 0


@pytest.mark.parametrize("extra", [0, 1])
def test_an_unframed_body_at_the_limit_is_read_and_one_byte_more_is_not(actions: Actions, extra: int) -> None:
    header = b"guest_name,arrival,departure\n"
    body = header + b"x" * (LIMIT - len(header) - 1 + extra) + b"\n"
    answer = post_unframed(actions, "/pms/v1/reservations/import", body, "text/csv", **actions.pms)
    if extra:
        assert_problem(answer, 413, "payload-too-large")
    else:  # read whole: the one over-long row is named, nothing is created
        assert_problem(answer, 400, "bad-request")
    assert stays(actions) == 0


def test_a_chunked_body_within_the_limit_is_read_whole(actions: Actions) -> None:
    answer = post_unframed(actions, "/pms/v1/reservations/import", csv_rows(500), "text/csv", **actions.pms)
    assert answer.status_code == 201, answer.json
    assert stays(actions) == 500


def deep(levels: int) -> bytes:
    return b'{"code": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize("levels", [1000, 20_000])
def test_deeply_nested_json_is_a_bad_request_without_authentication(actions: Actions, levels: int) -> None:
    """Regression: 1,000 levels (a 2 KB body) raised RecursionError, answered 500, on kiosk registration."""
    answer = actions.client.post("/api/v1/kiosks", data=deep(levels), content_type="application/json")
    assert_problem(answer, 400, "bad-request")


def test_deeply_nested_json_is_a_bad_request_everywhere(actions: Actions) -> None:
    created = actions.client.post(
        "/pms/v1/reservations", data=deep(1000), content_type="application/json", headers=actions.pms
    )
    assert_problem(created, 400, "bad-request")
    kiosk = actions.kiosk()
    body = deep(1000)
    headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", "/api/v1/sessions", body)
    opened = actions.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")
    assert_problem(opened, 400, "bad-request")
    assert stays(actions) == 0
