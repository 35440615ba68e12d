"""The property's liveness policy: the challenge per session, and evidence checked before the match."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from sqlalchemy import select

from protocol import LivenessEvidence
from service import property as prop
from service.storage.tables import CheckinAttempt, CheckinSession
from tests.helpers.service import Actions, near, random_template

ID = random_template(1)


def set_policy(actions: Actions, **fields: object) -> None:
    with actions.svc.db.transaction() as session:
        prop.save(session, prop.Liveness(**fields), actor="test")  # type: ignore[arg-type]


def attempt(actions: Actions, liveness=None, *, tamper=None):
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    evidence = opened.passing_liveness() if liveness is None else liveness(opened)
    if tamper is not None:
        evidence = dataclasses.replace(evidence, **tamper)
    return opened, actions.verify(actions.envelope(kiosk, opened, code, near(ID, 0.01), ID, liveness=evidence))


def reasons(actions: Actions) -> list[str]:
    with actions.svc.db.transaction() as session:
        return list(session.scalars(select(CheckinAttempt.reason)))


def test_session_answer_names_a_challenge_from_the_default_mix(actions: Actions) -> None:
    kiosk = actions.kiosk()
    codes = [actions.reservation() for _ in range(4)]  # 10 sessions each: under the per-stay rate limit
    seen = Counter(actions.session(kiosk, code.reference).challenge for code in codes for _ in range(10))
    assert set(seen) <= {"blink", "turn-left", "turn-right"}  # the default mix gives "none" no weight
    assert len(seen) >= 2
    with actions.svc.db.transaction() as session:
        stored = Counter(session.scalars(select(CheckinSession.challenge)))
    assert stored == seen


def test_passive_only_policy_gives_no_challenge(actions: Actions) -> None:
    set_policy(actions, require_challenge=False)
    code = actions.reservation()
    assert actions.session(actions.kiosk(), code.reference).challenge == "none"


def test_live_guest_who_did_the_challenge_is_accepted(actions: Actions) -> None:
    opened, answer = attempt(actions)
    assert opened.challenge != "none"
    assert answer.status_code == 200, answer.json
    assert answer.json["decision"] == "accepted"


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ({"passive_score": 0.2}, "low passive score"),
        ({"challenge_passed": False}, "challenge not passed"),
        ({"challenge": "none"}, "evidence for another challenge"),
        ({"nonce": bytes(32)}, "evidence for another session"),
        ({"passive_score": None, "passive_model": None}, "no passive score"),
    ],
)
def test_failed_liveness_is_a_recorded_rejection_before_the_match(actions: Actions, tamper, why) -> None:
    _, answer = attempt(actions, tamper=tamper)
    assert answer.status_code == 200, why
    assert answer.json["decision"] == "rejected"
    assert answer.json["reason"] == "liveness-failed"
    assert answer.json["score"] is None  # the faces were never compared
    assert reasons(actions) == ["liveness-failed"]


def test_payload_without_liveness_evidence_fails_the_default_policy(actions: Actions) -> None:
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    answer = actions.verify(actions.envelope(kiosk, opened, code, near(ID, 0.01), ID, liveness=None))
    assert answer.json["reason"] == "liveness-failed"


def test_policy_without_liveness_accepts_a_version_1_payload(actions: Actions) -> None:
    set_policy(actions, require_challenge=False, require_passive=False)
    code = actions.reservation()
    kiosk = actions.kiosk()
    opened = actions.session(kiosk, code.reference)
    answer = actions.verify(actions.envelope(kiosk, opened, code, near(ID, 0.01), ID, liveness=None))
    assert answer.json["decision"] == "accepted"


def test_minimum_passive_score_is_the_propertys(actions: Actions) -> None:
    set_policy(actions, require_challenge=False, passive_min_score=0.99)
    _, answer = attempt(actions)  # the helper's evidence scores 0.95
    assert answer.json["reason"] == "liveness-failed"
    set_policy(actions, require_challenge=False, passive_min_score=0.9)
    _, answer = attempt(actions, lambda o: LivenessEvidence(0.95, "minifasnet-v2+v1se", 3, "none", False, o.nonce))
    assert answer.json["decision"] == "accepted"
