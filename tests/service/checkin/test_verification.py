"""The verify endpoint: decisions, and a documented problem for every kind of bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select

from models import load_manifest
from protocol import Suite, Template, encode_template
from service import property as prop
from service.storage.tables import AuditEntry, CheckinAttempt, CheckinSession, StoredTemplate
from tests.helpers.service import Actions, assert_problem, near, random_template


@pytest.mark.parametrize("suite", [Suite.MLKEM768_X25519, Suite.X25519])
def test_same_face_is_accepted_with_score_and_threshold(actions: Actions, suite: Suite) -> None:
    reference = random_template(1)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    answer = actions.verify(actions.envelope(kiosk, opened, code, near(reference, 0.01), reference, suite=suite))
    assert answer.status_code == 200, answer.json
    assert answer.json["decision"] == "accepted"
    assert answer.json["reason"] == "match"
    # The service's threshold is the manifest's, for the template's model.
    assert answer.json["score"] >= answer.json["threshold"] == load_manifest().threshold("dlib-resnet-v1")
    assert answer.json["model"] == "dlib-resnet-v1"


def test_the_propertys_operating_point_chooses_the_threshold(actions: Actions) -> None:
    manifest = load_manifest()
    loose, strict = manifest.threshold("dlib-resnet-v1", 1e-3), manifest.threshold("dlib-resnet-v1", 1e-4)
    assert loose < strict
    reference = random_template(5)
    other = random_template(6).vector - (random_template(6).vector @ reference.vector) * reference.vector
    cosine = (loose + strict) / 2  # a score between the two operating points' thresholds
    live = Template.from_embedding(
        "dlib-resnet-v1", cosine * reference.vector + np.sqrt(1 - cosine**2) * other / np.linalg.norm(other)
    )
    _, by_default = actions.checkin(live, reference)
    assert (by_default.json["decision"], by_default.json["threshold"]) == ("accepted", loose)
    assert by_default.json["score"] == pytest.approx(cosine, abs=1e-5)
    with actions.svc.db.transaction() as session:
        prop.save(session, prop.Matching(target_fmr=1e-4), actor="staff:1")
    _, strictly = actions.checkin(live, reference)
    assert (strictly.json["decision"], strictly.json["reason"]) == ("rejected", "no-match")
    assert strictly.json["threshold"] == strict


def test_other_face_is_rejected_and_nothing_is_stored(actions: Actions) -> None:
    _, answer = actions.checkin(random_template(1), random_template(2))
    assert answer.status_code == 200
    assert answer.json["decision"] == "rejected"
    assert answer.json["reason"] == "no-match"
    assert answer.json["score"] < answer.json["threshold"]
    with actions.svc.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(StoredTemplate)) == 0
        assert session.scalar(select(func.count()).select_from(CheckinAttempt)) == 1


def test_template_never_appears_in_clear_in_the_request(actions: Actions) -> None:
    reference = random_template(3)
    code = actions.reservation()
    kiosk = actions.kiosk()
    body = actions.envelope(kiosk, actions.session(kiosk, code.reference), code, reference, reference)
    assert encode_template(reference) not in body
    assert reference.vector.tobytes()[:32] not in body
    assert code.stay_secret not in body


def test_reverification_uses_the_stored_template(actions: Actions) -> None:
    reference = random_template(4)
    code, first = actions.checkin(near(reference, 0.01), reference)
    assert first.json["decision"] == "accepted"
    kiosk = actions.kiosk()
    again = actions.verify(
        actions.envelope(kiosk, actions.session(kiosk, code.reference), code, near(reference, 0.01, seed=7), None)
    )
    assert again.json["decision"] == "accepted"
    impostor = actions.verify(
        actions.envelope(kiosk, actions.session(kiosk, code.reference), code, random_template(5), None)
    )
    assert impostor.json["decision"] == "rejected"


def test_reverification_of_a_stay_not_checked_in_is_refused_before_any_capture(actions: Actions) -> None:
    """A re-verification session for a stay not checked in is refused at once; so is an envelope without an ID."""
    code = actions.reservation()
    kiosk = actions.kiosk()
    assert_problem(actions.open_session(kiosk, code.reference, "reverify"), 409, "stay-not-checked-in")
    answer = actions.verify(
        actions.envelope(kiosk, actions.session(kiosk, code.reference), code, random_template(1), None)
    )
    assert_problem(answer, 409, "stay-not-checked-in")
    with actions.svc.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CheckinAttempt)) == 0


def test_reverification_without_a_stored_template_is_a_problem(actions: Actions) -> None:
    """Checked in by staff (no face template stored): nothing to compare with."""
    from service.checkin.overrides import override_stay
    from service.stays.reservations import stay_by_reference

    code = actions.reservation()
    with actions.svc.db.transaction() as session:
        override_stay(session, stay_by_reference(session, code.reference), actor="staff:1", reason="ID seen at desk")
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, purpose="reverify")
    answer = actions.verify(actions.envelope(kiosk, opened, code, random_template(1), None))
    assert_problem(answer, 409, "missing-id-template")


def test_reverification_is_recorded_and_audited_as_such(actions: Actions) -> None:
    reference = random_template(4)
    code, first = actions.checkin(near(reference, 0.01), reference)
    assert (first.json["decision"], first.json["kind"]) == ("accepted", "check-in")
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, purpose="reverify")
    again = actions.verify(actions.envelope(kiosk, opened, code, near(reference, 0.01, seed=7), None))
    assert (again.json["decision"], again.json["kind"]) == ("accepted", "reverify")
    # A re-verification session takes no ID template.
    opened = actions.session(kiosk, code.reference, purpose="reverify")
    assert_problem(actions.verify(actions.envelope(kiosk, opened, code, reference, reference)), 400, "bad-request")
    with actions.svc.db.transaction() as session:
        kinds = session.scalars(select(CheckinAttempt.kind).order_by(CheckinAttempt.id)).all()
        actions_ = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("checkin.%")).order_by(AuditEntry.id)
        ).all()
        purposes = session.scalars(select(CheckinSession.purpose).order_by(CheckinSession.created_at)).all()
    assert kinds == ["check-in", "reverify"]
    assert actions_.count("checkin.verify") == 1
    assert actions_.count("checkin.reverify") == 1
    assert sorted(purposes) == ["check-in", "reverify", "reverify"]


def test_reverification_failures_count_towards_the_lockout(actions: Actions) -> None:
    reference = random_template(4)
    code, first = actions.checkin(near(reference, 0.01), reference)
    assert first.json["decision"] == "accepted"
    kiosk = actions.kiosk()
    from service.checkin.lockout import MAX_FAILURES

    for seed in range(MAX_FAILURES):
        opened = actions.session(kiosk, code.reference, purpose="reverify")
        impostor = actions.verify(actions.envelope(kiosk, opened, code, random_template(100 + seed), None))
        assert (impostor.json["decision"], impostor.json["kind"]) == ("rejected", "reverify")
    assert_problem(actions.open_session(kiosk, code.reference, "reverify"), 423, "stay-locked")


def test_reverification_after_checkout_is_refused(actions: Actions) -> None:
    reference = random_template(4)
    code, first = actions.checkin(near(reference, 0.01), reference)
    assert first.json["decision"] == "accepted"
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference, purpose="reverify")
    from service.stays import forget
    from service.stays.reservations import stay_by_reference

    with actions.svc.db.transaction() as session:
        forget.checkout(
            session,
            actions.svc.keyring,
            stay_by_reference(session, code.reference),
            actor="staff:1",
            now=dt.datetime.now(dt.UTC),
        )
    assert_problem(actions.verify(actions.envelope(kiosk, opened, code, reference, None)), 409, "stay-not-active")
    assert_problem(actions.open_session(kiosk, code.reference, "reverify"), 409, "stay-not-active")


def test_replayed_envelope_is_refused(actions: Actions) -> None:
    reference = random_template(1)
    code = actions.reservation()
    kiosk = actions.kiosk()
    body = actions.envelope(kiosk, actions.session(kiosk, code.reference), code, reference, reference)
    assert actions.verify(body).status_code == 200
    assert_problem(actions.verify(body), 409, "replayed-envelope")


def test_malformed_envelope(actions: Actions) -> None:
    assert_problem(actions.verify(b"not an envelope at all"), 400, "invalid-envelope")
    assert_problem(actions.verify(b""), 400, "invalid-envelope")


@pytest.mark.parametrize("position", [0, 4, 5, 20, 60, 100, 500, -100, -1])
def test_tampered_envelope_is_refused_without_saying_why(actions: Actions, position: int) -> None:
    reference = random_template(1)
    code = actions.reservation()
    kiosk = actions.kiosk()
    body = bytearray(actions.envelope(kiosk, actions.session(kiosk, code.reference), code, reference, reference))
    body[position] ^= 0x01
    answer = actions.verify(bytes(body))
    # A flipped kiosk-id byte names another (unknown) kiosk; every other flip is the one opaque answer.
    expected = ("unknown-kiosk", 401) if 14 <= position % len(body) < 30 else ("invalid-envelope", 400)
    assert_problem(answer, expected[1], expected[0])
    assert "detail" not in answer.json


def test_unknown_kiosk(actions: Actions) -> None:
    from protocol import SigningKey
    from tests.helpers.service import Kiosk

    stranger = Kiosk(__import__("uuid").uuid4(), SigningKey.generate())
    assert_problem(actions.open_session(stranger, "ABCDEFGH"), 401, "unknown-kiosk")


def test_envelope_signed_by_another_kiosk_key(actions: Actions) -> None:
    from protocol import SigningKey
    from tests.helpers.service import Kiosk

    reference = random_template(1)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    forged = Kiosk(kiosk.kiosk_id, SigningKey.generate())
    assert_problem(
        actions.verify(actions.envelope(forged, opened, code, reference, reference)), 400, "invalid-envelope"
    )


def test_unknown_booking_reference(actions: Actions) -> None:
    kiosk = actions.kiosk()
    assert_problem(actions.open_session(kiosk, "ZZZZZZZZ"), 404, "unknown-booking")


def test_wrong_stay_secret_is_refused_and_recorded(actions: Actions) -> None:
    reference = random_template(1)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    answer = actions.verify(actions.envelope(kiosk, opened, code, reference, reference, secret=b"\x00" * 16))
    assert_problem(answer, 403, "booking-secret-mismatch")
    with actions.svc.db.transaction() as session:
        attempt = session.scalars(select(CheckinAttempt)).one()
        assert (attempt.decision, attempt.reason) == ("rejected", "booking-secret-mismatch")


def test_stale_envelope(actions: Actions) -> None:
    reference = random_template(1)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).timestamp()
    assert_problem(
        actions.verify(actions.envelope(kiosk, opened, code, reference, reference, now=old)), 401, "stale-request"
    )


def test_expired_session(actions: Actions) -> None:
    from service.storage.tables import CheckinSession

    reference = random_template(1)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    with actions.svc.db.transaction() as session:
        session.get_one(CheckinSession, str(opened.session_id)).expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=1
        )
    answer = actions.verify(actions.envelope(kiosk, opened, code, reference, reference))
    assert_problem(answer, 410, "session-expired")
    assert answer.json["retryable"] is True


def test_templates_of_different_models_never_meet(actions: Actions) -> None:
    _, answer = actions.checkin(random_template(1, model="mobilefacenet-112"), random_template(1))
    assert_problem(answer, 400, "model-mismatch")


def test_unknown_model(actions: Actions) -> None:
    _, answer = actions.checkin(random_template(1, model="no-such-model"), random_template(1, model="no-such-model"))
    assert_problem(answer, 400, "unknown-model")


def test_replayed_session_request(actions: Actions) -> None:
    from protocol import sign_request

    code = actions.reservation()
    kiosk = actions.kiosk()
    body = f'{{"booking_reference": "{code.reference}"}}'.encode()
    headers = sign_request(kiosk.key, kiosk.kiosk_id, "POST", "/api/v1/sessions", body)
    first = actions.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")
    assert first.status_code == 201
    again = actions.client.post("/api/v1/sessions", data=body, headers=headers, content_type="application/json")
    assert_problem(again, 409, "replayed-request")


def test_unsigned_session_request(actions: Actions) -> None:
    answer = actions.client.post("/api/v1/sessions", json={"booking_reference": "ABCDEFGH"})
    assert_problem(answer, 401, "invalid-request-signature")


def test_oversized_body(actions: Actions) -> None:
    assert_problem(actions.verify(b"\x00" * (actions.svc.settings.max_body_bytes + 1)), 413, "payload-too-large")


def test_wrong_content_type(actions: Actions) -> None:
    answer = actions.client.post("/api/v1/verify", data=b"x", content_type="application/json")
    assert_problem(answer, 415, "unsupported-media-type")


def test_unknown_route_and_method(actions: Actions) -> None:
    assert_problem(actions.client.get("/api/v1/nothing-here"), 404, "not-found")
    assert_problem(actions.client.get("/api/v1/verify"), 405, "method-not-allowed")


def test_enrolment_code_works_once(actions: Actions) -> None:
    import base64

    from protocol import SigningKey

    code = actions.enrolment_code()
    body = {"code": code, "public_key": base64.b64encode(SigningKey.generate().public_key().raw).decode()}
    assert actions.client.post("/api/v1/kiosks", json=body).status_code == 201
    assert_problem(actions.client.post("/api/v1/kiosks", json=body), 403, "invalid-enrolment-code")


def test_revoked_kiosk_is_refused(actions: Actions) -> None:
    from service.checkin.kiosks import revoke_kiosk

    code = actions.reservation()
    kiosk = actions.kiosk()
    with actions.svc.db.transaction() as session:
        revoke_kiosk(session, str(kiosk.kiosk_id), actor="test", reason="stolen")
    assert_problem(actions.open_session(kiosk, code.reference), 403, "kiosk-revoked")


def test_another_kiosks_session_is_unknown_and_stays_usable_by_its_own(actions: Actions) -> None:
    reference = random_template(11)
    code = actions.reservation()
    owner, other = actions.kiosk(), actions.kiosk()
    opened = actions.session(owner, code.reference)
    stolen = actions.verify(actions.envelope(other, opened, code, near(reference, 0.01), reference))
    assert_problem(stolen, 404, "unknown-session")
    answer = actions.verify(actions.envelope(owner, opened, code, near(reference, 0.01), reference))
    assert answer.status_code == 200, answer.json
    assert answer.json["decision"] == "accepted"
    again = actions.verify(actions.envelope(owner, opened, code, near(reference, 0.01), reference))
    assert_problem(again, 409, "replayed-envelope")
