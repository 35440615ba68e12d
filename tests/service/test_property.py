"""Property settings: defaults without configuration, validated changes, audited."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from service import property as prop
from service.storage.tables import AuditEntry
from tests.helpers.service import Actions


def test_defaults_then_saved_values(actions: Actions) -> None:
    with actions.svc.db.transaction() as session:
        assert prop.load(session, prop.Retention).checkout_grace_h == 24
        prop.save(session, prop.General(name="Harbour Hotel", timezone="Asia/Shanghai"), actor="staff:1")
    with actions.svc.db.transaction() as session:
        assert prop.load(session, prop.General).name == "Harbour Hotel"
        noon = dt.datetime(2026, 11, 23, 4, 0, tzinfo=dt.UTC)
        assert prop.local_time(session, noon).hour == 12
        assert (
            session.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc())).first()
            == "property.settings.update"
        )


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        prop.General(timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        prop.Liveness(challenge_mix={"none": 0, "blink": 0})
    with pytest.raises(ValidationError):
        prop.Retention(checkout_grace_h=-1)
    with pytest.raises(ValidationError, match=r"one of 0\.001, 0\.0001"):
        prop.Matching(target_fmr=0.01)


def test_the_operating_point_defaults_to_fmr_1e_3_and_reads_back_exactly() -> None:
    assert prop.Matching().target_fmr == 0.001
    stored = prop.Matching(target_fmr=0.0001).model_dump_json()
    assert prop.from_document(prop.Matching, stored).target_fmr == 1e-4
