"""Signed events: the outbox written with the change, Standard Webhooks signatures, retries with backoff."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from service import webhooks
from service.checkin.kiosks import suspend_kiosk
from service.checkin.overrides import override_stay
from service.errors import BadRequest
from service.settings import Settings
from service.stays import forget
from service.stays.datasubject import erase_stay
from service.stays.reservations import stay_by_reference
from service.storage.tables import WebhookEndpoint, WebhookMessage
from tests.helpers.receiver import receiver
from tests.helpers.service import Actions, near, random_template


def _add(actions: Actions, url: str) -> webhooks.NewEndpoint:
    with actions.svc.db.transaction() as session:
        return webhooks.add_endpoint(session, actions.svc.keyring, url, actor="test")


def _deliver(actions: Actions, now: dt.datetime | None = None, **options: float) -> int:
    return webhooks.deliver_due(actions.svc.db, actions.svc.keyring, now=now, **options)  # type: ignore[arg-type]


def test_every_event_reaches_the_receiver_exactly_once_signed(actions: Actions) -> None:
    with receiver() as hooks:
        endpoint = _add(actions, hooks.url)
        assert endpoint.secret.startswith("whsec_")
        reference = random_template(4)
        code, first = actions.checkin(near(reference, 0.01), reference)
        assert first.json["decision"] == "accepted"
        kiosk = actions.kiosk()
        opened = actions.session(kiosk, code.reference, purpose="reverify")
        again = actions.verify(actions.envelope(kiosk, opened, code, near(reference, 0.01, seed=7), None))
        assert again.json["decision"] == "accepted"
        other = actions.reservation("Bo Guest")
        now = dt.datetime.now(dt.UTC)
        with actions.svc.db.transaction() as session:
            receipt = forget.checkout(
                session, actions.svc.keyring, stay_by_reference(session, code.reference), actor="pms:1", now=now
            )
            override_stay(session, stay_by_reference(session, other.reference), actor="staff:1", reason="ID at desk")
        with actions.svc.db.transaction() as session:
            erase_stay(session, stay_by_reference(session, other.reference), actor="staff:1", reason="guest asked")
            suspend_kiosk(session, str(kiosk.kiosk_id), actor="staff:1", reason="screen broken")

        assert _deliver(actions) == 6
        got = hooks.wait_for(6)
        assert _deliver(actions) == 0  # nothing twice
        assert len(hooks.requests) == 6

    verifier = Webhook(endpoint.secret)
    events = [verifier.verify(r.body, r.headers) for r in got]
    assert len({r.headers["webhook-id"] for r in got}) == 6
    by_type = {e["type"]: e["data"] for e in events}
    assert sorted(by_type) == sorted(webhooks.EVENTS)
    checked_in = [e["data"] for e in events if e["type"] == "stay.checked_in"]
    assert [(d["booking_reference"], d["reason"]) for d in checked_in] == [
        (code.reference, "match"),
        (other.reference, "staff-override"),
    ]
    assert checked_in[0]["kiosk"]["id"]
    assert checked_in[1]["kiosk"] is None
    assert by_type["stay.reverified"] == {
        "booking_reference": code.reference,
        "kiosk": {"id": str(kiosk.kiosk_id), "name": by_type["stay.reverified"]["kiosk"]["name"]},
    }
    assert by_type["stay.checked_out"]["receipt_id"] == receipt["claims"]["receipt_id"]
    assert by_type["stay.erased"] == {"booking_reference": other.reference}
    assert by_type["kiosk.suspended"]["kiosk"]["id"] == str(kiosk.kiosk_id)
    # Never a template, a score, a name or a secret.
    for r in got:
        text = r.body.decode()
        for word in ("score", "threshold", "template", "Ada", "Bo Guest", "secret", endpoint.secret):
            assert word not in text
    # A body changed in transit does not verify.
    with pytest.raises(Exception, match="signature"):
        verifier.verify(got[0].body.replace(b"checked_in", b"checked_out"), got[0].headers)


def test_a_second_check_in_with_the_id_while_checked_in_is_a_reverification(actions: Actions) -> None:
    """The guest chose "Check in" again for a new card: the PMS hears stay.reverified, not a second check-in."""
    with receiver() as hooks:
        endpoint = _add(actions, hooks.url)
        reference = random_template(4)
        code, first = actions.checkin(near(reference, 0.01), reference)
        kiosk = actions.kiosk()
        again = actions.verify(
            actions.envelope(kiosk, actions.session(kiosk, code.reference), code, near(reference, 0.01), reference)
        )
        assert (first.json["decision"], again.json["decision"], again.json["kind"]) == ("accepted",) * 2 + ("check-in",)
        assert _deliver(actions) == 2
        types = [Webhook(endpoint.secret).verify(r.body, r.headers)["type"] for r in hooks.wait_for(2)]
    assert types == ["stay.checked_in", "stay.reverified"]


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_try(actions: Actions) -> None:
    with receiver(statuses=[500, 503, 502]) as hooks:
        endpoint = _add(actions, hooks.url)
        code = actions.reservation()
        with actions.svc.db.transaction() as session:
            override_stay(session, stay_by_reference(session, code.reference), actor="staff:1", reason="ID at desk")
        start = dt.datetime.now(dt.UTC)
        base = 10.0
        tries = [start + dt.timedelta(seconds=s) for s in (0, base, 3 * base, 7 * base)]
        # Before each retry is due nothing is sent; then exactly one try each.
        for n, at in enumerate(tries, 1):
            if n > 1:  # not due yet: nothing is sent
                assert _deliver(actions, at - dt.timedelta(seconds=1), retry_base_s=base) == 0
                assert len(hooks.requests) == n - 1
            delivered = _deliver(actions, at, retry_base_s=base)
            assert len(hooks.wait_for(n)) == n
            assert delivered == (1 if n == 4 else 0)
        assert _deliver(actions, tries[-1] + dt.timedelta(hours=2), retry_base_s=base) == 0
        assert len(hooks.requests) == 4
    assert len({r.headers["webhook-id"] for r in hooks.requests}) == 1  # one message, tried four times
    for r in hooks.requests:
        assert Webhook(endpoint.secret).verify(r.body, r.headers)["type"] == "stay.checked_in"
    with actions.svc.db.transaction() as session:
        (message,) = session.scalars(select(WebhookMessage)).all()
        assert (message.attempts, message.last_status, message.delivered_at is not None) == (4, "204", True)
        (listed,) = webhooks.list_endpoints(session)
        assert (listed.last_status, listed.delivered, listed.pending, listed.failed) == ("204", 1, 0, 0)


def test_an_endpoint_that_never_answers_well_is_given_up_after_the_last_try(actions: Actions) -> None:
    with receiver(statuses=[500, 500]) as hooks:
        _add(actions, hooks.url)
        code = actions.reservation()
        with actions.svc.db.transaction() as session:
            override_stay(session, stay_by_reference(session, code.reference), actor="staff:1", reason="ID at desk")
        start = dt.datetime.now(dt.UTC)
        assert _deliver(actions, start, max_attempts=2, retry_base_s=1) == 0
        assert _deliver(actions, start + dt.timedelta(seconds=1), max_attempts=2, retry_base_s=1) == 0
        assert _deliver(actions, start + dt.timedelta(days=1), max_attempts=2, retry_base_s=1) == 0
        assert len(hooks.wait_for(2)) == 2
    with actions.svc.db.transaction() as session:
        (listed,) = webhooks.list_endpoints(session)
        assert (listed.last_status, listed.failed, listed.pending) == ("500", 1, 0)


def test_an_event_is_recorded_only_with_its_change(actions: Actions) -> None:
    """The outbox row is written in the change's transaction: a change that rolls back leaves no event."""
    with receiver() as hooks:
        _add(actions, hooks.url)
        code = actions.reservation()

        def failing_change() -> None:
            with actions.svc.db.transaction() as session:
                override_stay(session, stay_by_reference(session, code.reference), actor="staff:1", reason="ID")
                raise RuntimeError("the change fails after the event was written")

        with pytest.raises(RuntimeError):
            failing_change()
        with actions.svc.db.transaction() as session:
            assert session.scalar(select(func.count()).select_from(WebhookMessage)) == 0
            assert stay_by_reference(session, code.reference).status == "reserved"


