"""The retention job: delete what checkout missed (``lethe purge``).

Three kinds of leftovers, with the property's grace periods (``retention``
section of the property settings):

* stays still checked in past their checkout time (noon on the departure day,
  property time) plus ``checkout_grace_h`` become ``expired``;
* reservations never checked in past the end of their arrival day plus
  ``no_show_grace_h`` become ``no_show``;
* check-in sessions left open ``abandoned_session_min`` past their expiry are
  deleted (they hold only a nonce).

For each such stay, its templates and data key are deleted (``service.forget``)
and an audit entry is written. Closed stays that still hold a template or key (should not happen) are
cleaned too. The job is idempotent; on PostgreSQL candidate rows are taken with
``FOR UPDATE SKIP LOCKED`` so several hosts can run it at once without waiting
on or double-processing each other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, Delete, Update, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from service import metrics
from service import property as hotel
from service.stays.forget import forget
from service.storage import audit
from service.storage.db import Database
from service.storage.tables import CheckinSession, RequestNonce, Stay, StayKey

CHECKOUT_HOUR = 12
DEFAULT_BATCH = 2000


@dataclass
class PurgeReport:
    expired_stays: int = 0
    no_shows: int = 0
    leftover_stays: int = 0
    templates: int = 0
    data_keys: int = 0
    sessions: int = 0
    nonces: int = 0
    #: seconds from each purged stay's due time (checkout or arrival end) to its deletion
    delays_s: list[float] = field(default_factory=list, repr=False)

    @property
    def stays(self) -> int:
        return self.expired_stays + self.no_shows + self.leftover_stays

    def add(self, other: PurgeReport) -> None:
        for name in ("expired_stays", "no_shows", "leftover_stays", "templates", "data_keys", "sessions", "nonces"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.delays_s.extend(other.delays_s)

    def as_json(self) -> dict[str, int]:
        return {
            "expired_stays": self.expired_stays,
            "no_shows": self.no_shows,
            "leftover_stays": self.leftover_stays,
            "templates": self.templates,
            "data_keys": self.data_keys,
            "sessions": self.sessions,
            "nonces": self.nonces,
        }


@dataclass(frozen=True)
class Cutoffs:
    """Stays with departure on or before ``departure`` are past checkout; arrival before ``arrival`` no-shows."""

    departure: dt.date
    arrival: dt.date
    sessions_before: dt.datetime
    tz: ZoneInfo

    def checkout_due(self, departure: dt.date) -> dt.datetime:
        return dt.datetime.combine(departure, dt.time(CHECKOUT_HOUR), self.tz)

    def no_show_due(self, arrival: dt.date) -> dt.datetime:
        return dt.datetime.combine(arrival + dt.timedelta(days=1), dt.time(0), self.tz)


def cutoffs(session: Session, now: dt.datetime) -> Cutoffs:
    policy = hotel.load(session, hotel.Retention)
    tz = ZoneInfo(hotel.load(session, hotel.General).timezone)
    checkout_edge = (now - dt.timedelta(hours=policy.checkout_grace_h)).astimezone(tz)
    departure = checkout_edge.date() if checkout_edge.hour >= CHECKOUT_HOUR else checkout_edge.date() - dt.timedelta(1)
    no_show_edge = (now - dt.timedelta(hours=policy.no_show_grace_h)).astimezone(tz)
    return Cutoffs(
        departure=departure,
        arrival=no_show_edge.date(),
        sessions_before=now - dt.timedelta(minutes=policy.abandoned_session_min),
        tz=tz,
    )


def _rows(session: Session, statement: Delete | Update) -> int:
    return int(cast(CursorResult[Any], session.execute(statement)).rowcount)


def purge(
    session: Session,
    *,
    actor: str = "retention",
    reason: str = "retention policy",
    now: dt.datetime | None = None,
    limit: int = DEFAULT_BATCH,
) -> PurgeReport:
    """Purge up to ``limit`` due stays (and all abandoned sessions) in the caller's transaction.

    Returns what was deleted; call again (or use :func:`purge_all`) until it reports no stays.
    """
    now = now or dt.datetime.now(dt.UTC)
    cut = cutoffs(session, now)
    report = PurgeReport()
    due = session.execute(
        select(Stay.id, Stay.status, Stay.arrival, Stay.departure)
        .where(
            or_(
                and_(Stay.status == "checked_in", Stay.departure <= cut.departure),
                and_(Stay.status == "reserved", Stay.arrival < cut.arrival),
            )
        )
        .order_by(Stay.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    expired = [row.id for row in due if row.status == "checked_in"]
    no_show = [row.id for row in due if row.status == "reserved"]
    for row in due:
        deadline = cut.checkout_due(row.departure) if row.status == "checked_in" else cut.no_show_due(row.arrival)
        report.delays_s.append(max(0.0, (now - deadline).total_seconds()))
    leftovers: list[str] = []
    if len(due) < limit:
        leftovers = list(
            session.scalars(
                select(Stay.id)
                .join(StayKey, StayKey.stay_id == Stay.id)
                .where(Stay.status.not_in(("reserved", "checked_in")))
                .order_by(Stay.id)
                .limit(limit - len(due))
                .with_for_update(of=Stay, skip_locked=True)
            )
        )
    forgotten = forget(session, expired + no_show + leftovers, sessions="open")
    report.templates, report.data_keys, report.sessions = forgotten.templates, forgotten.data_keys, forgotten.sessions
    for chunk in _chunks(expired, 500):
        report.expired_stays += _rows(
            session, update(Stay).where(Stay.id.in_(chunk)).values(status="expired", checked_out_at=now)
        )
    for chunk in _chunks(no_show, 500):
        report.no_shows += _rows(session, update(Stay).where(Stay.id.in_(chunk)).values(status="no_show"))
    report.leftover_stays = len(leftovers)
    report.sessions += _rows(
        session,
        delete(CheckinSession).where(CheckinSession.status == "open", CheckinSession.expires_at < cut.sessions_before),
    )
    report.nonces = _rows(session, delete(RequestNonce).where(RequestNonce.expires_at < now))
    pending = [
        audit.Entry(actor, action, stay_id, {"reason": reason})
        for action, group in (("stay.expire", expired), ("stay.no-show", no_show), ("stay.purge", leftovers))
        for stay_id in group
    ]
    audit.append(session, *pending, at=now)
    if report.sessions or report.nonces:
        audit.append(
            session,
            audit.Entry(
                actor=actor,
                action="retention.sessions",
                details={"reason": reason, "sessions_deleted": report.sessions, "nonces_deleted": report.nonces},
            ),
            at=now,
        )
    return report


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def purge_all(
    db: Database,
    *,
    actor: str = "retention",
    reason: str = "retention policy",
    now: dt.datetime | None = None,
    batch: int = DEFAULT_BATCH,
) -> PurgeReport:
    """Run :func:`purge` in one transaction per batch until nothing is due; then checkpoint SQLite's WAL."""
    total = PurgeReport()
    while True:
        with db.transaction() as session:
            report = purge(session, actor=actor, reason=reason, now=now, limit=batch)
        total.add(report)
        if report.stays < batch:
            break
    db.checkpoint()
    metrics.purged(total.as_json())
    metrics.deleted_after("purge", total.delays_s)
    return total