def test_endpoints_are_checked_listed_and_removed(actions: Actions) -> None:
    with pytest.raises(BadRequest):
        _add(actions, "ftp://pms.example/hooks")
    endpoint = _add(actions, "http://127.0.0.1:9/hooks")
    code = actions.reservation()
    with actions.svc.db.transaction() as session:
        override_stay(session, stay_by_reference(session, code.reference), actor="staff:1", reason="ID at desk")
        stored = session.get(WebhookEndpoint, endpoint.id)
        assert stored is not None
        assert endpoint.secret not in stored.secret  # sealed
        assert json.loads(session.scalars(select(WebhookMessage.payload)).one())["type"] == "stay.checked_in"
        webhooks.remove_endpoint(session, endpoint.id, actor="test", now=dt.datetime.now(dt.UTC))
    with actions.svc.db.transaction() as session:
        assert webhooks.list_endpoints(session) == []
    assert _deliver(actions) == 0


def test_a_signing_secret_survives_the_staff_key_rotation(actions: Actions, settings: Settings) -> None:
    """Webhook secrets are sealed under the staff-secret key: a rotation reseals them, retiring waits for it."""
    from service.keyring import add_key, load_or_create, staff_secrets
    from service.keyring.rotation import RetireRefused, retire, rotate

    with receiver() as hooks:
        endpoint = _add(actions, hooks.url)
        old_key = actions.svc.keyring.current_staff_key_id
        add_key(settings.resolved_key_dir, "staff-secret")
        with actions.svc.db.transaction() as session, pytest.raises(RetireRefused):
            retire(settings.resolved_key_dir, old_key, session=session, actor="test")
        with actions.svc.db.transaction() as session:
            (added,) = rotate(settings.resolved_key_dir, "staff", session=session, actor="test")
            stored = session.get(WebhookEndpoint, endpoint.id)
            assert stored is not None
            assert staff_secrets.key_id_of(stored.secret) == added.key_id
        with actions.svc.db.transaction() as session:
            retire(settings.resolved_key_dir, old_key, session=session, actor="test")
        code = actions.reservation()
        with actions.svc.db.transaction() as session:
            override_stay(session, stay_by_reference(session, code.reference), actor="staff:1", reason="ID at desk")
        ring = load_or_create(settings.resolved_key_dir)
        assert webhooks.deliver_due(actions.svc.db, ring) == 1
        (got,) = hooks.wait_for(1)
    assert Webhook(endpoint.secret).verify(got.body, got.headers)["type"] == "stay.checked_in"
